"""Turn an encoder or an `encode` callable into one host-side `encode` function."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING
from typing import Any
from typing import Callable
from typing import Sequence

import numpy as np

from keras_mpcl.validation import check_int

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from keras_mpcl.typing import EncoderLike

logger = logging.getLogger(__name__)

EncodeFn = Callable[[Sequence[str]], np.ndarray]


def _is_text_embedder(obj):
    # A Keras model (keras-hub `TextEmbedder`) whose preprocessor takes strings.
    # Keras is not imported to ask: evaluating a plain `encode` callable (or
    # `keras-mpcl --help`) then never loads it, and no Keras model can exist
    # unless Keras was imported.
    keras = sys.modules.get("keras")
    return (
        keras is not None
        and isinstance(obj, keras.Model)
        and getattr(obj, "preprocessor", None) is not None
    )


def as_encode_fn(
    encoder: EncoderLike, batch_size: int = 32, verbose: bool = False
) -> EncodeFn:
    """Wrap an encoder or an `encode` callable as `encode(list[str]) -> array`.

    Every evaluation task calls the returned function. A keras-hub model is
    encoded by `keras_mpcl.models.encode` (tokenized once, sorted by length,
    batches of `batch_size` trimmed to a few fixed widths); another object
    with a Keras-style `predict` gets `64 * batch_size` texts per `predict`
    call, and a callable `batch_size` texts per call. It checks that one float32 row
    comes back per text and returns a NumPy array of shape
    `(len(texts), dim)`. An empty list gives an array of shape `(0, 0)`.

    Args:
        encoder: a keras-hub `TextEmbedder` with a preprocessor (such as
            the encoders of `keras_mpcl.models.build_encoder`), an object with
            `predict(texts, batch_size=..., verbose=0)`, or any callable
            `encode(list[str]) -> array-like` of shape `(n, dim)`. A function
            already returned by `as_encode_fn` is returned unchanged.
        batch_size: int. How many texts are encoded per call. Defaults to
            `32`.
        verbose: bool. Log progress every few batches. Defaults to `False`.

    Returns:
        A function `encode(texts) -> np.ndarray` (float32, 2-D).

    Examples:

    >>> import numpy as np
    >>> encode = as_encode_fn(lambda texts: [[len(t), 1.0] for t in texts],
    ...                       batch_size=2)
    >>> encode(["a", "abc", "ab"]).tolist()
    [[1.0, 1.0], [3.0, 1.0], [2.0, 1.0]]
    >>> encode([]).shape
    (0, 0)
    """
    check_int("batch_size", batch_size)
    if getattr(encoder, "_keras_mpcl_encode_fn", False):
        return encoder
    if _is_text_embedder(encoder):
        from keras_mpcl.models.encode import encode as encode_texts

        model = encoder

        def call(batch):
            return encode_texts(
                model, batch, batch_size=batch_size, normalize=False, verbose=int(verbose)
            )

        # `encode_texts` sorts by length and batches itself: give it everything.
        chunk = None
        name = type(encoder).__name__
    elif hasattr(encoder, "predict"):  # any other object with a Keras-style `predict`
        model = encoder

        def call(batch):
            return model.predict(list(batch), batch_size=batch_size, verbose=0)

        chunk = batch_size * 64
        name = type(encoder).__name__
    elif callable(encoder):
        call = encoder
        chunk = batch_size
        name = getattr(encoder, "__name__", type(encoder).__name__)
    else:
        raise TypeError(
            "`encoder` should be a keras-hub `TextEmbedder` (with `predict`) or a "
            "callable `encode(list[str]) -> array`. "
            f"Received: `encoder` of type {type(encoder).__name__}"
        )

    def encode(texts):
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(
                    "Every text to encode should be a str. "
                    f"Received: item {i} of type {type(text).__name__}: {text!r}"
                )
        if not texts:
            return np.zeros((0, 0), dtype="float32")
        parts = []
        chunk_size = chunk or len(texts)
        for b, start in enumerate(range(0, len(texts), chunk_size)):
            batch = texts[start : start + chunk_size]
            out = _to_numpy(call(batch))
            if out.ndim != 2 or out.shape[0] != len(batch):
                raise ValueError(
                    f"The encoder `{name}` should return one embedding row per "
                    f"text, i.e. shape ({len(batch)}, dim). Received: shape "
                    f"{out.shape} for {len(batch)} texts"
                )
            parts.append(out)
            if verbose and (b + 1) % max(1, 3200 // chunk_size) == 0:
                logger.info(
                    "encoded %d / %d texts",
                    min(start + chunk_size, len(texts)),
                    len(texts),
                )
        dims = {p.shape[1] for p in parts}
        if len(dims) != 1:
            raise ValueError(
                f"The encoder `{name}` returned embeddings of different widths "
                f"across batches: {sorted(dims)}"
            )
        return np.concatenate(parts, axis=0)

    encode._keras_mpcl_encode_fn = True
    encode.__name__ = f"encode[{name}]"
    return encode


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype="float32")


def l2_normalize(x: ArrayLike, epsilon: float = 1e-12) -> np.ndarray:
    """Rows divided by their L2 norm (zero rows stay zero), as float32.

    Formula: `x / max(||x||_2, epsilon)` row by row.

    Args:
        x: array-like of shape `(n, dim)`.
        epsilon: float. Lower bound of the norm. Defaults to `1e-12`.

    Returns:
        `np.ndarray` of shape `(n, dim)`, dtype float32.

    Examples:

    >>> l2_normalize([[3.0, 4.0], [0.0, 0.0]]).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    x = np.asarray(x, dtype="float32")
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, epsilon)
