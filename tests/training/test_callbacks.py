"""`training_callbacks`: what `train` runs in `fit`, in the process that writes files and in others."""

import keras
import pytest

from keras_mpcl.training.callbacks import training_callbacks
from keras_mpcl.training.resumption import RandomStateBackup

from .tiny import tiny_config

pytestmark = pytest.mark.backend_independent

HELD_OUT = {"en": ["Hello."], "de": ["Hallo."]}


def _callbacks(tmp_path, writes_files):
    config = tiny_config(tmp_path, ["eval.every_steps=2", "train.tensorboard=false"])
    return training_callbacks(config, tmp_path / "run", held_out=HELD_OUT, resumed_from=0,
                         writes_files=writes_files, verbose=1, say=print)


def test_the_first_process_backs_up_logs_and_evaluates(tmp_path):
    callbacks = _callbacks(tmp_path, writes_files=True)
    names = [type(c).__name__ for c in callbacks]
    assert names == ["EvaluationCallback", "RandomStateBackup", "BackupAndRestore",
                     "_LearningRateLogger", "_TrainingLog"]
    assert callbacks[0].verbose == 1 and callbacks[1].write


def test_other_processes_restore_and_evaluate_but_write_nothing(tmp_path, monkeypatch):
    # Under torchrun the processes share the run folder: one writes for all.
    callbacks = _callbacks(tmp_path, writes_files=False)
    assert not any(isinstance(c, keras.callbacks.CSVLogger) for c in callbacks)
    evaluation, states, backup = callbacks[:3]
    assert evaluation.verbose == 0
    assert isinstance(states, RandomStateBackup) and not states.write
    assert isinstance(backup, keras.callbacks.BackupAndRestore)

    def no_writing(*args, **kwargs):
        raise AssertionError("a process other than the first wrote the backup")

    monkeypatch.setattr(backup, "_save_model", no_writing)
    backup.on_epoch_end(0)
    backup.on_train_end()
    states.on_epoch_end(0)
    assert not (tmp_path / "run" / "backup").exists()
