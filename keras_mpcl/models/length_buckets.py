"""Runs an encoder on a padded batch in chunks of similar length, to skip most padding.

Two ways, one result: `call_in_length_buckets` sorts and trims inside the
model (run-time shapes: TensorFlow without XLA, PyTorch); `split_into_length_chunks`
does the same work in the `tf.data` pipeline and pads each chunk to one of a few
fixed widths, so that XLA and `jax.jit` see static shapes and compile once per
combination of widths; the model then runs `call_on_length_chunks`.
"""

from __future__ import annotations

import collections.abc
from typing import TYPE_CHECKING

from keras import ops

from keras_mpcl.backend import is_traced_by_jax_jit
from keras_mpcl.models.encode import ENCODING_WIDTHS

# The input keys of a batch split by `split_into_length_chunks`.
LENGTH_CHUNKS = "length_chunks"
ROW_POSITIONS = "row_positions"

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from keras_mpcl.typing import Tensor


def length_buckets_under_xla_error(
    setting: str = "`length_buckets` > 1",
    fix: str = "Cut the batch in the input pipeline with "
    "`keras_mpcl.models.split_into_length_chunks` (what `fit` does), compile with "
    "`jit_compile=False`, or use `length_buckets=1`.",
    error_class: type[Exception] = ValueError,
) -> Exception:
    """The error refusing length buckets under XLA or `jax.jit`, which need static shapes.

    Args:
        setting: str. What asked for length buckets, as the user wrote it.
            Defaults to `` "`length_buckets` > 1" ``.
        fix: str. How to fix it, in the user's terms (a model argument, a
            config key). Defaults to splitting the batch in the pipeline.
        error_class: the exception class. Defaults to `ValueError`.

    Returns:
        An `error_class` instance, to raise.

    Examples:

    >>> print(length_buckets_under_xla_error("`buckets=4`", "Use `buckets=1`."))
    `buckets=4` trims each chunk of rows to its longest row, a shape known only at run time, which XLA and `jax.jit` cannot compile. Use `buckets=1`.
    """
    return error_class(
        f"{setting} trims each chunk of rows to its longest row, a shape known only "
        f"at run time, which XLA and `jax.jit` cannot compile. {fix}"
    )


def call_in_length_buckets(
    encode_chunk: Callable[[dict[str, Tensor]], Tensor],
    inputs: Mapping[str, Tensor],
    buckets: int,
) -> Tensor:
    """Encodes `inputs` in `buckets` chunks of rows sorted by length.

    A batch padded to its longest sentence spends most of the transformer's
    work on padding when lengths vary. Sorting the rows by length, cutting
    them into `buckets` chunks and trimming each chunk to its own longest row
    computes the same embeddings (each row attends only to its own tokens)
    with fewer token positions (how many fewer, and the speed-up, for one
    NTREX batch: see benchmarks/README.md, "Training throughput"). The output
    rows are in the order of the input rows.

    Needs shapes known only at run time: TensorFlow without XLA, PyTorch
    and un-jitted JAX. XLA and `jax.jit` cannot compile it: there the batch
    is cut in the input pipeline by `split_into_length_chunks`.

    Args:
        encode_chunk: callable. Maps a dict of `(rows, width)` inputs to
            `(rows, dim)` embeddings.
        inputs: dict of `(batch, length)` tensors with a `"padding_mask"`.
        buckets: int. Number of chunks; 1 encodes the batch as it is.

    Returns:
        The `(batch, dim)` embeddings.
    """
    mask = inputs["padding_mask"]
    lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
    if is_traced_by_jax_jit(lengths):
        raise length_buckets_under_xla_error()
    order = ops.argsort(lengths)
    rows = ops.shape(lengths)[0]
    embeddings = []
    for bucket in range(buckets):
        chunk_rows = order[(rows * bucket) // buckets : (rows * (bucket + 1)) // buckets]
        # A batch with fewer rows than buckets leaves some chunks empty: give
        # them width 1 rather than the max of nothing.
        width = ops.maximum(ops.max(ops.take(lengths, chunk_rows), initial=0), 1)
        chunk = {
            name: ops.take(value, chunk_rows, axis=0)[:, :width]
            for name, value in inputs.items()
        }
        embeddings.append(encode_chunk(chunk))
    embeddings = ops.concatenate(embeddings, axis=0)
    return ops.take(embeddings, ops.argsort(order), axis=0)


def split_into_length_chunks(
    inputs: Mapping[str, Any], buckets: int, rows_multiple: int = 1
) -> dict[str, Any]:
    """Sorts a padded batch by length into `buckets` chunks of fixed widths (a `tf.data` map).

    The pipeline-side form of `call_in_length_buckets`, for compiled steps
    (XLA, `jax.jit`), which need static shapes: the rows are sorted by length
    and cut into `buckets` chunks of equal row counts, and each chunk is
    trimmed to the first of `16, 32, 48, 64, 96, 128, ...` tokens that holds
    its longest row (capped at the batch's width). A compiled train step
    then compiles once per combination of chunk widths, a handful in
    practice, instead of once per batch. A sentence encoder given the result
    (`length_chunks`: the chunks, `row_positions`: where each input row went)
    returns the embeddings in the input order, equal to those of the padded
    batch.

    Args:
        inputs: dict of `(batch, length)` tensors with a `"padding_mask"`
            (a preprocessor's output).
        buckets: int. Number of chunks.
        rows_multiple: int. Every chunk's row count is a multiple of this
            (the batch's must be): the devices a batch is sharded over, so
            that each chunk shards evenly. Defaults to `1`.

    Returns:
        `{"length_chunks": tuple of dicts, "row_positions": (batch,) int32}`.

    Examples:

    >>> import numpy as np
    >>> mask = np.zeros((4, 64), dtype=bool)
    >>> for row, length in enumerate([40, 3, 20, 5]):
    ...     mask[row, :length] = True
    >>> tokens = {"token_ids": mask.astype("int32"), "padding_mask": mask}
    >>> split = split_into_length_chunks(tokens, buckets=2)
    >>> [tuple(chunk["token_ids"].shape) for chunk in split["length_chunks"]]
    [(2, 16), (2, 48)]
    >>> split["row_positions"].numpy().tolist()
    [3, 0, 2, 1]
    """
    import tensorflow as tf

    mask = tf.convert_to_tensor(inputs["padding_mask"])
    lengths = tf.reduce_sum(tf.cast(mask, "int32"), axis=1)
    full_width = tf.shape(mask)[1]
    widths = tf.constant(ENCODING_WIDTHS + (ENCODING_WIDTHS[-1],), "int32")
    order = tf.argsort(lengths, stable=True)
    units = tf.shape(lengths)[0] // rows_multiple
    chunks = []
    for bucket in range(buckets):
        start = (units * bucket) // buckets * rows_multiple
        stop = (units * (bucket + 1)) // buckets * rows_multiple
        chunk_rows = order[start:stop]
        longest = tf.maximum(tf.reduce_max(tf.gather(lengths, chunk_rows)), 1)
        fixed = tf.gather(widths, tf.searchsorted(widths[:-1], longest[None])[0])
        width = tf.where(longest > widths[-1], full_width, tf.minimum(fixed, full_width))
        chunks.append(
            {name: tf.gather(value, chunk_rows)[:, :width] for name, value in inputs.items()}
        )
    return {LENGTH_CHUNKS: tuple(chunks), ROW_POSITIONS: tf.argsort(order)}


def call_on_length_chunks(
    encode_chunk: Callable[[dict[str, Tensor]], Tensor], inputs: Mapping[str, Any]
) -> Tensor:
    """Encodes the chunks of `split_into_length_chunks` and restores the input row order.

    Args:
        encode_chunk: callable. Maps a dict of `(rows, width)` inputs to
            `(rows, dim)` embeddings.
        inputs: the output of `split_into_length_chunks`.

    Returns:
        The `(batch, dim)` embeddings, in the order of the rows before the split.

    Examples:

    >>> import numpy as np
    >>> mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 0, 0]], dtype=bool)
    >>> split = split_into_length_chunks({"padding_mask": mask}, buckets=2)
    >>> def count_tokens(chunk):
    ...     return ops.sum(ops.cast(chunk["padding_mask"], "float32"), axis=1, keepdims=True)
    >>> ops.convert_to_numpy(call_on_length_chunks(count_tokens, split))[:, 0].tolist()
    [3.0, 1.0, 2.0]
    """
    embeddings = [encode_chunk(dict(chunk)) for chunk in inputs[LENGTH_CHUNKS]]
    return ops.take(ops.concatenate(embeddings, axis=0), inputs[ROW_POSITIONS], axis=0)


def is_split_into_length_chunks(inputs: Any) -> bool:
    """Whether `inputs` is the output of `split_into_length_chunks`."""
    return isinstance(inputs, collections.abc.Mapping) and LENGTH_CHUNKS in inputs
