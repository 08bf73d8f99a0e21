"""Tests of `WarmupLinearDecay`: values, serialization, argument errors."""

import keras
import numpy as np
import pytest

from keras_mpcl.training import WarmupLinearDecay


def test_values_serialization_and_errors():
    schedule = WarmupLinearDecay(peak=2.0, total_steps=8, warmup_steps=2, end=0.5)
    values = [float(schedule(t)) for t in range(10)]
    # warmup 1.0, 2.0; then from 2.0 at step 2 down to 0.5 at step 8, then flat.
    expected = [1.0, 2.0, 2.0, 1.75, 1.5, 1.25, 1.0, 0.75, 0.5, 0.5]
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, WarmupLinearDecay)
    assert restored.get_config() == schedule.get_config()
    no_warmup = WarmupLinearDecay(peak=1.0, total_steps=4)
    np.testing.assert_allclose([float(no_warmup(t)) for t in range(5)], [1, 0.75, 0.5, 0.25, 0])
    with pytest.raises(ValueError, match="`warmup_steps` should be smaller than `total_steps`"):
        WarmupLinearDecay(peak=1.0, total_steps=4, warmup_steps=4)
    with pytest.raises(ValueError, match="`total_steps` should be an int >= 1"):
        WarmupLinearDecay(peak=1.0, total_steps=0)
    with pytest.raises(ValueError, match="`peak` should be > 0 and `end` in"):
        WarmupLinearDecay(peak=1.0, total_steps=4, end=2.0)


def test_drives_adamw_through_optimizer_iterations():
    schedule = WarmupLinearDecay(peak=0.1, total_steps=10, warmup_steps=5)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule)
    variable = keras.Variable(np.ones(3, "float32"))
    optimizer.build([variable])
    seen = []
    for _ in range(3):
        seen.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
        optimizer.apply_gradients([(keras.ops.ones(3), variable)])
    np.testing.assert_allclose(seen, [0.02, 0.04, 0.06], rtol=1e-5)
