"""Per-backend distribution helpers: the one module that branches on the backend.

Three things live here, so that the rest of the package stays backend-free:

1. Device set-up: `configure(strategy=...)` picks each backend's own engine
   (`tf.distribute` strategies on TensorFlow, `keras.distribution.DataParallel`
   on JAX, `torch.distributed` + `DistributedDataParallel` on PyTorch) and
   returns a `DistributionSetup` whose `scope()` the model is built and
   compiled under, and whose `distribute_dataset()` shards the input.
2. Cross-replica collectives for the loss: `gather_replica_batch` and
   `sum_across_replicas`, used by `MultiPositiveContrastiveLoss` when
   `gather_across_replicas` is on, so that every replica's groups are
   negatives for every other replica's anchors.
3. `ddp_fit`, a small training loop for PyTorch, because Keras' torch `fit`
   does not wrap the model in `DistributedDataParallel`.

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
whole groups; `distribute_dataset` gives every replica its own batches of
whole groups.
"""

import collections
import contextlib
import dataclasses
import json
import os
import time
import weakref
from typing import Any

import keras
import numpy as np

STRATEGIES = ("auto", "none", "data_parallel", "mirrored", "tpu", "multi_worker", "ddp")
GATHER_OPTIONS = (True, False, "auto")
PADDING_ID = -1

# Which strategy names each backend understands, and what they become.
_BACKEND_STRATEGIES = {
    "tensorflow": {
        "data_parallel": "mirrored",
        "mirrored": "mirrored",
        "tpu": "tpu",
        "multi_worker": "multi_worker",
    },
    "jax": {
        "data_parallel": "data_parallel",
        "tpu": "data_parallel",
        "multi_worker": "multi_worker",
    },
    "torch": {
        "data_parallel": "ddp",
        "ddp": "ddp",
        "multi_worker": "ddp",
    },
}

ShardSpec = collections.namedtuple(
    "ShardSpec", ["num_shards", "shard_index", "replicas_per_batch"]
)
ShardSpec.__doc__ = """What one input pipeline must produce.

    `num_shards` / `shard_index`: this pipeline's disjoint share of the groups
    (one share per worker). `replicas_per_batch`: how many replicas one batch
    of the pipeline feeds, i.e. multiply the per-replica `groups_per_batch`
    by it: the replicas of this worker on TensorFlow (each global batch is
    cut into one slice of whole groups per replica), the number of devices
    on JAX (Keras splits the global batch), 1 on PyTorch (one process per
    replica).
    """


def _backend():
    return keras.backend.backend()


# ---------------------------------------------------------------------------
# Loss scaling and cross-replica collectives (used by keras_mpcl.losses).
# ---------------------------------------------------------------------------


def num_replicas_in_sync():
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


def scale_loss_for_replicas(value):
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


def check_gather_option(gather_across_replicas):
    """Raises a clear error unless the option is `True`, `False` or `"auto"`."""
    if not (
        gather_across_replicas is True
        or gather_across_replicas is False
        or (isinstance(gather_across_replicas, str) and gather_across_replicas == "auto")
    ):
        raise ValueError(
            "`gather_across_replicas` should be True, False or 'auto'. "
            f"Received: `gather_across_replicas` = {gather_across_replicas!r}"
        )


def _torch_world():
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def replica_info():
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
        return _torch_world()
    return 1, 0


def should_gather(gather_across_replicas):
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


def unique_group_ids(group_ids, num_replicas, replica_index):
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


def gather_replica_batch(group_ids, embeddings):
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


def sum_across_replicas(value):
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


def replica_share_to_loss(share):
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
        num_replicas, _ = _torch_world()
        if num_replicas > 1:
            return share * num_replicas
    return share


# ---------------------------------------------------------------------------
# Device set-up.
# ---------------------------------------------------------------------------


def _tf_logical_devices(kind):
    import tensorflow as tf

    return tf.config.list_logical_devices(kind)


def _tf_num_workers():
    """Workers listed in `TF_CONFIG` (MultiWorkerMirroredStrategy's cluster)."""
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    except json.JSONDecodeError as error:
        raise ValueError(
            f"`TF_CONFIG` is not valid JSON ({error}). Received: {os.environ['TF_CONFIG']!r}"
        ) from error
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def simulate_cpu_devices(count):
    """Splits the host CPU into `count` devices, to try multi-device code on a laptop.

    TensorFlow: `count` logical CPU devices (call before TensorFlow has
    initialised its devices). JAX: sets
    `XLA_FLAGS=--xla_force_host_platform_device_count=count` (call before JAX
    initialises). PyTorch: nothing to do; launch
    `torchrun --nproc_per_node=count` with the gloo backend instead.

    Args:
        count: int. Number of devices to simulate, >= 1.

    Raises:
        RuntimeError: when the backend already initialised other devices.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(
            f"`count` should be a positive int. Received: `count` = {count!r}"
        )
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * count
            )
        except RuntimeError as error:
            if len(tf.config.list_logical_devices("CPU")) != count:
                raise RuntimeError(
                    f"TensorFlow already initialised its devices, so {count} CPU "
                    "devices cannot be simulated any more; call "
                    "`simulate_cpu_devices` at the start of the program."
                ) from error
    elif backend == "jax":
        flag = f"--xla_force_host_platform_device_count={count}"
        flags = os.environ.get("XLA_FLAGS", "")
        if flag not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()
        import jax

        if jax.device_count() != count and jax.default_backend() == "cpu":
            raise RuntimeError(
                f"JAX already initialised with {jax.device_count()} devices, so "
                f"{count} cannot be simulated any more; set "
                f"XLA_FLAGS={flag} before JAX starts."
            )


@keras.saving.register_keras_serializable(package="keras_mpcl")
class AllReducedClippingAdamW(keras.optimizers.AdamW):
    """AdamW that clips by global norm the gradient summed over TensorFlow replicas.

    Keras' optimizer clips each replica's own gradient before the replicas'
    gradients are summed, so under a `tf.distribute` strategy
    `global_clipnorm` bounds every share instead of the step's gradient,
    and a multi-device run drifts from the single-device run on the same
    global batches. This subclass sums first, then clips, as JAX
    (`DataParallel`) and PyTorch (DDP) do. Without a strategy it is AdamW.

    Args:
        all_reduced_clipnorm: float. The bound on the global norm of the
            summed gradient.
        **kwargs: `keras.optimizers.AdamW` arguments, without clipping ones.
    """

    def __init__(self, all_reduced_clipnorm, **kwargs):
        super().__init__(**kwargs)
        self.all_reduced_clipnorm = float(all_reduced_clipnorm)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        # The one override, of Keras' TensorFlow optimizer (keras 3.x).
        import tensorflow as tf

        pairs = list(super()._all_reduce_sum_gradients(grads_and_vars))
        clipped, _ = tf.clip_by_global_norm([g for g, _ in pairs], self.all_reduced_clipnorm)
        # Dense, as Keras' own clipping leaves them: Adam's update of a sparse
        # (embedding) gradient would differ from the single-device one.
        clipped = [None if g is None else tf.convert_to_tensor(g) for g in clipped]
        return list(zip(clipped, [v for _, v in pairs]))

    def get_config(self):
        return {**super().get_config(), "all_reduced_clipnorm": self.all_reduced_clipnorm}


def split_global_batches(dataset, num_slices):
    """Cuts each `(texts, group_ids)` batch of a `tf.data.Dataset` into `num_slices` elements.

    Slice `r` of a batch of `N` rows is rows `r * N / num_slices` to
    `(r + 1) * N / num_slices - 1`; with batches of whole groups of equal
    size (as `group_dataset` makes them) and `N` a multiple of `num_slices`
    groups, every slice holds whole groups.

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


@dataclasses.dataclass
class DistributionSetup:
    """What `configure` set up: build and compile the model under `scope()`.

    Attributes:
        backend: str. The Keras backend.
        strategy: str. The resolved strategy: `"none"`, `"mirrored"`,
            `"tpu"`, `"multi_worker"` (TensorFlow), `"data_parallel"`,
            `"multi_worker"` (JAX) or `"ddp"` (PyTorch).
        num_replicas: int. Replicas (devices or processes) training in sync.
        num_workers: int. Input pipelines, one per host / process.
        worker_index: int. This worker's index in `[0, num_workers)`.
        engine: the backend object: a `tf.distribute.Strategy`, a
            `keras.distribution.Distribution`, the `torch.device` of this
            process, or `None`.
    """

    backend: str
    strategy: str
    num_replicas: int
    num_workers: int
    worker_index: int
    engine: Any = None

    def scope(self):
        """Context manager to build and compile the model under."""
        if self.backend == "tensorflow" and self.engine is not None:
            return self.engine.scope()
        if self.backend == "jax" and self.engine is not None:
            return self.engine.scope()
        return contextlib.nullcontext()

    def shard_spec(self):
        """The `ShardSpec` the input pipeline of this worker must follow."""
        if self.backend == "jax":
            # Keras' DataParallel splits the global batches itself (across
            # processes too), so every process reads the same global stream.
            return ShardSpec(1, 0, self.num_replicas)
        # TensorFlow: global batches for this worker's replicas (cut per
        # replica by `distribute_dataset`); PyTorch: one process per replica.
        per_batch = self.num_replicas // self.num_workers if self.backend == "tensorflow" else 1
        return ShardSpec(self.num_workers, self.worker_index, per_batch)

    def distribute_dataset(self, dataset_fn):
        """Builds the input for `fit` (or `ddp_fit`) from a dataset function.

        Args:
            dataset_fn: callable taking a `ShardSpec` and returning a
                `tf.data.Dataset` of `(inputs, group_ids)` batches of whole
                groups: shard `spec.shard_index` of `spec.num_shards` of the
                groups, `spec.replicas_per_batch` times the per-replica
                number of groups per batch.

        Returns:
            On TensorFlow with a strategy, a distributed dataset in which each
            replica gets its own batches; elsewhere the `tf.data.Dataset`.
        """
        if self.backend == "tensorflow" and self.engine is not None:
            import tensorflow as tf

            def replica_dataset(input_context):
                # Each pipeline reads global batches (for its worker's replicas)
                # and cuts each into consecutive per-replica elements of whole
                # groups; the strategy hands a worker's replicas consecutive
                # elements, so one step trains on one global batch, as on one
                # device. (Replicas reading their own consecutive batches could
                # put one group on two replicas of a step at an epoch boundary.)
                replicas = (
                    input_context.num_replicas_in_sync // input_context.num_input_pipelines
                )
                spec = ShardSpec(
                    input_context.num_input_pipelines, input_context.input_pipeline_id, replicas
                )
                return split_global_batches(dataset_fn(spec), replicas)

            return self.engine.distribute_datasets_from_function(
                replica_dataset,
                options=tf.distribute.InputOptions(
                    experimental_fetch_to_device=True
                ),
            )
        return dataset_fn(self.shard_spec())

    def fit(self, model, dataset_fn, *, epochs=1, steps_per_epoch, **kwargs):
        """Trains a compiled model on `dataset_fn`'s batches on every replica.

        TensorFlow with a strategy: each replica reads its own batches
        (`distribute_dataset`), a keras-hub task's `preprocessor` runs inside
        each replica's `tf.data` pipeline, the model is built from one batch
        (`build_model`), and Keras' `fit` runs the replicas. JAX and one
        device: the model's own `fit` on `dataset_fn`'s batches. PyTorch DDP:
        `ddp_fit` with the compiled loss and optimizer for
        `epochs * steps_per_epoch` steps; it runs no Keras callbacks, so
        `callbacks` (or any argument but `verbose`) is refused there.

        Args:
            model: a model compiled under `scope()` with the MPCL loss.
            dataset_fn: callable `ShardSpec -> tf.data.Dataset` of
                `(inputs, group_ids)` batches that repeats (see
                `distribute_dataset`).
            epochs: int. Defaults to `1`.
            steps_per_epoch: int. Steps per epoch.
            **kwargs: passed to `fit` (e.g. `callbacks`, `verbose`).

        Returns:
            A dict of per-epoch (per-step under DDP) `"loss"` values.
        """
        if self.backend == "torch" and self.strategy == "ddp":
            # `ddp_fit` runs no Keras callbacks: refuse them rather than drop
            # checkpoints, resumption or logs without a word.
            dropped = sorted(
                key for key, value in kwargs.items()
                if key != "verbose" and not (key == "shuffle" and value is False)
                and not (key == "callbacks" and not value)
            )
            if dropped:
                raise ValueError(
                    f"Under torchrun / DDP, `fit` runs `ddp_fit`, which does not support "
                    f"{', '.join(f'`{k}`' for k in dropped)} (no Keras callbacks: no "
                    "BackupAndRestore, checkpoints, CSVLogger or TensorBoard). Remove them "
                    "and save the model after `fit` returns, or train on TensorFlow or JAX, "
                    "whose multi-device `fit` runs callbacks."
                )
            history = ddp_fit(
                model,
                dataset_fn(self.shard_spec()),
                loss=model.loss,
                optimizer=model.optimizer,
                steps=epochs * steps_per_epoch,
                verbose=kwargs.get("verbose", 1),
            )
            return history
        if self.backend == "tensorflow" and self.engine is not None:
            preprocessor = getattr(model, "preprocessor", None)

            def replica_dataset(spec):
                dataset = dataset_fn(spec)
                if preprocessor is not None:
                    import tensorflow as tf

                    dataset = dataset.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
                    # Keras' `fit` averages the first distributed batch over
                    # replicas, which fails on booleans (keras-hub padding
                    # masks); the backbones take int32 masks as well.
                    dataset = dataset.map(
                        lambda *batch: tf.nest.map_structure(
                            lambda t: tf.cast(t, "int32") if t.dtype == tf.bool else t,
                            batch,
                        )
                    )
                return dataset

            first = next(iter(dataset_fn(self.shard_spec())))
            self.build_model(model, first)
            # keras-hub's `fit` only takes a `tf.data.Dataset`; the batches are
            # preprocessed above, so Keras' own `fit` runs them.
            history = keras.Model.fit(
                model,
                self.distribute_dataset(replica_dataset),
                epochs=epochs,
                steps_per_epoch=steps_per_epoch,
                **kwargs,
            )
            return history.history
        history = model.fit(
            dataset_fn(self.shard_spec()),
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            **kwargs,
        )
        return history.history

    def build_model(self, model, batch):
        """Builds a compiled model's weights, compiled loss and optimizer from one batch.

        Call it after `compile` and before `fit`. Under a TensorFlow strategy
        `fit` otherwise builds the model from the first distributed batch
        averaged over replicas (Keras' `_maybe_symbolic_build`), which turns
        integer group ids into floats that the loss rejects. Harmless on the
        other backends.

        Args:
            model: a compiled `keras.Model`; a keras-hub task's
                `preprocessor` is applied to the batch first.
            batch: one `(inputs, group_ids)` batch (NumPy or tensors).
        """
        x, y = batch[0], batch[1]
        preprocessor = getattr(model, "preprocessor", None)
        if preprocessor is not None:
            x, y = preprocessor(x, y)[:2]
        with self.scope():
            # Outside `strategy.run`, so the loss does not gather here.
            y_pred = model(x)
            model.compute_loss(x=x, y=y, y_pred=y_pred)
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)

    def close(self):
        """Undoes global state: JAX's distribution, PyTorch's process group."""
        if self.backend == "jax":
            keras.distribution.set_distribution(None)
        elif self.backend == "torch" and self.strategy == "ddp":
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def _resolve(strategy, backend):
    if strategy not in STRATEGIES:
        raise ValueError(
            f"`strategy` should be one of {STRATEGIES}. Received: `strategy` = {strategy!r}"
        )
    if strategy == "none":
        return "none"
    if strategy == "auto":
        return _auto_strategy(backend)
    resolved = _BACKEND_STRATEGIES[backend].get(strategy)
    if resolved is None:
        supported = sorted(_BACKEND_STRATEGIES[backend]) + ["auto", "none"]
        hints = {
            "torch": " (TPUs: use the JAX or TensorFlow backend)",
            "tensorflow": " (`ddp` is PyTorch's; use `mirrored` or `data_parallel`)",
            "jax": " (`mirrored` is TensorFlow's; use `data_parallel`)",
        }
        raise ValueError(
            f"`strategy` = {strategy!r} is not available on the {backend} backend"
            f"{hints[backend]}. Supported there: {supported}"
        )
    return resolved


def _auto_strategy(backend):
    if backend == "tensorflow":
        if _tf_num_workers() > 1:
            return "multi_worker"
        if os.environ.get("TPU_NAME") or os.environ.get("TPU_ACCELERATOR_TYPE"):
            return "tpu"
        if len(_tf_logical_devices("GPU")) > 1 or len(_tf_logical_devices("CPU")) > 1:
            return "mirrored"
        return "none"
    if backend == "jax":
        import jax

        if os.environ.get("JAX_COORDINATOR_ADDRESS") or jax.process_count() > 1:
            return "multi_worker"
        return "data_parallel" if jax.device_count() > 1 else "none"
    return "ddp" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else "none"


def _configure_tensorflow(strategy, devices, tpu, communication):
    import tensorflow as tf

    if strategy == "mirrored":
        if devices is None and not _tf_logical_devices("GPU"):
            cpus = _tf_logical_devices("CPU")
            devices = [d.name for d in cpus] if len(cpus) > 1 else None
        engine = tf.distribute.MirroredStrategy(devices=devices)
        return engine, 1, 0
    if strategy == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        if tpu not in ("local",):
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        engine = tf.distribute.TPUStrategy(resolver)
        return engine, engine.extended.num_hosts, int(getattr(resolver, "task_id", 0) or 0)
    implementation = {
        "auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
        "ring": tf.distribute.experimental.CommunicationImplementation.RING,
        "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL,
    }
    if communication not in implementation:
        raise ValueError(
            "`communication` should be one of ('auto', 'ring', 'nccl'). "
            f"Received: `communication` = {communication!r}"
        )
    engine = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            implementation=implementation[communication]
        )
    )
    resolver = engine.cluster_resolver
    return engine, max(_tf_num_workers(), 1), int(resolver.task_id or 0)


def _configure_jax(strategy, devices, mesh_shape, layout_map):
    import jax

    if strategy == "multi_worker":
        # jax.distributed.initialize reads the coordinator from the
        # environment (or the TPU / SLURM metadata).
        keras.distribution.initialize()
    devices = devices or keras.distribution.list_devices()
    if mesh_shape is None or int(mesh_shape[-1]) == 1:
        if layout_map is not None:
            raise ValueError(
                "`layout_map` needs a `mesh_shape` = (batch, model) with a model "
                f"axis > 1. Received: `mesh_shape` = {mesh_shape!r}"
            )
        engine = keras.distribution.DataParallel(devices=devices)
    else:
        mesh_shape = tuple(int(d) for d in mesh_shape)
        if len(mesh_shape) != 2 or mesh_shape[0] * mesh_shape[1] != len(devices):
            raise ValueError(
                "`mesh_shape` should be (batch, model) with batch * model = "
                f"{len(devices)} devices. Received: `mesh_shape` = {mesh_shape}"
            )
        mesh = keras.distribution.DeviceMesh(
            shape=mesh_shape, axis_names=("batch", "model"), devices=devices
        )
        if layout_map is None:
            raise ValueError(
                "`mesh_shape` with a model axis > 1 needs a `layout_map` "
                "(`keras.distribution.LayoutMap(mesh)` naming which weights are "
                "split along 'model'); use `mesh_shape=None` for pure data "
                "parallelism."
            )
        if callable(layout_map) and not isinstance(
            layout_map, keras.distribution.LayoutMap
        ):
            layout_map = layout_map(mesh)
        engine = keras.distribution.ModelParallel(
            layout_map=layout_map, batch_dim_name="batch"
        )
    keras.distribution.set_distribution(engine)
    num_replicas = len(devices) if mesh_shape is None else int(mesh_shape[0])
    return engine, num_replicas, jax.process_count(), jax.process_index()


def _configure_torch():
    import torch
    import torch.distributed as dist

    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing and not dist.is_initialized():
        raise RuntimeError(
            f"strategy 'ddp' needs the process environment that torchrun sets "
            f"(missing: {', '.join(missing)}). Launch with e.g. "
            "`torchrun --nproc_per_node=2 recipes/distributed/train_distributed.py ...`"
        )
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return device, dist.get_world_size(), dist.get_rank()


_CURRENT = None


def configure(
    strategy="auto",
    *,
    devices=None,
    mesh_shape=None,
    layout_map=None,
    tpu=None,
    communication="auto",
):
    """Sets up multi-device training with the current backend's own engine.

    | strategy          | TensorFlow                   | JAX                                   | PyTorch              |
    |-------------------|------------------------------|---------------------------------------|----------------------|
    | `"none"`          | default strategy             | no distribution                       | one process          |
    | `"data_parallel"` | `MirroredStrategy`           | `keras.distribution.DataParallel`     | DDP (torchrun)       |
    | `"mirrored"`      | `MirroredStrategy`           | error                                 | error                |
    | `"tpu"`           | `TPUStrategy`                | `DataParallel` on the TPU cores       | error                |
    | `"multi_worker"`  | `MultiWorkerMirroredStrategy`| `jax.distributed` + `DataParallel`    | DDP (torchrun)       |
    | `"ddp"`           | error                        | error                                 | DDP (torchrun)       |
    | `"auto"`          | by `TF_CONFIG`, TPU, devices | by process and device count           | by `WORLD_SIZE`      |

    Build and compile the model under `setup.scope()`, feed `fit` with
    `setup.distribute_dataset(dataset_fn)`, and on PyTorch with `"ddp"` train
    with `ddp_fit`. JAX's distribution is set globally
    (`keras.distribution.set_distribution`); `setup.close()` undoes it.

    Args:
        strategy: str. One of `STRATEGIES` (table above). Defaults to `"auto"`.
        devices: optional list of device names for `"mirrored"` (TensorFlow,
            e.g. `["/gpu:0", "/gpu:1"]`) or `"data_parallel"` (JAX, e.g.
            `keras.distribution.list_devices()[:4]`). Defaults to all: every
            GPU, or every logical CPU when there is no GPU.
        mesh_shape: optional `(batch, model)` JAX device mesh; with a model
            axis > 1 the weights named in `layout_map` are split across it
            (`keras.distribution.ModelParallel`). Defaults to `None`
            (pure data parallelism).
        layout_map: a `keras.distribution.LayoutMap`, or a callable taking the
            `DeviceMesh` and returning one; only with `mesh_shape`.
        tpu: optional TPU name or address for `"tpu"` on TensorFlow (`"local"`
            on a TPU VM). Defaults to the environment's (`TPU_NAME`).
        communication: str. MultiWorkerMirroredStrategy's collectives,
            `"auto"`, `"ring"` or `"nccl"`. Defaults to `"auto"`.

    Returns:
        A `DistributionSetup`.

    Examples:

    >>> setup = configure("none")
    >>> setup.strategy, setup.num_replicas, shard_info()
    ('none', 1, (1, 0))
    >>> with setup.scope():
    ...     model = keras.Sequential([keras.layers.Dense(4)])
    """
    global _CURRENT
    backend = _backend()
    resolved = _resolve(strategy, backend)
    if resolved == "none":
        setup = DistributionSetup(backend, "none", 1, 1, 0, None)
    elif backend == "tensorflow":
        engine, workers, index = _configure_tensorflow(
            resolved, devices, tpu, communication
        )
        setup = DistributionSetup(
            backend, resolved, engine.num_replicas_in_sync, workers, index, engine
        )
    elif backend == "jax":
        engine, replicas, workers, index = _configure_jax(
            resolved, devices, mesh_shape, layout_map
        )
        setup = DistributionSetup(backend, resolved, replicas, workers, index, engine)
    else:
        device, world, rank = _configure_torch()
        setup = DistributionSetup(backend, "ddp", world, world, rank, device)
    _CURRENT = setup
    return setup


def shard_info():
    """`(num_workers, worker_index)`: which share of the groups this worker reads.

    From the last `configure` call if any, else from the environment: the
    `torch.distributed` world (PyTorch), the JAX processes, or `TF_CONFIG`'s
    task (TensorFlow). Give it to the data pipeline so that workers read
    disjoint groups.

    Examples:

    >>> shard_info()
    (1, 0)
    """
    if _CURRENT is not None:
        return _CURRENT.num_workers, _CURRENT.worker_index
    backend = _backend()
    if backend == "torch":
        return _torch_world()
    if backend == "jax":
        import jax

        return jax.process_count(), jax.process_index()
    workers = _tf_num_workers()
    if workers > 1:
        task = json.loads(os.environ["TF_CONFIG"]).get("task", {})
        index = int(task.get("index", 0))
        # The chief, when listed, is worker 0 and the workers follow it.
        cluster = json.loads(os.environ["TF_CONFIG"])["cluster"]
        if "chief" in cluster and task.get("type") == "worker":
            index += len(cluster["chief"])
        return workers, index
    return 1, 0


# ---------------------------------------------------------------------------
# PyTorch: a DistributedDataParallel training loop.
# ---------------------------------------------------------------------------


def _to_torch(structure, device):
    import torch

    return keras.tree.map_structure(
        lambda value: torch.as_tensor(np.array(value), device=device), structure
    )


_DDP_WRAPPERS = weakref.WeakKeyDictionary()


def _model_device(model):
    """The torch device of the model's weights, after registering them with torch.

    A Keras layer on torch registers its weights as `torch.nn.Parameter`s when
    it is first asked for them; a model asked before its weights existed
    (some keras-hub tasks) keeps an empty list, which DDP would see as a
    model without parameters. Registering again fixes that.
    """
    if len(list(model.parameters())) < len(model.trainable_variables):
        model._track_variables()
    if not model.trainable_variables:
        raise ValueError("The model has no trainable weights; build it before training.")
    return model.trainable_variables[0].value.device


def wrap_ddp(model, find_unused_parameters=True):
    """The model wrapped in `DistributedDataParallel`, created once per model.

    Wrapping broadcasts rank 0's weights to every rank. The wrapper is cached:
    a second DDP wrapper around the same weights would reduce the gradients
    twice. Without a process group the model comes back unwrapped.

    Args:
        model: a built `keras.Model` on the torch backend.
        find_unused_parameters: bool. Passed to DDP (see `ddp_fit`).
            Defaults to `True`.
    """
    import torch

    world, _ = _torch_world()
    if world == 1:
        return model
    if model not in _DDP_WRAPPERS:
        device = _model_device(model)
        _DDP_WRAPPERS[model] = torch.nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=find_unused_parameters,
        )
    return _DDP_WRAPPERS[model]


def ddp_fit(
    model,
    dataset,
    *,
    loss,
    optimizer,
    steps,
    find_unused_parameters=True,
    verbose=1,
):
    """Trains a built Keras model (torch backend) with `DistributedDataParallel`.

    Keras' torch `fit` does not wrap the model in DDP (see keras.io's guide
    "Multi-GPU distributed training with PyTorch"), so this loop does: the
    model's weights are broadcast from rank 0 when it is wrapped, each rank
    runs its own batches (from `DistributionSetup.distribute_dataset`),
    the loss gathers all ranks' embeddings (`gather_across_replicas`), DDP
    averages the gradients during `backward`, and the Keras optimizer
    applies them, so its learning-rate schedule, weight decay and clipping
    work as in `fit`. A keras-hub task's `preprocessor` is applied to the
    batches as `fit` would. Without a process group it trains the plain
    model, so the same loop runs on one process.

    Args:
        model: a built `keras.Model` (e.g. a keras-hub `TextEmbedder`).
        dataset: a `tf.data.Dataset` (or iterable) of `(inputs, group_ids)`;
            restarted when exhausted.
        loss: a Keras loss, e.g. `MultiPositiveContrastiveLoss()`.
        optimizer: a `keras.optimizers.Optimizer`.
        steps: int. Number of optimizer steps.
        find_unused_parameters: bool. Passed to DDP; keras-hub backbones hold
            weights a text embedder does not use (e.g. the pooler), which DDP
            rejects otherwise. Defaults to `True`.
        verbose: int. 1 shows a Keras progress bar on rank 0, 0 is silent.
            Defaults to `1`.

    Returns:
        A dict `{"loss": [...], "seconds": [...]}`: the global-batch loss of
        every step (averaged over ranks) and its wall time.
    """
    if _backend() != "torch":
        raise RuntimeError(
            "`ddp_fit` is the PyTorch training loop; on the "
            f"{_backend()} backend use `model.fit` under `configure(...).scope()`."
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"`steps` should be a positive int. Received: `steps` = {steps!r}")
    import torch
    import torch.distributed as dist

    world, rank = _torch_world()
    device = _model_device(model)
    trainer = wrap_ddp(model, find_unused_parameters=find_unused_parameters)
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is not None and hasattr(dataset, "map"):
        import tensorflow as tf

        dataset = dataset.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
    variables = model.trainable_variables
    optimizer.build(variables)
    progbar = keras.utils.Progbar(steps) if verbose and rank == 0 else None
    history = {"loss": [], "seconds": []}

    def batches():
        while True:
            source = dataset.as_numpy_iterator() if hasattr(dataset, "as_numpy_iterator") else dataset
            empty = True
            for batch in source:
                empty = False
                yield batch
            if empty:
                raise ValueError("`dataset` yielded no batch.")

    stream = batches()
    for step in range(steps):
        start = time.perf_counter()
        x, y = next(stream)[:2]
        x, y = _to_torch(x, device), _to_torch(y, device)
        # Gradients left by earlier code would be summed into this step's.
        for v in variables:
            v.value.grad = None
        y_pred = trainer(x, training=True)
        value = loss(y, y_pred)
        value.backward()
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            optimizer.apply(grads, variables)
        logged = value.detach().clone()
        if world > 1:
            # Each rank returns its share times the world size: their mean
            # is the global-batch loss.
            dist.all_reduce(logged)
            logged = logged / world
        history["loss"].append(float(logged))
        history["seconds"].append(time.perf_counter() - start)
        if progbar is not None:
            progbar.update(step + 1, [("loss", history["loss"][-1])])
    return history
