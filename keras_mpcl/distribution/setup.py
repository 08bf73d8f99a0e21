"""Multi-device set-up: `configure` and the `DistributionSetup` it returns.

`configure(strategy=...)` starts each backend's own engine (`tf.distribute`
strategies on TensorFlow, `keras.distribution.DataParallel` on JAX,
`torch.distributed` + `DistributedDataParallel` on PyTorch; see
`keras_mpcl.distribution.strategies`) and returns a `DistributionSetup`:
build and compile the model under its `scope()`, feed it with
`distribute_dataset()` and train with its `fit()`. Nothing is kept at module
level: pass the setup to whatever needs it (`setup.shard_spec()`,
`shard_info(setup)`), and `setup.close()` undoes what `configure` started.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING
from typing import Any

import keras

from keras_mpcl.compat import fit_preprocessed
from keras_mpcl.distribution.datasets import ShardSpec
from keras_mpcl.distribution.datasets import split_global_batches
from keras_mpcl.distribution.strategies import environment_workers
from keras_mpcl.distribution.strategies import resolve_strategy
from keras_mpcl.distribution.strategies import start_engine
from keras_mpcl.distribution.torch_ddp import ddp_fit

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import tensorflow as tf

# The `fit` arguments that `ddp_fit` takes (`shuffle` only as False).
_DDP_FIT_ARGUMENTS = ("callbacks", "verbose", "initial_epoch")


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

    def scope(self) -> contextlib.AbstractContextManager[Any]:
        """Context manager to build and compile the model under."""
        if self.backend == "tensorflow" and self.engine is not None:
            return self.engine.scope()
        if self.backend == "jax" and self.engine is not None:
            return self.engine.scope()
        return contextlib.nullcontext()

    def shard_spec(self) -> ShardSpec:
        """The `ShardSpec` the input pipeline of this worker must follow."""
        if self.backend == "tensorflow":
            # Global batches for this worker's replicas, cut per replica by
            # `distribute_dataset`.
            return ShardSpec(
                self.num_workers, self.worker_index, self.num_replicas // self.num_workers
            )
        # JAX: Keras' DataParallel splits the global batches itself (across
        # processes too); PyTorch: `distribute_dataset` keeps this process's
        # slice. Either way every process reads the same global stream.
        return ShardSpec(1, 0, self.num_replicas)

    def distribute_dataset(
        self, dataset_fn: Callable[[ShardSpec], tf.data.Dataset]
    ) -> tf.data.Dataset | tf.distribute.DistributedDataset:
        """Builds the input for `fit` (or `ddp_fit`) from a dataset function.

        Args:
            dataset_fn: callable taking a `ShardSpec` and returning a
                `tf.data.Dataset` of `(inputs, group_ids)` batches of whole
                groups: shard `spec.shard_index` of `spec.num_shards` of the
                groups, `spec.replicas_per_batch` times the per-replica
                number of groups per batch.

        Returns:
            On TensorFlow with a strategy, a distributed dataset in which each
            replica gets its own batches; under PyTorch DDP, this process's
            slice of each global batch (one step trains on one global batch,
            as on one device); elsewhere the `tf.data.Dataset`.
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
        if self.strategy == "ddp":
            # Each global batch becomes `num_replicas` consecutive slices of
            # whole groups; this process keeps slice `worker_index`.
            return split_global_batches(dataset_fn(self.shard_spec()), self.num_replicas).shard(
                self.num_replicas, self.worker_index
            )
        return dataset_fn(self.shard_spec())

    def fit(
        self,
        model: keras.Model,
        dataset_fn: Callable[[ShardSpec], tf.data.Dataset],
        *,
        epochs: int = 1,
        steps_per_epoch: int,
        **kwargs: Any,
    ) -> dict[str, list[float]]:
        """Trains a compiled model on `dataset_fn`'s batches on every replica.

        TensorFlow with a strategy: each replica reads its own batches
        (`distribute_dataset`), a keras-hub task's `preprocessor` runs inside
        each replica's `tf.data` pipeline, the model is built from one batch
        (`build_model`), and Keras' `fit` runs the replicas. JAX and one
        device: the model's own `fit` on `dataset_fn`'s batches. PyTorch DDP:
        `ddp_fit`, which runs Keras callbacks as `fit` does; of `fit`'s other
        arguments it takes `callbacks`, `verbose`, `initial_epoch` and
        `shuffle=False` (the batches come in the stream's order), and any
        other is refused by name.

        Args:
            model: a model compiled under `scope()` with the MPCL loss.
            dataset_fn: callable `ShardSpec -> tf.data.Dataset` of
                `(inputs, group_ids)` batches that repeats (see
                `distribute_dataset`).
            epochs: int. Defaults to `1`.
            steps_per_epoch: int. Steps per epoch.
            **kwargs: passed to `fit` (e.g. `callbacks`, `verbose`).

        Returns:
            A dict of per-epoch logs (`History.history`), e.g. `"loss"`.
        """
        if self.backend == "torch" and self.strategy == "ddp":
            unsupported = sorted(
                key for key, value in kwargs.items()
                if key not in _DDP_FIT_ARGUMENTS and not (key == "shuffle" and value is False)
            )
            if unsupported:
                raise ValueError(
                    "Under torchrun / DDP, `fit` runs `ddp_fit`, which does not support "
                    f"{', '.join(f'`{k}`' for k in unsupported)} (it takes `callbacks`, "
                    "`verbose`, `initial_epoch` and `shuffle=False`). Remove them, or train "
                    "on TensorFlow or JAX, whose multi-device `fit` is Keras' own."
                )
            kwargs.pop("shuffle", None)
            return ddp_fit(
                model,
                self.distribute_dataset(dataset_fn),
                epochs=epochs,
                steps_per_epoch=steps_per_epoch,
                **kwargs,
            ).history
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
            history = fit_preprocessed(
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

    def build_model(self, model: keras.Model, batch: Sequence[Any]) -> None:
        """Builds a compiled model's weights, compiled loss and optimizer from one batch.

        Call it after `compile` and before `fit`. Under a TensorFlow strategy
        `fit` otherwise builds the model from the first distributed batch
        averaged over replicas (Keras' `_maybe_symbolic_build`), which turns
        integer group ids into floats that the loss rejects. Harmless on the
        other backends.

        Args:
            model: a compiled `keras.Model`; a keras-hub task's
                `preprocess_samples` is applied to the batch first.
            batch: one `(inputs, group_ids)` batch (NumPy or tensors).
        """
        x, y = batch[0], batch[1]
        if hasattr(model, "preprocess_samples"):
            # What `fit` maps over its batches (e.g. length chunks under jax.jit).
            x, y, _ = keras.utils.unpack_x_y_sample_weight(model.preprocess_samples(x, y))
        elif getattr(model, "preprocessor", None) is not None:
            x, y = model.preprocessor(x, y)[:2]
        with self.scope():
            # Outside `strategy.run`, so the loss does not gather here.
            y_pred = model(x)
            model.compute_loss(x=x, y=y, y_pred=y_pred)
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)

    def barrier(self) -> None:
        """Waits until every process of a PyTorch DDP run gets here; elsewhere returns at once.

        Under torchrun each process runs the whole script: call it where the
        others must wait for work of one (e.g. rank 0 saving the model).
        """
        if self.backend == "torch" and self.strategy == "ddp":
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Undoes global state: JAX's distribution, PyTorch's process group."""
        if self.backend == "jax":
            keras.distribution.set_distribution(None)
        elif self.backend == "torch" and self.strategy == "ddp":
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def configure(
    strategy: str = "auto",
    *,
    devices: Sequence[str] | None = None,
    mesh_shape: tuple[int, int] | None = None,
    layout_map: keras.distribution.LayoutMap
    | Callable[[keras.distribution.DeviceMesh], keras.distribution.LayoutMap]
    | None = None,
    tpu: str | None = None,
    communication: str = "auto",
) -> DistributionSetup:
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
    with `setup.fit` (or `ddp_fit`). JAX's distribution is set globally
    (`keras.distribution.set_distribution`); `setup.close()` undoes it.
    Nothing else is remembered: pass the returned setup on.

    Args:
        strategy: str. One of `strategies.STRATEGIES` (table above). Defaults to `"auto"`.
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
    >>> setup.strategy, setup.num_replicas, shard_info(setup)
    ('none', 1, (1, 0))
    >>> with setup.scope():
    ...     model = keras.Sequential([keras.layers.Dense(4)])
    >>> setup.close()
    """
    backend = keras.backend.backend()
    resolved = resolve_strategy(strategy, backend)
    if resolved == "none":
        return DistributionSetup(backend, "none", 1, 1, 0, None)
    engine, replicas, workers, index = start_engine(
        resolved,
        backend,
        devices=devices,
        mesh_shape=mesh_shape,
        layout_map=layout_map,
        tpu=tpu,
        communication=communication,
    )
    return DistributionSetup(backend, resolved, replicas, workers, index, engine)


def shard_info(setup: DistributionSetup | None = None) -> tuple[int, int]:
    """`(num_workers, worker_index)`: which share of the groups this worker reads.

    From `setup` when given, else from the environment: the
    `torch.distributed` world (PyTorch), the JAX processes, or `TF_CONFIG`'s
    task (TensorFlow). Give it to the data pipeline so that workers read
    disjoint groups (`setup.shard_spec()` says the same and more).

    Args:
        setup: optional `DistributionSetup` from `configure`. Defaults to
            `None` (the environment).

    Examples:

    >>> shard_info()
    (1, 0)
    >>> shard_info(DistributionSetup("torch", "ddp", 4, 4, 2))
    (4, 2)
    """
    if setup is not None:
        return setup.num_workers, setup.worker_index
    return environment_workers()
