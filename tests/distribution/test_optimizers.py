"""Tests of keras_mpcl.distribution.optimizers: AllReducedClippingAdamW, SparseSafeAdamW."""

import keras
import numpy as np

from keras_mpcl.distribution.optimizers import AllReducedClippingAdamW
from keras_mpcl.distribution.optimizers import SparseSafeAdamW


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


def _embedding_step(optimizer, densify=False):
    """One step on an embedding whose batch repeats token 1 three times: new weights."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Embedding(5, 3), keras.layers.Dense(2)])
    tokens = np.array([[1, 1, 2], [1, 3, 0]])
    target = np.ones((2, 3, 2), "float32")
    model(tokens)
    variables = model.trainable_variables
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = keras.ops.mean((model(tokens) - target) ** 2)
        grads = tape.gradient(loss, [v.value for v in variables])
        if densify:
            grads = [tf.convert_to_tensor(g) for g in grads]
    else:
        grads = [keras.ops.full(v.shape, 0.3) for v in variables]
    optimizer.apply(grads, variables)
    return [keras.ops.convert_to_numpy(v) for v in variables]


def test_sparse_safe_adamw_steps_as_on_a_dense_gradient():
    # Keras squares a TensorFlow IndexedSlices gradient slice by slice, so token 1
    # (3 occurrences) entered the clipping norm and Adam's second moment wrongly.
    settings = dict(learning_rate=0.1, global_clipnorm=0.01)
    got = _embedding_step(SparseSafeAdamW(**settings))
    want = _embedding_step(keras.optimizers.AdamW(**settings), densify=True)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
    if keras.backend.backend() == "tensorflow":
        # Without the fix, the embedding row of the repeated token moves differently.
        sparse = _embedding_step(keras.optimizers.AdamW(**settings))
        assert not np.allclose(sparse[0], want[0], rtol=1e-4, atol=1e-6)


def test_sparse_safe_adamw_round_trips_its_config():
    optimizer = SparseSafeAdamW(learning_rate=1e-3, weight_decay=0.02, global_clipnorm=1.0)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(optimizer))
    assert isinstance(restored, SparseSafeAdamW)
    assert restored.get_config() == optimizer.get_config()
