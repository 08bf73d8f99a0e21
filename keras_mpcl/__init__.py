"""keras-mpcl: multi-positive contrastive learning of multilingual sentence embeddings."""

from keras_mpcl import distribution
from keras_mpcl import layers
from keras_mpcl import losses
from keras_mpcl.layers import LearnableTemperature
from keras_mpcl.losses import MultiPositiveContrastiveLoss
from keras_mpcl.losses import multi_positive_contrastive_loss
from keras_mpcl.version import __version__

__all__ = [
    "LearnableTemperature",
    "MultiPositiveContrastiveLoss",
    "__version__",
    "distribution",
    "layers",
    "losses",
    "multi_positive_contrastive_loss",
]
