"""`build_encoder`: a sentence encoder from a preset, a local folder or a small config."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

import keras_hub

from keras_mpcl.models import presets
from keras_mpcl.models.sentence_encoder import ENCODER_CLASSES
from keras_mpcl.models.sentence_encoder import POOLING_MODES
from keras_mpcl.models.sentence_encoder import BertSentenceEncoder
from keras_mpcl.models.sentence_encoder import XLMRobertaSentenceEncoder
from keras_mpcl.models.sentence_encoder import _SentenceEncoderHead
from keras_mpcl.models.vocabulary import train_sentencepiece_tokenizer
from keras_mpcl.models.vocabulary import train_wordpiece_tokenizer
from keras_mpcl.validation import check_choice
from keras_mpcl.validation import check_int

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    import keras

    from keras_mpcl.typing import PathLike

ARCHITECTURES = ("bert", "xlm_roberta")
# Maximum length of a new, randomly initialised encoder when none is given.
NEW_ENCODER_MAX_LENGTH = 64


@dataclasses.dataclass
class EncoderConfig:
    """Shape of a randomly initialised encoder and of its trained vocabulary.

    `"bert"` gets a WordPiece vocabulary (`HFBertTokenizer`), `"xlm_roberta"`
    a SentencePiece one (`keras_hub.models.XLMRobertaTokenizer`), both trained
    on the texts passed to `build_encoder`.

    Args:
        architecture: str. `"bert"` or `"xlm_roberta"`. Defaults to `"bert"`.
        vocabulary_size: int. Vocabulary size to train. Defaults to `8000`.
        num_layers: int. Transformer layers. Defaults to `4`.
        num_heads: int. Attention heads. Defaults to `4`.
        hidden_dim: int. Hidden size. Defaults to `256`.
        intermediate_dim: int. Feed-forward size. Defaults to `1024`.
        dropout: float. Dropout rate. Defaults to `0.1`.
        lowercase: bool. Lowercase (and, for WordPiece, strip accents).
            Defaults to `False`.

    Examples:

    >>> EncoderConfig.from_dict({"hidden_dim": 32, "num_layers": 1}).hidden_dim
    32
    """

    architecture: str = "bert"
    vocabulary_size: int = 8000
    num_layers: int = 4
    num_heads: int = 4
    hidden_dim: int = 256
    intermediate_dim: int = 1024
    dropout: float = 0.1
    lowercase: bool = False

    def __post_init__(self):
        check_choice("architecture", self.architecture, ARCHITECTURES)
        for name in ("vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim"):
            check_int(name, getattr(self, name))
        if self.hidden_dim % self.num_heads:
            raise ValueError(
                "`hidden_dim` should be divisible by `num_heads`. Received: "
                f"`hidden_dim` = {self.hidden_dim}, `num_heads` = {self.num_heads}"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(
                f"`dropout` should be in [0, 1). Received: `dropout` = {self.dropout!r}"
            )

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> EncoderConfig:
        """Builds the config from a dict (e.g. a TOML table), rejecting unknown keys."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"Unknown encoder config keys {unknown}. Known keys: {sorted(known)}"
            )
        return cls(**config)


def _check_max_length(max_length, allow_none):
    if max_length is None and allow_none:
        return
    what = "an int >= 3 (two special tokens and one token)"
    check_int("max_length", max_length, 3, what + (" or None" if allow_none else ""))


def build_encoder(
    source: PathLike | EncoderConfig | dict[str, Any],
    *,
    texts: Iterable[str] | None = None,
    pooling: str | None = None,
    max_length: int | None = None,
    projection_dim: int | None = None,
    projection_activation: str | None = None,
    normalize: bool = True,
    dtype: str | keras.DTypePolicy | None = None,
    load_weights: bool = True,
) -> BertSentenceEncoder | XLMRobertaSentenceEncoder:
    """Builds a sentence encoder (a keras-hub `TextEmbedder`) ready for `fit`.

    The encoder takes raw strings and returns `(batch, dim)` float32
    embeddings, L2-normalised by default: `e = W pool(h) / ||W pool(h)||`
    with `h` the token vectors of the transformer and `W` the optional
    projection head. Compile it with `MultiPositiveContrastiveLoss` and fit it
    on batches of `(texts, group_ids)`.

    `source` is one of:

    - a keras-hub preset name or handle (`"xlm_roberta_base_multi"`,
      `"bert_base_multi"`, `"hf://intfloat/multilingual-e5-base"`,
      `"hf://BAAI/bge-m3"`, `"hf://sentence-transformers/LaBSE"`, ...): needs
      the network; without it a `PresetUnavailableError` says so at once;
    - a local folder in keras-hub format (e.g. written by `save_to_preset`;
      an encoder saved by keras-mpcl comes back with its projection head) or
      in Hugging Face format (e.g. `offline_minilm_path()`). For Hugging Face
      BERT checkpoints the tokenizer is `HFBertTokenizer`, which tokenizes like
      Hugging Face; a sentence-transformers folder's pooling, `Dense` modules
      (e.g. LaBSE's) and normalisation are reproduced;
    - an `EncoderConfig` or a dict of its fields: a randomly initialised
      model whose vocabulary is trained on `texts`.

    Args:
        source: str, path, `EncoderConfig` or dict. See above.
        texts: list of str. Corpus for the vocabulary of a new model;
            required with a config, unused otherwise. Defaults to `None`.
        pooling: str or None. `"mean"`, `"cls"` or `"max"`; `None` keeps the
            checkpoint's (sentence-transformers pooling config) or uses
            `"mean"`. Defaults to `None`.
        max_length: int or None. Maximum tokens per text, special tokens
            included; longer texts are truncated. `None` keeps the
            checkpoint's, as sentence-transformers does (`max_seq_length`,
            else the tokenizer's `model_max_length`, else at most 512; a
            keras-mpcl preset: its saved length), or 64 for a new encoder.
            Encoding costs only the tokens each text has (see
            `keras_mpcl.models.encode`), so a long limit is cheap for short
            texts; training configs set their own. Defaults to `None`.
        projection_dim: int or None. Add `Dense(projection_dim)` after
            pooling. Defaults to `None`.
        projection_activation: str or None. Activation of that Dense.
            Defaults to `None`.
        normalize: bool. L2-normalise the embeddings. Defaults to `True`.
        dtype: str, `keras.DTypePolicy` or None. Dtype policy of the model,
            e.g. `"mixed_bfloat16"`; `None` uses the global policy.
            Defaults to `None`.
        load_weights: bool. Load pretrained weights (presets and folders).
            Defaults to `True`.

    Returns:
        A `BertSentenceEncoder` or `XLMRobertaSentenceEncoder` (subclasses of
        `keras_hub.models.BertTextEmbedder` / `XLMRobertaTextEmbedder`).

    Examples:

    >>> from keras_mpcl.models import encode
    >>> texts = ["a small cat", "un petit chat", "a big dog", "un grand chien"]
    >>> config = {"hidden_dim": 16, "num_layers": 1, "num_heads": 2,
    ...           "intermediate_dim": 32, "vocabulary_size": 60}
    >>> encoder = build_encoder(config, texts=texts, max_length=8)
    >>> encode(encoder, texts).shape
    (4, 16)
    """
    check_choice("pooling", pooling, (*POOLING_MODES, None))
    if isinstance(source, dict):
        source = EncoderConfig.from_dict(source)
    if isinstance(source, EncoderConfig):
        if max_length is None:
            max_length = NEW_ENCODER_MAX_LENGTH
        _check_max_length(max_length, allow_none=False)
        if texts is None:
            raise ValueError(
                "`texts` is required to train the vocabulary of a new encoder. "
                "Pass the training corpus, e.g. `build_encoder(config, texts=sentences)`."
            )
        return _build_new(
            source, texts, pooling or "mean", max_length, projection_dim,
            projection_activation, normalize, dtype,
        )
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        raise TypeError(
            "`source` should be a preset name, handle or folder (str), an "
            f"`EncoderConfig` or a dict. Received: {source!r} of type "
            f"{type(source).__name__}"
        )
    _check_max_length(max_length, allow_none=True)
    return _build_pretrained(
        source, pooling, max_length, projection_dim, projection_activation,
        normalize, dtype, load_weights,
    )


def _build_new(config, texts, pooling, max_length, projection_dim,
               projection_activation, normalize, dtype):
    if config.architecture == "bert":
        tokenizer = train_wordpiece_tokenizer(texts, config.vocabulary_size, config.lowercase)
        backbone_cls = keras_hub.models.BertBackbone
    else:
        tokenizer = train_sentencepiece_tokenizer(texts, config.vocabulary_size, config.lowercase)
        backbone_cls = keras_hub.models.XLMRobertaBackbone
    backbone = backbone_cls(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        hidden_dim=config.hidden_dim,
        intermediate_dim=config.intermediate_dim,
        dropout=config.dropout,
        max_sequence_length=max_length,
        dtype=dtype,
    )
    encoder_cls = ENCODER_CLASSES[backbone_cls]
    preprocessor = encoder_cls.preprocessor_cls(tokenizer=tokenizer, sequence_length=max_length)
    return encoder_cls(
        backbone=backbone,
        preprocessor=preprocessor,
        pooling_mode=pooling,
        normalize=normalize,
        projection_dim=projection_dim,
        projection_activation=projection_activation,
    )


def _resize(encoder, max_length):
    if max_length is None or encoder.preprocessor.sequence_length == max_length:
        return encoder
    preprocessor = type(encoder.preprocessor)(
        tokenizer=encoder.preprocessor.tokenizer, sequence_length=max_length
    )
    encoder.preprocessor = preprocessor
    return encoder


def _build_pretrained(preset, pooling, max_length, projection_dim,
                      projection_activation, normalize, dtype, load_weights):
    presets.check_reachable(preset)
    backbone = presets.load_backbone(preset, dtype=dtype, load_weights=load_weights)
    encoder_cls = ENCODER_CLASSES.get(type(backbone))
    if encoder_cls is None:
        raise ValueError(
            f"{preset!r} holds a {type(backbone).__name__}; keras-mpcl builds sentence "
            f"encoders on {[c.__name__ for c in ENCODER_CLASSES]}."
        )
    task_cls = presets.saved_task_class(preset)
    if task_cls is not None and issubclass(task_cls, _SentenceEncoderHead):
        # A keras-mpcl encoder saved with `save_to_preset`: keep its head.
        encoder = task_cls.from_preset(preset, dtype=dtype, load_weights=load_weights)
        requested = {"pooling_mode": pooling, "projection_dim": projection_dim,
                     "projection_activation": projection_activation}
        clashes = {k: v for k, v in requested.items()
                   if v is not None and getattr(encoder, k) != v}
        if clashes or encoder.normalize != normalize:
            raise ValueError(
                f"{preset!r} is a saved keras-mpcl encoder with pooling_mode="
                f"{encoder.pooling_mode!r}, projection_dim={encoder.projection_dim!r}, "
                f"projection_activation={encoder.projection_activation!r}, normalize="
                f"{encoder.normalize!r}; build_encoder was asked for {clashes or {'normalize': normalize}}. "
                "Leave these options unset to load it as saved."
            )
        return _resize(encoder, max_length)

    settings = {"pooling_mode": None, "max_seq_length": None, "dense": []}
    if presets.is_keras_preset(preset):
        tokenizer = keras_hub.models.Tokenizer.from_preset(preset)
    else:
        settings = presets.sentence_transformers_settings(preset)
        if encoder_cls is BertSentenceEncoder:
            tokenizer = presets.hf_bert_tokenizer(preset)
        else:
            tokenizer = keras_hub.models.XLMRobertaTokenizer.from_preset(preset)
    if max_length is None:
        max_length = settings["max_seq_length"] or min(512, backbone.max_sequence_length)
    if max_length > backbone.max_sequence_length:
        raise ValueError(
            f"`max_length` = {max_length} exceeds the {backbone.max_sequence_length} "
            f"positions of {preset!r}."
        )
    dense = settings["dense"]
    if len(dense) > 1 or (dense and projection_dim is not None):
        raise ValueError(
            f"{preset!r} already ends with {len(dense)} sentence-transformers Dense "
            "module(s); keras-mpcl supports one projection. Leave `projection_dim` unset."
        )
    if dense:
        projection_dim = dense[0]["kernel"].shape[1]
        projection_activation = dense[0]["activation"]
    preprocessor = encoder_cls.preprocessor_cls(tokenizer=tokenizer, sequence_length=max_length)
    encoder = encoder_cls(
        backbone=backbone,
        preprocessor=preprocessor,
        pooling_mode=pooling or settings["pooling_mode"] or "mean",
        normalize=normalize,
        projection_dim=projection_dim,
        projection_activation=projection_activation,
        projection_use_bias=not dense or dense[0]["bias"] is not None,
    )
    if dense:
        weights = [dense[0]["kernel"]]
        if dense[0]["bias"] is not None:
            weights.append(dense[0]["bias"])
        encoder.projection.set_weights(weights)
    return encoder


__all__ = [
    "ARCHITECTURES",
    "BertSentenceEncoder",
    "EncoderConfig",
    "XLMRobertaSentenceEncoder",
    "build_encoder",
]
