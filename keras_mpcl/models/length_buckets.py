"""Runs an encoder on a padded batch in chunks of similar length, to skip most padding."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keras import ops

from keras_mpcl.backend import is_traced_by_jax_jit

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from keras_mpcl.typing import Tensor


def length_buckets_under_xla_error(
    setting: str = "`length_buckets` > 1",
    fix: str = "Compile the model with `jit_compile=False` (TensorFlow then runs the graph "
    "without XLA; un-jitted JAX is slow, so prefer TensorFlow or PyTorch), or use "
    "`length_buckets=1`.",
    error_class: type[Exception] = ValueError,
) -> Exception:
    """The error refusing length buckets under XLA or `jax.jit`, which need static shapes.

    Args:
        setting: str. What asked for length buckets, as the user wrote it.
            Defaults to `` "`length_buckets` > 1" ``.
        fix: str. How to fix it, in the user's terms (a model argument, a
            config key). Defaults to the model's `jit_compile=False`.
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
    and un-jitted JAX; XLA and `jax.jit` cannot compile it.

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
