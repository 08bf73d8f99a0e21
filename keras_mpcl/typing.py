"""The type aliases (and the type variable) of keras-mpcl's annotations.

The library's modules import them under `if TYPE_CHECKING:` only, with
`from __future__ import annotations`: type checkers read them, and the library
never imports this module at run time.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

if TYPE_CHECKING:
    import keras

Tensor: TypeAlias = Any
"""A tensor of the active Keras backend (`tf.Tensor`, `jax.Array` or
`torch.Tensor`), or anything `keras.ops.convert_to_tensor` accepts."""

PathLike: TypeAlias = str | os.PathLike[str]
"""A file or folder path: a `str` or an `os.PathLike` such as `pathlib.Path`."""

EncoderLike: TypeAlias = Any
"""What the evaluation tasks encode with: a keras-hub `TextEmbedder` with a
preprocessor, an object with a Keras-style `predict(texts, batch_size=...,
verbose=0)`, or a callable `encode(list[str]) -> array-like` (see
`keras_mpcl.evaluation.as_encode_fn`)."""

ModelT = TypeVar("ModelT", bound="keras.Model")
"""A Keras model returned as it was given (modified in place), e.g. by
`keras_mpcl.models.rematerialize`."""
