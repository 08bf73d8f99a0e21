"""Per-backend engines: which one a strategy name means, and starting it.

TensorFlow: a `tf.distribute` strategy (`MirroredStrategy`, `TPUStrategy`,
`MultiWorkerMirroredStrategy`). JAX: `keras.distribution.DataParallel` or
`ModelParallel` over a device mesh, set globally. PyTorch: a
`torch.distributed` process group as torchrun describes it. `configure` (in
`keras_mpcl.distribution.setup`) wraps what `start_engine` returns.
"""

from __future__ import annotations

import itertools
import json
import os

import keras

from keras_mpcl import compat
from keras_mpcl.distribution.collectives import torch_world
from keras_mpcl.validation import check_choice, check_int

STRATEGIES = ("auto", "none", "data_parallel", "mirrored", "tpu", "multi_worker", "ddp")

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

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
# Numbers the process groups this process starts (every process starts the
# same sequence of them, e.g. one per `train` call).
_TORCH_GROUPS = itertools.count()


def resolve_strategy(strategy, backend):
    """The backend's own name for a strategy name; `"auto"` looks at the devices.

    Args:
        strategy: str. One of `STRATEGIES`.
        backend: str. A Keras backend name.

    Returns:
        `"none"`, or the resolved strategy: `"mirrored"`, `"tpu"`,
        `"multi_worker"` (TensorFlow), `"data_parallel"`, `"multi_worker"`
        (JAX) or `"ddp"` (PyTorch).

    Examples:

    >>> resolve_strategy("data_parallel", "torch"), resolve_strategy("tpu", "jax")
    ('ddp', 'data_parallel')
    >>> resolve_strategy("ddp", "jax")
    Traceback (most recent call last):
        ...
    ValueError: `strategy` = 'ddp' is not available on the jax backend ...
    """
    check_choice("strategy", strategy, STRATEGIES)
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


def start_engine(
    strategy, backend, *, devices=None, mesh_shape=None, layout_map=None, tpu=None,
    communication="auto",
):
    """Starts the engine of a resolved strategy (see `configure` for the arguments).

    Args:
        strategy: str. A strategy from `resolve_strategy`, not `"none"`.
        backend: str. The Keras backend.
        devices, mesh_shape, layout_map, tpu, communication: as in
            `configure`.

    Returns:
        A tuple `(engine, num_replicas, num_workers, worker_index)`: the
        `tf.distribute.Strategy`, `keras.distribution.Distribution` or
        `torch.device` of this process, and the counts of `DistributionSetup`.
    """
    if backend == "tensorflow":
        engine, workers, index = _start_tensorflow(strategy, devices, tpu, communication)
        return engine, engine.num_replicas_in_sync, workers, index
    if backend == "jax":
        return _start_jax(strategy, devices, mesh_shape, layout_map)
    device, world, rank = _start_torch()
    return device, world, world, rank


def environment_workers():
    """`(num_workers, worker_index)` as the environment describes them, without set-up.

    The `torch.distributed` world (PyTorch), the JAX processes, or
    `TF_CONFIG`'s task (TensorFlow; the chief, when listed, is worker 0).

    Examples:

    >>> environment_workers()
    (1, 0)
    """
    backend = keras.backend.backend()
    if backend == "torch":
        return torch_world()
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


_CPU_COLLECTIVE_TIMEOUT_FLAG = "xla_cpu_collective_call_terminate_timeout_seconds"


def simulate_cpu_devices(count: int) -> None:
    """Splits the host CPU into `count` devices, to try multi-device code on a laptop.

    TensorFlow: `count` logical CPU devices (call before TensorFlow has
    initialised its devices). JAX: sets
    `XLA_FLAGS=--xla_force_host_platform_device_count=count` and raises XLA's
    CPU collective timeout to an hour (call before JAX initialises). PyTorch: nothing to do; launch
    `torchrun --nproc_per_node=count` with the gloo backend instead.

    Args:
        count: int. Number of devices to simulate, >= 1.

    Raises:
        RuntimeError: when the backend already initialised other devices.
    """
    check_int("count", count)
    backend = keras.backend.backend()
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
            flags = f"{flags} {flag}".strip()
        if _CPU_COLLECTIVE_TIMEOUT_FLAG not in flags:
            # Simulated devices share the cores: on a busy machine one device can reach
            # an all-reduce more than XLA's default 40 s after the others, and XLA then
            # aborts the whole process.
            flags = f"{flags} --{_CPU_COLLECTIVE_TIMEOUT_FLAG}=3600"
        os.environ["XLA_FLAGS"] = flags
        import jax

        if jax.device_count() != count and jax.default_backend() == "cpu":
            raise RuntimeError(
                f"JAX already initialised with {jax.device_count()} devices, so "
                f"{count} cannot be simulated any more; set "
                f"XLA_FLAGS={flag} before JAX starts."
            )


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


def _start_tensorflow(strategy, devices, tpu, communication):
    import tensorflow as tf

    if strategy == "mirrored":
        if devices is None and not _tf_logical_devices("GPU"):
            cpus = _tf_logical_devices("CPU")
            devices = [d.name for d in cpus] if len(cpus) > 1 else None
        engine = compat.mirrored_strategy(devices)
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
    check_choice("communication", communication, tuple(implementation))
    engine = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            implementation=implementation[communication]
        )
    )
    resolver = engine.cluster_resolver
    return engine, max(_tf_num_workers(), 1), int(resolver.task_id or 0)


def _start_jax(strategy, devices, mesh_shape, layout_map):
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


def _start_torch():
    import torch
    import torch.distributed as dist

    missing = [k for k in _TORCHRUN_VARIABLES if k not in os.environ]
    if missing and not dist.is_initialized():
        raise RuntimeError(
            f"strategy 'ddp' needs the process environment that torchrun sets "
            f"(missing: {', '.join(missing)}). Launch with e.g. "
            "`torchrun --nproc_per_node=2 recipes/distributed/train_distributed.py ...`"
        )
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    if not dist.is_initialized():
        store, rank, world = next(dist.rendezvous("env://"))
        # Under keys of its own: torchrun's store outlives a destroyed group,
        # and a new group under the same keys can read its peers' stale
        # addresses and hang (a second `train` in one process).
        store = dist.PrefixStore(f"keras_mpcl_group_{next(_TORCH_GROUPS)}", store)
        dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world)
    return device, dist.get_world_size(), dist.get_rank()
