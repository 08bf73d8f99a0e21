"""Multi-device MPCL training on TensorFlow, JAX or PyTorch, each with its own engine.

A thin script over `keras_mpcl.training.train`, the same run as `keras-mpcl
train` (config, `--set` overrides, `--output`; checkpoints and resumption,
logs, held-out retrieval before / after), plus a throughput line. The backend
is `KERAS_BACKEND`, the engine `train.strategy`:

    # TensorFlow, all local GPUs (MirroredStrategy) or a TPU (TPUStrategy)
    KERAS_BACKEND=tensorflow python recipes/distributed/train_distributed.py \
        --config recipes/configs/sample_multi_gpu_tensorflow.toml
    # JAX, all local devices (keras.distribution.DataParallel)
    KERAS_BACKEND=jax python recipes/distributed/train_distributed.py \
        --config recipes/configs/sample_multi_gpu_jax.toml
    # PyTorch, one process per GPU (DistributedDataParallel; each runs `train`)
    KERAS_BACKEND=torch torchrun --standalone --nproc_per_node=NUM_GPUS \
        recipes/distributed/train_distributed.py \
        --config recipes/configs/sample_multi_gpu_torch.toml

Besides what `train` writes, prints and writes `<output_dir>/metrics.json`:
strategy, replicas, global batch, per-epoch losses and sentences/second (the
first, compiling step excluded).
"""

import argparse
import json
import time

import keras

from keras_mpcl.training import load_config
from keras_mpcl.training import train


class StepTimer(keras.callbacks.Callback):
    """Wall time of every training step."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", metavar="FILE", help="training config (TOML / YAML)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config key; repeatable")
    parser.add_argument("--output", metavar="DIR", help="output directory")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides)
    timer = StepTimer()
    result = train(config, args.output, callbacks=[timer])
    effective = config.effective()
    rows = result.num_replicas * effective["groups_per_batch"] * effective["group_size"]
    timed = timer.seconds[1:] or timer.seconds  # step 1 compiles / warms up
    metrics = {
        "backend": keras.backend.backend(),
        "strategy": result.strategy,
        "replicas": result.num_replicas,
        "global_batch_sentences": rows,
        "steps": config.train.steps,
        "loss": [float(v) for v in result.history["loss"]],
        "sentences_per_second": rows * len(timed) / sum(timed) if timed else None,
        "wall_seconds": result.seconds,
    }
    if result.worker_index == 0:  # under torchrun, the process that writes the run
        print(json.dumps(metrics))
        (result.output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    main()
