"""The one encoding path: tokenize, sort by length, encode at a few fixed widths, restore order."""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING

import keras
import numpy as np

from keras_mpcl.backend import quiet_retracing
from keras_mpcl.validation import check_int

if TYPE_CHECKING:
    from collections.abc import Iterable

    import keras_hub

# Batches are trimmed to the first of these widths that holds their longest
# row (capped at the preprocessor's sequence length), so that XLA, `jax.jit`
# and `torch.compile` compile a bounded number of shapes.
ENCODING_WIDTHS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)
# Texts tokenized at a time: bounds the memory of a long input.
TOKENIZE_CHUNK = 8192

# One inference model per encoder: a plain functional view of the encoder's
# graph (same layers and variables) that takes token ids, so `predict_on_batch`
# skips keras-hub's string preprocessing and the encoder's run-time length
# buckets, and its compiled predict function is reused across calls.
_INFERENCE_MODELS = weakref.WeakKeyDictionary()
# One traced tokenizer per preprocessor (see `_tokenize`).
_TOKENIZE_FUNCTIONS = weakref.WeakKeyDictionary()


def encoding_width(length, sequence_length):
    """The padded width of a batch whose longest row has `length` tokens.

    The smallest of `ENCODING_WIDTHS` that is `>= length`, capped at
    `sequence_length` (the preprocessor's, which no row exceeds).

    Args:
        length: int. Tokens of the longest row, special tokens included.
        sequence_length: int. The preprocessor's sequence length.

    Returns:
        int.

    Examples:

    >>> encoding_width(5, 256), encoding_width(33, 256), encoding_width(300, 256)
    (16, 48, 256)
    """
    for width in ENCODING_WIDTHS:
        if width >= length:
            return min(width, sequence_length)
    return sequence_length


def _inference_model(encoder):
    model = _INFERENCE_MODELS.get(encoder)
    if model is None:
        model = keras.Model(encoder.input, encoder.output, name=f"{encoder.name}_inference")
        _INFERENCE_MODELS[encoder] = model
    return model


def _to_numpy(x):
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu()
    return np.asarray(keras.ops.convert_to_numpy(x))


def _tokenize(preprocessor, texts):
    """Token arrays of `texts`, padded to the preprocessor's sequence length.

    The keras-hub preprocessor runs as a `tf.function` traced once per
    preprocessor, i.e. on its TensorFlow / tensorflow-text path as inside
    `tf.data`: called eagerly, keras-hub runs a pure Python tokenizer and
    packer instead, several times slower.
    """
    import tensorflow as tf

    tokenize = _TOKENIZE_FUNCTIONS.get(preprocessor)
    if tokenize is None:
        tokenize = tf.function(
            preprocessor, input_signature=[tf.TensorSpec([None], tf.string)],
            reduce_retracing=True,
        )
        _TOKENIZE_FUNCTIONS[preprocessor] = tokenize
    tokens = tokenize(tf.constant(list(texts), dtype=tf.string))
    return {name: value.numpy() for name, value in tokens.items()}


def _check_texts(texts, offset=0):
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                "Every text to encode should be a str. Received: item "
                f"{offset + i} of type {type(text).__name__}: {text!r}"
            )


def _rows_for(count, batch_size):
    """Rows a batch of `count` texts is padded to: a power of two <= `batch_size`."""
    rows = 1
    while rows < count:
        rows *= 2
    return min(rows, batch_size)


def _encode_chunk(encoder, texts, batch_size, on_batch):
    """Embeddings of one chunk of texts, in input order."""
    tokens = _tokenize(encoder.preprocessor, texts)
    lengths = tokens["padding_mask"].astype("int32").sum(axis=1)
    order = np.argsort(-lengths, kind="stable")  # longest first: surprises early
    model = _inference_model(encoder)
    sequence_length = tokens["padding_mask"].shape[1]
    parts = []
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        width = encoding_width(int(lengths[rows].max(initial=1)), sequence_length)
        padded_rows = _rows_for(len(rows), batch_size)
        # Repeat the last row (never an all-padding row) up to a bounded row count.
        take = np.concatenate([rows, np.repeat(rows[-1:], padded_rows - len(rows))])
        batch = {name: value[take, :width] for name, value in tokens.items()}
        with quiet_retracing():
            out = _to_numpy(model.predict_on_batch(batch))[: len(rows)]
        parts.append(out.astype("float32", copy=False))
        on_batch(len(rows))
    embeddings = np.empty((len(texts), parts[0].shape[1]), dtype="float32")
    embeddings[order] = np.concatenate(parts, axis=0)
    return embeddings


class _Progress:
    """A `keras.utils.Progbar` counted in sentences, with sentences/s."""

    def __init__(self, total, verbose):
        self.done = 0
        self.start = time.perf_counter()
        self.bar = None
        if verbose:
            self.bar = keras.utils.Progbar(
                total, verbose=verbose, unit_name="sentence",
                stateful_metrics=["sentences/s"],
            )

    def __call__(self, count):
        self.done += count
        if self.bar is not None:
            rate = self.done / max(time.perf_counter() - self.start, 1e-9)
            self.bar.update(self.done, values=[("sentences/s", rate)])


def iter_encoded_chunks(encoder, text_chunks, batch_size=32, normalize=True,
                        verbose=0, total=None):
    """Encodes an iterable of text lists; yields one embedding array per list.

    The streaming form of `encode`: memory is bounded by one list at a time,
    so a caller can read, encode and write a file of any length in chunks.

    Args:
        encoder: a keras-hub `TextEmbedder` with a preprocessor (e.g. from
            `build_encoder`).
        text_chunks: iterable of lists of str.
        batch_size: int. Texts per forward pass. Defaults to `32`.
        normalize: bool. L2-normalise each row. Defaults to `True`.
        verbose: int. `1` shows a progress bar with sentences/s and the time
            left. Defaults to `0`.
        total: int or None. Number of texts in all, for the progress bar's
            time left. Defaults to `None`.

    Yields:
        `np.ndarray` of shape `(len(chunk), dim)`, float32, one per chunk.
    """
    check_int("batch_size", batch_size)
    if getattr(encoder, "preprocessor", None) is None:
        raise ValueError(
            f"`encoder` ({type(encoder).__name__}) has no preprocessor, so it cannot "
            "take raw strings. Build it with `keras_mpcl.models.build_encoder`, or "
            "attach a keras-hub preprocessor."
        )
    progress = _Progress(total, verbose)
    seen = 0
    for texts in text_chunks:
        texts = list(texts)
        _check_texts(texts, offset=seen)
        seen += len(texts)
        if not texts:
            continue
        embeddings = _encode_chunk(encoder, texts, batch_size, progress)
        if normalize:
            norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
            embeddings /= np.maximum(norms, 1e-12)
        yield embeddings


def encode(
    encoder: keras_hub.models.TextEmbedder,
    texts: str | Iterable[str],
    batch_size: int = 32,
    normalize: bool = True,
    verbose: int = 0,
) -> np.ndarray:
    """Embeds `texts` and returns float32 embeddings, one row per text, in order.

    The texts are tokenized once, sorted by token length and encoded in
    batches whose width is the longest row of the batch rounded up to one of
    `ENCODING_WIDTHS` (so compiled backends compile a bounded number of
    shapes); the result is the same as encoding every row at full width, at
    the cost of the tokens each text needs. With `normalize`, rows are
    L2-normalised: `e_i = f(t_i) / max(||f(t_i)||, 1e-12)`.

    Every command and callback of keras-mpcl encodes through this function
    (`keras-mpcl embed` and `evaluate`, the evaluation tasks,
    `EvaluationCallback`, the trainer's held-out retrieval).

    Args:
        encoder: a keras-hub `TextEmbedder` with a preprocessor (e.g. from
            `build_encoder`).
        texts: list of str, or a single str.
        batch_size: int. Texts per forward pass. Defaults to `32`.
        normalize: bool. L2-normalise each row. Defaults to `True`.
        verbose: int. `1` shows a progress bar with sentences/s and the time
            left. Defaults to `0`.

    Returns:
        `np.ndarray` of shape `(len(texts), dim)` and dtype float32.

    Examples:

    >>> from keras_mpcl.models import build_encoder
    >>> texts = ["one cat", "un chat noir et blanc", "two dogs"]
    >>> config = {"hidden_dim": 8, "num_layers": 1, "num_heads": 2,
    ...           "intermediate_dim": 16, "vocabulary_size": 40}
    >>> encoder = build_encoder(config, texts=texts, max_length=8)
    >>> embeddings = encode(encoder, texts, batch_size=2)
    >>> embeddings.shape, embeddings.dtype
    ((3, 8), dtype('float32'))
    >>> bool(np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5))
    True
    """
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    check_int("batch_size", batch_size)
    _check_texts(texts)
    if not texts:
        raise ValueError("`texts` is empty: nothing to encode.")
    chunks = (
        texts[start : start + TOKENIZE_CHUNK]
        for start in range(0, len(texts), TOKENIZE_CHUNK)
    )
    return np.concatenate(
        list(iter_encoded_chunks(encoder, chunks, batch_size, normalize, verbose, len(texts))),
        axis=0,
    )
