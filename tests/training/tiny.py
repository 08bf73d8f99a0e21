"""A tiny training config shared by the training tests: seconds per run on CPU."""

import pathlib

from keras_mpcl.training import TrainingConfig

TINY = {
    "data": {
        "source": "sample",
        "languages": ["en", "de", "fr", "es"],
        "max_groups": 24,
        "held_out": 8,
        "group_size": 3,
        "groups_per_batch": 4,
        "batch_size": 0,
    },
    "encoder": {
        "source": "random",
        "max_length": 12,
        "random": {
            "vocabulary_size": 200,
            "num_layers": 1,
            "num_heads": 2,
            "hidden_dim": 16,
            "intermediate_dim": 32,
            "dropout": 0.1,
        },
    },
    "optimizer": {"learning_rate": 1e-2, "warmup": 1},
    "train": {"steps": 6, "checkpoint_every": 2, "verbose": 0, "tensorboard": False},
    "eval": {"before_after": False, "plot": False},
}


def tiny_config(tmp_path, overrides=()):
    """The tiny config writing into `tmp_path / "run"`, with `key=value` overrides."""
    config = TrainingConfig.from_dict({**TINY, "output_dir": str(pathlib.Path(tmp_path) / "run")})
    return config.with_overrides(overrides)
