"""Tests of keras_mpcl.distribution.optimizers: AllReducedClippingAdamW."""

import keras

from keras_mpcl.distribution.optimizers import AllReducedClippingAdamW


def test_saved_optimizer_configs_load_under_the_registered_name():
    optimizer = AllReducedClippingAdamW(0.5, learning_rate=1e-3, weight_decay=0.01)
    saved = keras.saving.serialize_keras_object(optimizer)
    assert saved["registered_name"] == "keras_mpcl>AllReducedClippingAdamW"
    # Issue #12 moved the class out of `keras_mpcl/distribution.py`; files saved
    # before name that module.
    saved["module"] = "keras_mpcl.distribution"
    restored = keras.saving.deserialize_keras_object(saved)
    assert isinstance(restored, AllReducedClippingAdamW)
    assert restored.all_reduced_clipnorm == 0.5
    assert restored.get_config() == optimizer.get_config()
