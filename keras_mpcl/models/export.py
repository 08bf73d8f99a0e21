"""Writing a trained encoder in the formats people serve: sentence-transformers and keras-hub.

A sentence-transformers folder holds a Hugging Face `transformers` model
(`config.json`, `model.safetensors`, tokenizer files) and the modules that
turn its token vectors into a sentence vector (`modules.json`: pooling, an
optional `Dense` projection, L2 normalisation). The weights are the inverse of
keras-hub's Hugging Face converters (`keras_hub/src/utils/transformers`).
"""

from __future__ import annotations

import json
import pathlib
import shutil
from typing import TYPE_CHECKING

import keras
import keras_hub
import numpy as np

from keras_mpcl.models import model_card
from keras_mpcl.validation import check_choice

if TYPE_CHECKING:
    from keras_mpcl.typing import PathLike

FORMATS = ("sentence-transformers", "keras-hub")

_DENSE_ACTIVATIONS = {
    None: "torch.nn.modules.linear.Identity",
    "linear": "torch.nn.modules.linear.Identity",
    "tanh": "torch.nn.modules.activation.Tanh",
    "relu": "torch.nn.modules.activation.ReLU",
    "sigmoid": "torch.nn.modules.activation.Sigmoid",
}


def _numpy(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable), dtype="float32")


def _transformer_weights(backbone, position_offset):
    """Hugging Face `BertModel` / `XLMRobertaModel` tensors of a keras-hub backbone."""
    hidden = backbone.hidden_dim
    tensors = {
        "embeddings.word_embeddings.weight": _numpy(backbone.token_embedding.embeddings),
        "embeddings.LayerNorm.weight": _numpy(backbone.get_layer("embeddings_layer_norm").gamma),
        "embeddings.LayerNorm.bias": _numpy(backbone.get_layer("embeddings_layer_norm").beta),
    }
    if position_offset:  # XLM-R: token and position embeddings in one layer
        positions = _numpy(backbone.embeddings.position_embedding.position_embeddings)
    else:
        positions = _numpy(backbone.get_layer("position_embedding").position_embeddings)
    if position_offset:
        # XLM-R: Hugging Face keeps two unused rows first (real positions
        # start at padding_idx + 1 = 2); keras-hub folded token type 0 into
        # the positions, so the exported token type embedding is zero.
        positions = np.concatenate([np.zeros((position_offset, hidden), "float32"), positions])
        tensors["embeddings.token_type_embeddings.weight"] = np.zeros((1, hidden), "float32")
    else:
        tensors["embeddings.token_type_embeddings.weight"] = _numpy(
            backbone.get_layer("segment_embedding").embeddings
        )
    tensors["embeddings.position_embeddings.weight"] = positions
    for i in range(backbone.num_layers):
        block = backbone.get_layer(f"transformer_layer_{i}")
        attention = block._self_attention_layer
        prefix = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            dense = getattr(attention, f"{name}_dense")
            # keras kernel (hidden, heads, head_dim) -> torch (heads*head_dim, hidden)
            tensors[f"{prefix}attention.self.{name}.weight"] = _numpy(dense.kernel).reshape(
                hidden, -1).T
            tensors[f"{prefix}attention.self.{name}.bias"] = _numpy(dense.bias).reshape(-1)
        tensors[f"{prefix}attention.output.dense.weight"] = _numpy(
            attention.output_dense.kernel).reshape(-1, hidden).T
        tensors[f"{prefix}attention.output.dense.bias"] = _numpy(attention.output_dense.bias)
        tensors[f"{prefix}attention.output.LayerNorm.weight"] = _numpy(
            block._self_attention_layer_norm.gamma)
        tensors[f"{prefix}attention.output.LayerNorm.bias"] = _numpy(
            block._self_attention_layer_norm.beta)
        tensors[f"{prefix}intermediate.dense.weight"] = _numpy(
            block._feedforward_intermediate_dense.kernel).T
        tensors[f"{prefix}intermediate.dense.bias"] = _numpy(
            block._feedforward_intermediate_dense.bias)
        tensors[f"{prefix}output.dense.weight"] = _numpy(block._feedforward_output_dense.kernel).T
        tensors[f"{prefix}output.dense.bias"] = _numpy(block._feedforward_output_dense.bias)
        tensors[f"{prefix}output.LayerNorm.weight"] = _numpy(block._feedforward_layer_norm.gamma)
        tensors[f"{prefix}output.LayerNorm.bias"] = _numpy(block._feedforward_layer_norm.beta)
    return {key: np.ascontiguousarray(value) for key, value in tensors.items()}


def _common_config(backbone):
    """The Hugging Face config keys BERT and XLM-RoBERTa share."""
    return {
        "vocab_size": backbone.vocabulary_size,
        "hidden_size": backbone.hidden_dim,
        "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads,
        "intermediate_size": backbone.intermediate_dim,
        "hidden_act": "gelu",
        "hidden_dropout_prob": backbone.dropout,
        "attention_probs_dropout_prob": backbone.dropout,
    }


def _bert_files(encoder, out):
    # (BERT's pooler is not part of a sentence embedding: it is not exported.)
    backbone, tokenizer = encoder.backbone, encoder.preprocessor.tokenizer
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        **_common_config(backbone),
        "max_position_embeddings": backbone.max_sequence_length,
        "type_vocab_size": backbone.num_segments,
        "layer_norm_eps": 1e-12,
        "initializer_range": 0.02,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vocabulary = tokenizer.get_vocabulary()
    (out / "vocab.txt").write_text("".join(f"{token}\n" for token in vocabulary), "utf-8")
    # keras-hub's `lowercase` also strips accents, as Hugging Face's
    # `do_lower_case` does when `strip_accents` is unset (None).
    settings = tokenizer.get_config()
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": bool(settings.get("lowercase", False)),
        "strip_accents": settings.get("strip_accents"),
        "tokenize_chinese_chars": bool(settings.get("split_on_cjk", True)),
        "unk_token": settings.get("oov_token", "[UNK]"),
        "cls_token": tokenizer.cls_token, "sep_token": tokenizer.sep_token,
        "pad_token": tokenizer.pad_token, "mask_token": getattr(tokenizer, "mask_token", "[MASK]"),
        "model_max_length": encoder.preprocessor.sequence_length,
    }
    tensors = _transformer_weights(backbone, position_offset=0)
    pooler = backbone.get_layer("pooled_dense")  # unused by sentence embeddings; kept whole
    tensors["pooler.dense.weight"] = np.ascontiguousarray(_numpy(pooler.kernel).T)
    tensors["pooler.dense.bias"] = _numpy(pooler.bias)
    return config, tokenizer_config, tensors


def _xlm_roberta_files(encoder, out):
    backbone, tokenizer = encoder.backbone, encoder.preprocessor.tokenizer
    config = {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        **_common_config(backbone),
        "max_position_embeddings": backbone.max_sequence_length + 2,
        "type_vocab_size": 1,
        "layer_norm_eps": 1e-5,
        "initializer_range": 0.02,
        "bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2,
    }
    proto = tokenizer.proto
    (out / "sentencepiece.bpe.model").write_bytes(
        proto if isinstance(proto, bytes) else pathlib.Path(proto).read_bytes()
    )
    tokenizer_config = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
        "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
        "model_max_length": encoder.preprocessor.sequence_length,
    }
    tensors = _transformer_weights(backbone, position_offset=2)
    # keras-hub's XLM-R has no pooler; Hugging Face's model expects one. It
    # plays no part in sentence embeddings: zeros keep the load report clean.
    tensors["pooler.dense.weight"] = np.zeros((backbone.hidden_dim, backbone.hidden_dim), "float32")
    tensors["pooler.dense.bias"] = np.zeros((backbone.hidden_dim,), "float32")
    return config, tokenizer_config, tensors


_EXPORTERS = {
    keras_hub.models.BertBackbone: _bert_files,
    keras_hub.models.XLMRobertaBackbone: _xlm_roberta_files,
}


def export_sentence_transformers(
    encoder: keras_hub.models.TextEmbedder, output: PathLike
) -> pathlib.Path:
    """Writes `encoder` as a sentence-transformers folder that loads offline.

    `sentence_transformers.SentenceTransformer(output)` then embeds as
    `keras_mpcl.models.encode(encoder, texts)` does: the same transformer
    weights (`model.safetensors`), tokenizer (`vocab.txt` or
    `sentencepiece.bpe.model` with its `tokenizer_config.json`), pooling
    (`1_Pooling`), projection head (`2_Dense`), L2 normalisation and maximum
    length (`sentence_bert_config.json`).

    Args:
        encoder: a keras-mpcl sentence encoder (`build_encoder`) or a keras-hub
            BERT / XLM-RoBERTa `TextEmbedder` with its preprocessor.
        output: str or path-like. The folder to write (replaced if present).

    Returns:
        The `pathlib.Path` of the folder.

    Examples:

    ```python
    encoder = keras_mpcl.models.build_encoder(offline_minilm_path())
    export_sentence_transformers(encoder, "my-model")
    SentenceTransformer("my-model").encode(["Hello world"])
    ```
    """
    backbone = getattr(encoder, "backbone", None)
    exporter = next((f for cls, f in _EXPORTERS.items() if isinstance(backbone, cls)), None)
    if exporter is None or getattr(encoder, "preprocessor", None) is None:
        raise ValueError(
            f"Cannot export {type(encoder).__name__} with a "
            f"{type(backbone).__name__} backbone to sentence-transformers: supported are "
            "BERT-family (MiniLM, LaBSE, mBERT) and XLM-RoBERTa encoders with their "
            "preprocessor. Use `--format keras-hub` (`save_to_preset`) for any keras-hub model."
        )
    from safetensors.numpy import save_file

    out = pathlib.Path(output)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    config, tokenizer_config, tensors = exporter(encoder, out)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", "utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n",
                                               "utf-8")
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    max_length = encoder.preprocessor.sequence_length
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_length, "do_lower_case": False}, indent=2) + "\n",
        "utf-8")

    pooling = getattr(encoder, "pooling_mode", "mean")
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling"}]
    (out / "1_Pooling").mkdir()
    (out / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": backbone.hidden_dim,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": pooling == "max",
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }, indent=2) + "\n", "utf-8")
    projection = getattr(encoder, "projection", None)
    if projection is not None:
        activation = getattr(encoder, "projection_activation", None)
        if activation not in _DENSE_ACTIVATIONS:
            raise ValueError(
                f"Cannot export the projection activation {activation!r}: "
                f"sentence-transformers' Dense supports {sorted(map(str, _DENSE_ACTIVATIONS))}"
            )
        folder = out / "2_Dense"
        folder.mkdir()
        kernel = _numpy(projection.kernel)
        dense = {"linear.weight": np.ascontiguousarray(kernel.T)}
        if projection.use_bias:
            dense["linear.bias"] = _numpy(projection.bias)
        save_file(dense, str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps({
            "in_features": int(kernel.shape[0]), "out_features": int(kernel.shape[1]),
            "bias": bool(projection.use_bias),
            "activation_function": _DENSE_ACTIVATIONS[activation],
        }, indent=2) + "\n", "utf-8")
        modules.append({"idx": 2, "name": "2", "path": "2_Dense",
                        "type": "sentence_transformers.models.Dense"})
    if getattr(encoder, "normalize", True):
        index = len(modules)
        modules.append({"idx": index, "name": str(index), "path": f"{index}_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
    (out / "modules.json").write_text(json.dumps(modules, indent=2) + "\n", "utf-8")
    (out / "config_sentence_transformers.json").write_text(json.dumps(
        {"similarity_fn_name": "cosine", "__version__": {"keras_mpcl": _version()}},
        indent=2) + "\n", "utf-8")
    return out


def _version():
    from keras_mpcl.version import __version__

    return __version__


def export_encoder(
    encoder: keras_hub.models.TextEmbedder,
    output: PathLike,
    format: str = "sentence-transformers",
    trained_folder: PathLike | None = None,
) -> pathlib.Path:
    """Writes `encoder` in a deployable format, with a model card.

    Args:
        encoder: a keras-mpcl sentence encoder.
        output: str or path-like. The folder to write (replaced if present).
        format: str. `"sentence-transformers"` (`export_sentence_transformers`)
            or `"keras-hub"` (`save_to_preset`, loaded by
            `keras_hub.models.TextEmbedder.from_preset` once `keras_mpcl`
            is imported). Defaults to `"sentence-transformers"`.
        trained_folder: optional str or path-like. The folder `keras-mpcl
            train` wrote the encoder to: its training facts and plot go into
            the model card. Defaults to `None` (a card without training facts).

    Returns:
        The `pathlib.Path` of the folder.
    """
    check_choice("format", format, FORMATS)
    out = pathlib.Path(output)
    if trained_folder is not None and out.resolve() == pathlib.Path(trained_folder).resolve():
        raise ValueError(f"`output` {out} is the model folder itself; choose another folder")
    if format == "keras-hub":
        if out.exists():
            shutil.rmtree(out)
        encoder.save_to_preset(str(out))
    else:
        export_sentence_transformers(encoder, out)
    facts = None if trained_folder is None else model_card.read_facts(trained_folder)
    if facts is not None:
        model_card.write_facts(out, facts)
        if facts.get("plot") and (pathlib.Path(trained_folder) / facts["plot"]).is_file():
            shutil.copy(pathlib.Path(trained_folder) / facts["plot"], out / facts["plot"])
    model_card.write_model_card(out, facts, format=format)
    return out
