"""In-process tests of keras_mpcl.distribution.torch_ddp (one process, no process group)."""

import keras
import numpy as np
import pytest

from keras_mpcl.distribution import torch_ddp
from keras_mpcl.losses import MultiPositiveContrastiveLoss

IDS = np.array([0, 0, 1, 1, 1, -1, 2, 2], "int32")
EMBEDDINGS = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")


def test_ddp_fit_is_torch_only_and_validates_steps():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    kwargs = dict(loss=MultiPositiveContrastiveLoss(), optimizer=keras.optimizers.SGD(0.1))
    if keras.backend.backend() != "torch":
        with pytest.raises(RuntimeError, match="use `model.fit`"):
            torch_ddp.ddp_fit(model, [(EMBEDDINGS, IDS)], steps=1, **kwargs)
        return
    with pytest.raises(ValueError, match="`steps` should be a positive int"):
        torch_ddp.ddp_fit(model, [(EMBEDDINGS, IDS)], steps=0, **kwargs)
    history = torch_ddp.ddp_fit(model, [(EMBEDDINGS, IDS)], steps=3, verbose=0, **kwargs)
    assert len(history["loss"]) == 3 and history["loss"][-1] < history["loss"][0]


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="DDP is PyTorch's")
def test_wrap_ddp_without_a_process_group_returns_the_model():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    assert torch_ddp.wrap_ddp(model) is model
