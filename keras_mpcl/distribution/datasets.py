"""Input pipelines per replica: what each one reads, and cutting global batches into slices."""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorflow as tf

ShardSpec = collections.namedtuple(
    "ShardSpec", ["num_shards", "shard_index", "replicas_per_batch"]
)
ShardSpec.__doc__ = """What one input pipeline must produce.

    `num_shards` / `shard_index`: this pipeline's disjoint share of the groups
    (one share per worker). `replicas_per_batch`: how many replicas one batch
    of the pipeline feeds, i.e. multiply the per-replica `groups_per_batch`
    by it: the replicas of this worker on TensorFlow (each global batch is
    cut into one slice of whole groups per replica), the number of replicas
    on JAX (Keras splits the global batch) and on PyTorch DDP (every process
    reads the global batches and keeps its own slice).

    Examples:

    >>> spec = ShardSpec(num_shards=2, shard_index=1, replicas_per_batch=1)
    >>> spec.shard_index
    1
    """


def split_global_batches(dataset: tf.data.Dataset, num_slices: int) -> tf.data.Dataset:
    """Cuts each `(texts, group_ids)` batch of a `tf.data.Dataset` into `num_slices` elements.

    Slice `r` of a batch of `N` rows is rows `r * N / num_slices` to
    `(r + 1) * N / num_slices - 1`; with batches of whole groups of equal
    size (as `group_dataset` makes them) and `N` a multiple of `num_slices`
    groups, every slice holds whole groups.

    Args:
        dataset: a `tf.data.Dataset` of batches (tuples of tensors whose
            first dimension is a multiple of `num_slices`).
        num_slices: int. Slices per batch; `1` returns `dataset` unchanged.

    Returns:
        A `tf.data.Dataset` with `num_slices` consecutive elements per batch.

    Examples:

    >>> import tensorflow as tf
    >>> batches = tf.data.Dataset.from_tensors(
    ...     (tf.constant(["a", "b", "c", "d"]), tf.constant([0, 0, 1, 1])))
    >>> [ids.tolist() for _, ids in split_global_batches(batches, 2).as_numpy_iterator()]
    [[0, 0], [1, 1]]
    """
    import tensorflow as tf

    if num_slices == 1:
        return dataset

    def cut(*batch):
        return tf.data.Dataset.from_tensor_slices(
            tf.nest.map_structure(
                lambda t: tf.reshape(t, tf.concat([[num_slices, -1], tf.shape(t)[1:]], 0)),
                batch,
            )
        )

    return dataset.flat_map(cut)
