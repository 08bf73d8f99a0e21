"""Training: config -> data -> encoder -> compile / fit -> save (CLI and recipes)."""

from keras_mpcl.training.config import TrainingConfig
from keras_mpcl.training.config import default_config_path
from keras_mpcl.training.config import load_config
from keras_mpcl.training.config import to_toml
from keras_mpcl.training.config_checks import ConfigError
from keras_mpcl.training.grad_cache import cached_mini_batch_size
from keras_mpcl.training.grad_cache import cached_training
from keras_mpcl.training.report import format_comparison
from keras_mpcl.training.report import held_out_retrieval
from keras_mpcl.training.report import plot_comparison
from keras_mpcl.training.schedules import WarmupLinearDecay
from keras_mpcl.training.trainer import TrainingResult
from keras_mpcl.training.trainer import build_run_encoder
from keras_mpcl.training.trainer import configure_distribution
from keras_mpcl.training.trainer import make_loss
from keras_mpcl.training.trainer import make_optimizer
from keras_mpcl.training.trainer import training_texts
from keras_mpcl.training.trainer import train

__all__ = [
    "ConfigError",
    "TrainingConfig",
    "TrainingResult",
    "WarmupLinearDecay",
    "build_run_encoder",
    "cached_mini_batch_size",
    "cached_training",
    "configure_distribution",
    "default_config_path",
    "format_comparison",
    "held_out_retrieval",
    "load_config",
    "make_loss",
    "make_optimizer",
    "plot_comparison",
    "to_toml",
    "train",
    "training_texts",
]
