"""Cross-replica collectives for the loss: replica counts, gathering, loss scaling.

This is the only part of `keras_mpcl.distribution` that `keras_mpcl.losses`
imports. With `gather_across_replicas` on, `MultiPositiveContrastiveLoss`
gathers every replica's embeddings and group ids (`gather_replica_batch`), so
that every replica's groups are negatives for every other replica's anchors,
and turns its share of the global loss into the loss its backend expects
(`replica_share_to_loss`).

How each backend sees the global batch:

- JAX: under `keras.distribution.DataParallel` the train step is one jitted
  program over the global batch (sharded along the batch axis by GSPMD), so
  the loss already sees every device's rows; no gathering is needed.
- TensorFlow: each replica runs the loss on its own slice in a replica
  context; the loss all-gathers embeddings and group ids (gradients flow back
  through the gather) and `MirroredStrategy` sums the replicas' gradients.
- PyTorch: each process runs the loss on its own batch; the loss all-gathers
  with `torch.distributed.nn.functional.all_gather` (autograd-aware) and
  `DistributedDataParallel` averages the processes' gradients.

In the gathering backends, group ids are made unique per replica
(`id * num_replicas + replica_index`), so each replica's batch must hold
whole groups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

if TYPE_CHECKING:
    from keras_mpcl.typing import Tensor

GATHER_OPTIONS = (True, False, "auto")
PADDING_ID = -1


def _backend():
    return keras.backend.backend()


def torch_world() -> tuple[int, int]:
    """`(world_size, rank)` of the `torch.distributed` process group, `(1, 0)` without one.

    Returns:
        A tuple of two ints.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def num_replicas_in_sync() -> int:
    """Number of replicas a TensorFlow `tf.distribute` strategy runs in sync (1 elsewhere).

    This is the count Keras divides mean losses by on TensorFlow. PyTorch's
    `DistributedDataParallel` averages gradients itself and JAX computes the
    loss on the global batch, so both count as 1 here.

    Examples:

    >>> num_replicas_in_sync()
    1
    """
    if _backend() == "tensorflow":
        import tensorflow as tf

        return tf.distribute.get_strategy().num_replicas_in_sync
    return 1


def scale_loss_for_replicas(value: Tensor) -> Tensor:
    """Divides a per-replica mean loss by the replica count, as Keras' losses do.

    Under `tf.distribute` each replica's gradients are summed, so a mean over a
    replica's batch must be divided by the number of replicas for the update to
    equal the global-batch mean. Other backends need no scaling.

    Examples:

    >>> float(scale_loss_for_replicas(keras.ops.convert_to_tensor(2.0)))
    2.0
    """
    replicas = num_replicas_in_sync()
    if replicas > 1:
        value = value * (1.0 / replicas)
    return value


def check_gather_option(gather_across_replicas: bool | str) -> None:
    """Raises a clear error unless the option is `True`, `False` or `"auto"`.

    Examples:

    >>> check_gather_option("auto")
    >>> check_gather_option("yes")
    Traceback (most recent call last):
        ...
    ValueError: `gather_across_replicas` should be True, False or 'auto'. Received: ...
    """
    if not (
        gather_across_replicas is True
        or gather_across_replicas is False
        or (isinstance(gather_across_replicas, str) and gather_across_replicas == "auto")
    ):
        raise ValueError(
            "`gather_across_replicas` should be True, False or 'auto'. "
            f"Received: `gather_across_replicas` = {gather_across_replicas!r}"
        )


def replica_info() -> tuple[int, int | Tensor]:
    """`(num_replicas, replica_index)` of the replicas whose batches can be gathered here.

    TensorFlow: the current replica context of a `tf.distribute` strategy
    (`(1, 0)` outside `strategy.run`, i.e. in cross-replica context; the index
    may be a scalar tensor). PyTorch: the `torch.distributed` world size and
    rank. JAX: always `(1, 0)`, because the loss already sees the global batch.

    Examples:

    >>> replica_info()
    (1, 0)
    """
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return 1, 0
        return context.num_replicas_in_sync, context.replica_id_in_sync_group
    if backend == "torch":
        return torch_world()
    return 1, 0


def should_gather(gather_across_replicas: bool | str) -> bool:
    """Whether the loss should gather the batches of all replicas now.

    `False`: never. `True`: whenever there is more than one replica.
    `"auto"`: when there is more than one replica and every replica is known
    to call the loss in lockstep: inside a TensorFlow replica context, or in a
    PyTorch process group while gradients are recorded (a training step; a
    rank evaluating alone under `torch.no_grad()` then cannot deadlock).

    Examples:

    >>> should_gather("auto"), should_gather(True), should_gather(False)
    (False, False, False)
    """
    check_gather_option(gather_across_replicas)
    if gather_across_replicas is False:
        return False
    num_replicas, _ = replica_info()
    if num_replicas == 1:
        return False
    if gather_across_replicas == "auto" and _backend() == "torch":
        import torch

        return torch.is_grad_enabled()
    return True


def unique_group_ids(
    group_ids: Tensor, num_replicas: int, replica_index: int | Tensor
) -> Tensor:
    """Makes per-replica group ids unique across replicas; padding stays `-1`.

    `id -> id * num_replicas + replica_index`, so two replicas that both
    number their groups from 0 never share an id (a shared id would turn the
    other replica's group into false positives). Groups must therefore not
    be split across replicas.

    Args:
        group_ids: int tensor `(N,)`, `-1` for padding.
        num_replicas: int. Number of replicas.
        replica_index: int or scalar int tensor. This replica's index.

    Returns:
        A tensor `(N,)` of the dtype of `group_ids`.

    Examples:

    >>> import numpy as np
    >>> ids = unique_group_ids(np.array([0, 0, 1, -1], "int32"), 4, 3)
    >>> keras.ops.convert_to_numpy(ids).tolist()
    [3, 3, 7, -1]
    """
    ops = keras.ops
    group_ids = ops.convert_to_tensor(group_ids)
    replica_index = ops.cast(replica_index, keras.backend.standardize_dtype(group_ids.dtype))
    shifted = group_ids * num_replicas + replica_index
    return ops.where(ops.equal(group_ids, PADDING_ID), PADDING_ID, shifted)


def _tf_gather(group_ids, embeddings, num_replicas, replica_index):
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    # `ReplicaContext.all_gather` is differentiable: the gradient of the
    # gathered rows is summed over replicas and sliced back to each one.
    all_embeddings = context.all_gather(embeddings, axis=0)
    all_ids = context.all_gather(group_ids, axis=0)
    # Replicas may hold different row counts (a last partial batch).
    sizes = context.all_gather(tf.shape(group_ids)[:1], axis=0)
    start = tf.reduce_sum(tf.where(tf.range(num_replicas) < replica_index, sizes, 0))
    positions = start + tf.range(tf.shape(group_ids)[0])
    return all_ids, all_embeddings, positions


def _torch_gather(group_ids, embeddings, num_replicas, replica_index):
    import torch
    import torch.distributed as dist
    import torch.distributed.nn.functional as dist_nn

    size = torch.tensor([group_ids.shape[0]], device=group_ids.device)
    sizes = [torch.zeros_like(size) for _ in range(num_replicas)]
    dist.all_gather(sizes, size)
    max_size = int(max(int(s) for s in sizes))
    pad = max_size - group_ids.shape[0]
    # `all_gather` needs equal shapes: pad with padding rows, which the loss
    # ignores as anchors and as candidates.
    if pad:
        embeddings = torch.nn.functional.pad(embeddings, (0, 0, 0, pad))
        group_ids = torch.nn.functional.pad(group_ids, (0, pad), value=PADDING_ID)
    all_embeddings = torch.cat(dist_nn.all_gather(embeddings), dim=0)
    id_list = [torch.empty_like(group_ids) for _ in range(num_replicas)]
    dist.all_gather(id_list, group_ids.contiguous())
    all_ids = torch.cat(id_list, dim=0)
    positions = replica_index * max_size + torch.arange(
        max_size - pad, device=group_ids.device
    )
    return all_ids, all_embeddings, positions


def gather_replica_batch(
    group_ids: Tensor, embeddings: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gathers the group ids and embeddings of all replicas, with gradients.

    Args:
        group_ids: integer tensor `(n,)`: this replica's group ids, `-1` = pad.
        embeddings: float tensor `(n, D)`: this replica's embeddings.

    Returns:
        A tuple `(local_ids, all_ids, all_embeddings, positions)`: this
        replica's ids made unique across replicas (`unique_group_ids`), the
        `(M,)` ids and `(M, D)` embeddings of all replicas in replica order
        (gradients flow back to every replica's embeddings), and the `(n,)`
        int positions of this replica's rows among the `M`. With one replica
        the inputs come back unchanged with positions `0..n-1`.

    Examples:

    >>> import numpy as np
    >>> ids, all_ids, emb, pos = gather_replica_batch(
    ...     np.array([0, 0], "int32"), np.ones((2, 3), "float32"))
    >>> keras.ops.convert_to_numpy(pos).tolist(), tuple(emb.shape)
    ([0, 1], (2, 3))
    """
    ops = keras.ops
    num_replicas, replica_index = replica_info()
    if num_replicas == 1:
        return group_ids, group_ids, embeddings, ops.arange(ops.shape(group_ids)[0])
    # 64 bits: `id * R + r` (made unique across replicas) must not overflow.
    group_ids = ops.cast(group_ids, "int64")
    local_ids = unique_group_ids(group_ids, num_replicas, replica_index)
    if _backend() == "tensorflow":
        gathered = _tf_gather(local_ids, embeddings, num_replicas, replica_index)
    else:
        gathered = _torch_gather(local_ids, embeddings, num_replicas, replica_index)
    return (local_ids,) + gathered


def sum_across_replicas(value: Tensor) -> Tensor:
    """Sum of a (non-differentiable) tensor over all replicas, e.g. anchor counts.

    Examples:

    >>> float(sum_across_replicas(keras.ops.convert_to_tensor(3.0)))
    3.0
    """
    num_replicas, _ = replica_info()
    if num_replicas == 1:
        return value
    if _backend() == "tensorflow":
        import tensorflow as tf

        return tf.distribute.get_replica_context().all_reduce(
            "sum", tf.stop_gradient(value)
        )
    import torch.distributed as dist

    total = value.detach().clone()
    dist.all_reduce(total)
    return total


def replica_share_to_loss(share: Tensor) -> Tensor:
    """Turns this replica's share of the global loss into the loss it must return.

    The shares of all replicas sum to the global-batch loss. TensorFlow's
    strategies sum the replicas' gradients, so the share is returned as is;
    `DistributedDataParallel` averages them, so it is multiplied by the world
    size. Either way one distributed step equals one single-device step on
    the global batch.

    Examples:

    >>> float(replica_share_to_loss(keras.ops.convert_to_tensor(0.5)))
    0.5
    """
    if _backend() == "torch":
        num_replicas, _ = torch_world()
        if num_replicas > 1:
            return share * num_replicas
    return share
