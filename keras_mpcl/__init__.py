"""keras-mpcl: multi-positive contrastive learning of multilingual sentence embeddings."""

import os
import sys

from keras_mpcl._lazy import lazy_attributes

_EXPORTS = {  # public name: the module it comes from (subpackages: themselves)
    "data": "keras_mpcl.data",
    "distribution": "keras_mpcl.distribution",
    "evaluation": "keras_mpcl.evaluation",
    "layers": "keras_mpcl.layers",
    "losses": "keras_mpcl.losses",
    "models": "keras_mpcl.models",
    "training": "keras_mpcl.training",
    "TranslationGroups": "keras_mpcl.data",
    "group_dataset": "keras_mpcl.data",
    "LearnableTemperature": "keras_mpcl.layers",
    "MultiPositiveContrastiveLoss": "keras_mpcl.losses",
    "multi_positive_contrastive_loss": "keras_mpcl.losses",
    "build_encoder": "keras_mpcl.models",
    "encode": "keras_mpcl.models",
    "__version__": "keras_mpcl.version",
}


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)


# `import keras_mpcl` imports everything, which registers the Keras
# serializables (a saved model using our loss loads after it). The
# `keras-mpcl` command imports what each subcommand needs, so that `--help`
# and argument errors answer at once, without loading TensorFlow.
if os.path.basename(sys.argv[0] if sys.argv else "") != "keras-mpcl":
    for _name in _EXPORTS:
        __getattr__(_name)
    del _name

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
