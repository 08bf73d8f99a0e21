"""keras-mpcl: multi-positive contrastive learning of multilingual sentence embeddings."""

from keras_mpcl import data
from keras_mpcl import distribution
from keras_mpcl import evaluation
from keras_mpcl import layers
from keras_mpcl import losses
from keras_mpcl import models
from keras_mpcl import training
from keras_mpcl.data import TranslationGroups
from keras_mpcl.data import group_dataset
from keras_mpcl.layers import LearnableTemperature
from keras_mpcl.losses import MultiPositiveContrastiveLoss
from keras_mpcl.losses import multi_positive_contrastive_loss
from keras_mpcl.models import build_encoder
from keras_mpcl.models import encode
from keras_mpcl.version import __version__

__all__ = [
    "LearnableTemperature",
    "MultiPositiveContrastiveLoss",
    "TranslationGroups",
    "__version__",
    "build_encoder",
    "data",
    "distribution",
    "encode",
    "evaluation",
    "group_dataset",
    "layers",
    "losses",
    "models",
    "multi_positive_contrastive_loss",
    "training",
]
