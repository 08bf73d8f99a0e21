"""Multi-device MPCL training on TensorFlow, JAX or PyTorch, each with its own engine.

The config is the `TrainingConfig` of `keras-mpcl train` (`keras_mpcl.training`):
the same file, keys and `--set` overrides. The backend is `KERAS_BACKEND`.

    # TensorFlow, all local GPUs (MirroredStrategy) or a TPU (TPUStrategy)
    KERAS_BACKEND=tensorflow python recipes/distributed/train_distributed.py \
        --config recipes/configs/sample_multi_gpu_tensorflow.toml
    # JAX, all local devices (keras.distribution.DataParallel)
    KERAS_BACKEND=jax python recipes/distributed/train_distributed.py \
        --config recipes/configs/sample_multi_gpu_jax.toml
    # PyTorch, one process per GPU (DistributedDataParallel)
    KERAS_BACKEND=torch torchrun --standalone --nproc_per_node=NUM_GPUS \
        recipes/distributed/train_distributed.py \
        --config recipes/configs/sample_multi_gpu_torch.toml

TensorFlow and JAX run `keras_mpcl.training.train` (the same run as
`keras-mpcl train --config ...`: checkpoints, resumption, logs, held-out
retrieval before / after). PyTorch under torchrun trains with
`keras_mpcl.distribution.ddp_fit` (Keras' torch `fit` has no DDP), built from
the same data, encoder, loss and optimizer builders; rank 0 evaluates and
saves the preset. Negatives are shared across devices
(`loss.gather_across_replicas = "auto"`; on JAX the loss sees the global
batch). A CPU dry run with two simulated devices and a tiny random encoder:
`--set train.simulate_cpu_devices=2 --set encoder.source=random` (PyTorch:
`torchrun --nproc_per_node=2` instead of `simulate_cpu_devices`).

Besides what `train` writes (`<output_dir>/encoder`, `config.toml`, ...),
prints and writes `metrics.json`: strategy, replicas, global batch, loss and
sentences/second (the first, compiling step excluded).
"""

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import time


def _metrics(config, strategy, replicas, losses, step_seconds, wall_seconds):
    import keras

    effective = config.effective()
    rows = replicas * effective["groups_per_batch"] * effective["group_size"]
    timed = step_seconds[1:] or step_seconds  # step 1 compiles / warms up
    return {
        "backend": keras.backend.backend(),
        "strategy": strategy,
        "replicas": replicas,
        "global_batch_sentences": rows,
        "steps": config.train.steps,
        "loss": [float(v) for v in losses],
        "sentences_per_second": rows * len(timed) / sum(timed) if timed else None,
        "wall_seconds": wall_seconds,
    }


def train_keras(config, verbose=None):
    """TensorFlow / JAX (and one-process PyTorch): `keras_mpcl.training.train`."""
    import keras

    from keras_mpcl import training

    class StepTimer(keras.callbacks.Callback):
        """Wall time of every training step."""

        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    timer = StepTimer()
    result = training.train(config, callbacks=[timer], verbose=verbose)
    # Keras logs one (running-mean) loss per epoch of `checkpoint_every` steps.
    return result.output_dir, _metrics(
        config, result.strategy, result.num_replicas, result.history["loss"],
        timer.seconds, result.seconds,
    )


def train_ddp(config, setup, verbose=None):
    """PyTorch `DistributedDataParallel` with the training package's builders."""
    import keras

    from keras_mpcl.training import data as run_data_lib
    from keras_mpcl.training import report
    from keras_mpcl.training import to_toml
    from keras_mpcl.training import build_run_encoder
    from keras_mpcl.training import make_loss
    from keras_mpcl.training import make_optimizer
    from keras_mpcl.training import training_texts

    start = time.perf_counter()
    rank0 = setup.worker_index == 0
    verbose = config.train.verbose if verbose is None else verbose
    say = print if rank0 and verbose else (lambda *a, **k: None)
    out = pathlib.Path(config.output_dir)
    if rank0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.toml").write_text(to_toml(config), encoding="utf-8")
    say(f"DDP: {setup.num_replicas} processes; `train.checkpoint_every` backups and "
        "resumption, CSV / TensorBoard logs and `eval.every_steps` are Keras-`fit` "
        "features that `ddp_fit` does not run (an interrupted run restarts from step 0).")
    keras.utils.set_random_seed(config.train.seed)
    keras.config.set_dtype_policy(config.train.precision)
    # Every rank reads and splits the corpus identically (seeded), then
    # trains on its own shard of the training groups.
    run_data = run_data_lib.split_groups(run_data_lib.read_groups(config.data), config.data)
    encoder, description, from_scratch = build_run_encoder(config, training_texts(run_data))
    say(f"Encoder: {description} ({encoder.count_params():,} parameters)")
    held_out = run_data.held_out_texts() if config.eval.before_after and rank0 else None
    before = after = None
    if held_out is not None:
        before = report.held_out_retrieval(encoder, held_out, config.eval.batch_size)
        say(f"Held-out retrieval before training: {before['mean']:.1%}")
    encoder.compile(optimizer=make_optimizer(config, from_scratch), loss=make_loss(config))

    def dataset_fn(spec):
        return run_data_lib.training_dataset(run_data, config, spec=spec)

    setup.build_model(encoder, next(iter(dataset_fn(setup.shard_spec()))))
    # One "epoch" of `train.steps`: `ddp_fit` runs no callbacks between epochs.
    history = setup.fit(encoder, dataset_fn, epochs=1, steps_per_epoch=config.train.steps,
                        verbose=verbose if rank0 else 0)
    if rank0:
        if held_out is not None:
            after = report.held_out_retrieval(encoder, held_out, config.eval.batch_size)
            say("Held-out retrieval accuracy:\n" + report.format_comparison(before, after))
            (out / "retrieval.json").write_text(
                json.dumps({"before": before, "after": after}, indent=2), encoding="utf-8")
            if config.eval.plot:
                report.plot_comparison(before, after, out / "retrieval_before_after.png")
        encoder.save_to_preset(str(out / "encoder"))
        say(f"Saved the trained encoder (keras-hub preset) to {out / 'encoder'}")
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()  # the other ranks wait for rank 0's evaluation and save
    metrics = _metrics(config, setup.strategy, setup.num_replicas, history["loss"],
                       history["seconds"], time.perf_counter() - start)
    return (out if rank0 else None), metrics


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="training config (TOML / YAML; default: the packaged main job)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config key; repeatable")
    parser.add_argument("--output", default=None, metavar="DIR",
                        help="output directory (overrides `output_dir`)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import keras

    from keras_mpcl import training
    from keras_mpcl.training import configure_distribution

    config = training.load_config(args.config, args.overrides)
    if args.output is not None:
        config = dataclasses.replace(config, output_dir=args.output)
    if keras.backend.backend() == "torch":
        if config.train.device == "cpu":
            os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch first looks for GPUs
        setup = configure_distribution(config)
        if setup.strategy == "ddp":
            try:
                out, metrics = train_ddp(config, setup)
            finally:
                setup.close()
        else:
            out, metrics = train_keras(config)
    else:
        out, metrics = train_keras(config)
    if out is not None:
        print(json.dumps(metrics))
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return metrics


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
