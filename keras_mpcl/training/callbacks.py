"""The Keras callbacks of `train`'s `fit`: backups, logs, evaluation during training."""

import importlib.util

import keras

from keras_mpcl.training import report
from keras_mpcl.training.resumption import backup_callbacks


class _LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to each epoch's logs."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            rate = self.model.optimizer.learning_rate
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(rate))


class _TrainingLog(keras.callbacks.CSVLogger):
    """`CSVLogger` without the empty `val_*` columns it adds when a run has no validation data."""

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None:
            self.keys = sorted(logs or {})
        super().on_epoch_end(epoch, logs)


def training_callbacks(config, output_dir, *, held_out, resumed_from, writes_files, verbose, say):
    """The callbacks `train` runs in `fit`, in order.

    Backups at every epoch's end (`train.checkpoint_every` steps), the
    learning rate in the logs, held-out retrieval every `eval.every_steps`
    steps, `training_log.csv` and TensorBoard logs. In a multi-process run
    every process restores a backup and evaluates (so that early stopping
    decides alike everywhere), and one writes the files.

    Args:
        config: the run's `TrainingConfig`.
        output_dir: pathlib.Path of the run.
        held_out: `{language: texts}` of the held-out groups, or None.
        resumed_from: int. The step a resumed run starts at (0 if fresh).
        writes_files: bool. This process writes the backup and the logs.
        verbose: int. Print evaluation results (`0`: silent).
        say: callable taking a message for the run's log.

    Returns:
        A list of `keras.callbacks.Callback`.
    """
    callbacks = []
    if config.eval.every_steps and held_out is not None:
        from keras_mpcl.evaluation import EvaluationCallback

        # First, so that later callbacks (the CSV log) see its metrics.
        callbacks.append(EvaluationCallback(
            {"held_out_retrieval": lambda encode: report.held_out_retrieval(
                encode, held_out, config.eval.batch_size)["mean"]},
            every_n_epochs=None,
            every_n_steps=config.eval.every_steps,
            batch_size=config.eval.batch_size,
            verbose=verbose if writes_files else 0,
        ))
    callbacks += backup_callbacks(output_dir, config.train.seed, write=writes_files)
    callbacks.append(_LearningRateLogger())
    if not writes_files:
        return callbacks
    callbacks.append(
        _TrainingLog(str(output_dir / "training_log.csv"), append=bool(resumed_from))
    )
    if config.train.tensorboard:
        if importlib.util.find_spec("tensorboard") is None:
            say("TensorBoard logs skipped: the `tensorboard` package is not installed "
                "(`pip install tensorboard`, or `--set train.tensorboard=false`)")
        else:
            callbacks.append(keras.callbacks.TensorBoard(str(output_dir / "tensorboard")))
    return callbacks
