"""In-process tests of keras_mpcl.distribution.torch_ddp (one process, no process group)."""

import keras
import numpy as np
import pytest

from keras_mpcl.distribution import torch_ddp
from keras_mpcl.losses import MultiPositiveContrastiveLoss

IDS = np.array([0, 0, 1, 1, 1, -1, 2, 2], "int32")
EMBEDDINGS = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")

torch_only = pytest.mark.skipif(keras.backend.backend() != "torch", reason="DDP is PyTorch's")


def _compiled_model(learning_rate=0.1):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate),
                  loss=MultiPositiveContrastiveLoss())
    return model


class Recorder(keras.callbacks.Callback):
    """Every hook call in order; stops training after batch `stop_after` of epoch 0."""

    def __init__(self, stop_after=None):
        super().__init__()
        self.stop_after = stop_after
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(f"epoch_begin {epoch}")

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(f"batch_begin {batch}")

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(f"batch_end {batch}")
        if batch == self.stop_after:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(f"epoch_end {epoch} {sorted(logs)}")

    def on_train_end(self, logs=None):
        self.calls.append("train_end")


def test_ddp_fit_is_torch_only_and_validates_its_arguments():
    model = _compiled_model()
    if keras.backend.backend() != "torch":
        with pytest.raises(RuntimeError, match="use `model.fit`"):
            torch_ddp.ddp_fit(model, [(EMBEDDINGS, IDS)], steps_per_epoch=1)
        return
    with pytest.raises(ValueError, match="`steps_per_epoch` should be a positive int"):
        torch_ddp.ddp_fit(model, [(EMBEDDINGS, IDS)], steps_per_epoch=0)
    uncompiled = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="trains a compiled model"):
        torch_ddp.ddp_fit(uncompiled, [(EMBEDDINGS, IDS)], steps_per_epoch=1)
    model.compile(optimizer="sgd", loss=MultiPositiveContrastiveLoss(), jit_compile=True)
    with pytest.raises(ValueError, match="jit_compile=False"):
        torch_ddp.ddp_fit(model, [(EMBEDDINGS, IDS)], steps_per_epoch=1)


@torch_only
def test_ddp_fit_equals_keras_fit_on_one_process():
    import tensorflow as tf

    def dataset():
        return tf.data.Dataset.from_tensors((EMBEDDINGS, IDS)).repeat()

    reference = _compiled_model()
    expected = reference.fit(dataset(), epochs=3, steps_per_epoch=2, verbose=0,
                             shuffle=False).history
    model = _compiled_model()
    history = torch_ddp.ddp_fit(model, dataset(), epochs=3, steps_per_epoch=2, verbose=0)
    assert isinstance(history, keras.callbacks.History)
    np.testing.assert_allclose(history.history["loss"], expected["loss"], rtol=1e-6)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for got, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@torch_only
def test_ddp_fit_runs_callbacks_in_fit_order_and_stops_when_asked():
    recorder = Recorder()
    torch_ddp.ddp_fit(_compiled_model(), [(EMBEDDINGS, IDS)], epochs=2, steps_per_epoch=2,
                      callbacks=[recorder], verbose=0)
    epoch = ["batch_begin 0", "batch_end 0", "batch_begin 1", "batch_end 1"]
    assert recorder.calls == [
        "train_begin",
        "epoch_begin 0", *epoch, "epoch_end 0 ['loss']",
        "epoch_begin 1", *epoch, "epoch_end 1 ['loss']",
        "train_end",
    ]
    stopper = Recorder(stop_after=0)
    history = torch_ddp.ddp_fit(_compiled_model(), [(EMBEDDINGS, IDS)], epochs=3,
                                steps_per_epoch=2, callbacks=[stopper], verbose=0)
    assert stopper.calls == ["train_begin", "epoch_begin 0", "batch_begin 0", "batch_end 0",
                             "epoch_end 0 ['loss']", "train_end"]
    assert len(history.history["loss"]) == 1


@torch_only
def test_ddp_fit_resumes_from_backup_and_restore(tmp_path):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("simulated interruption")

    backup = keras.callbacks.BackupAndRestore(str(tmp_path))
    reference = torch_ddp.ddp_fit(_compiled_model(), [(EMBEDDINGS, IDS)], epochs=4,
                                  steps_per_epoch=1, verbose=0).history["loss"]
    with pytest.raises(RuntimeError, match="simulated interruption"):
        torch_ddp.ddp_fit(_compiled_model(), [(EMBEDDINGS, IDS)], epochs=4, steps_per_epoch=1,
                          callbacks=[backup, Interrupt()], verbose=0)
    resumed = torch_ddp.ddp_fit(_compiled_model(), [(EMBEDDINGS, IDS)], epochs=4,
                                steps_per_epoch=1, callbacks=[backup], verbose=0)
    np.testing.assert_allclose(resumed.history["loss"], reference[2:], rtol=1e-6)


@torch_only
def test_wrap_ddp_without_a_process_group_returns_the_model():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    assert torch_ddp.wrap_ddp(model) is model
