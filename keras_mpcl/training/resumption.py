"""Resuming an interrupted run: its backup, checked against this run, and dropout's random state."""

import json
import pathlib

import keras

from keras_mpcl.backend import reseed_host_generators
from keras_mpcl.training.config import ConfigError

BACKUP_DIR = "backup"
# Keys that may change between an interrupted run and its resumption.
_RESUME_FREE_KEYS = {("train", "verbose")}


class RandomStateBackup(keras.callbacks.Callback):
    """Makes dropout's randomness resume exactly with `BackupAndRestore`.

    `BackupAndRestore` saves weights and optimizer state but not the state of
    the `SeedGenerator`s behind dropout, so a resumed run would draw the
    dropout masks of its first steps again. This callback stores those
    states (`model.variables` that are not `model.weights`) in the same
    backup folder; put it before `BackupAndRestore` so that the states are
    written before the metadata that marks a backup complete. Keras'
    PyTorch dropout of an unseeded layer draws from torch's global generator
    instead, so the global generators are also reseeded from `(seed, epoch)`
    at the start of every epoch: the same epoch then draws the same masks
    whether or not the run was interrupted before it. (The reseeding is at
    an epoch's first batch, not in `on_epoch_begin`: PyTorch's `DataLoader`,
    which Keras wraps around the `tf.data` input there, draws from the
    global generator when `fit` first iterates it.)

    Args:
        backup_dir: str. The `BackupAndRestore` folder.
        seed: int. The run's seed.
        write: bool. Write the states at each epoch's end; `False` only
            restores them (the processes of a multi-process run but the
            first, which writes for all). Defaults to `True`.
    """

    FILE = "random_states.npz"
    BACKEND_FILE = "backend.txt"

    def __init__(self, backup_dir, seed, write=True):
        super().__init__()
        self.path = pathlib.Path(backup_dir) / self.FILE
        self.metadata = pathlib.Path(backup_dir) / "training_metadata.json"
        self.seed = int(seed)
        self.write = write

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            reseed_host_generators((self.seed * 1_000_003 + self._epoch) % 2**32)

    def _states(self):
        # In model order: names carry per-process counters (seed_generator_4).
        weights = {id(v) for v in self.model.weights}
        return [v for v in self.model.variables if id(v) not in weights]

    def on_train_begin(self, logs=None):
        if not (self.path.is_file() and self.metadata.is_file()):
            return
        import numpy as np

        saved = np.load(self.path)
        saved = [saved[f"state_{i}"] for i in range(len(saved.files))]
        states = self._states()
        if [tuple(a.shape) for a in saved] != [tuple(v.shape) for v in states]:
            raise ValueError(
                f"{self.path} holds {len(saved)} random states that do not match the "
                f"model's {len(states)}; the backup belongs to another model. "
                "Delete the backup folder to start afresh."
            )
        for variable, value in zip(states, saved):
            variable.assign(value)

    def on_epoch_end(self, epoch, logs=None):
        if not self.write:
            return
        import numpy as np

        self.path.parent.mkdir(parents=True, exist_ok=True)
        states = {
            f"state_{i}": keras.ops.convert_to_numpy(v.value)
            for i, v in enumerate(self._states())
        }
        with open(self.path, "wb") as file:
            np.savez(file, **states)
        (self.path.parent / self.BACKEND_FILE).write_text(keras.backend.backend())


class _RestoreOnly(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that restores a backup but never writes or deletes one."""

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


def backup_callbacks(output_dir, seed, write=True):
    """The callbacks that back a run up at each epoch's end and resume it.

    Args:
        output_dir: pathlib.Path of the run; the backup goes to its
            `backup` folder, which outlives `fit` (delete it once the
            model is saved).
        seed: int. The run's seed (see `RandomStateBackup`).
        write: bool. `False` restores a backup without writing one: every
            process of a multi-process run restores, the first writes.
            Defaults to `True`.

    Returns:
        A list of callbacks, in the order `fit` must run them.
    """
    backup = _RestoreOnly if not write else keras.callbacks.BackupAndRestore
    return [
        RandomStateBackup(output_dir / BACKUP_DIR, seed, write=write),
        backup(str(output_dir / BACKUP_DIR), save_freq="epoch", delete_checkpoint=False),
    ]


def check_resumable(output_dir, config):
    """The step to resume from (0 if none); refuses a backup of another config."""
    metadata = output_dir / BACKUP_DIR / "training_metadata.json"
    if not metadata.is_file():
        return 0
    saved_path = output_dir / "config.toml"
    if saved_path.is_file():
        from keras_mpcl.training.config import load_config

        saved = load_config(saved_path).to_dict()
        current = config.to_dict()
        differences = [
            f"{section}.{key}: {saved[section][key]!r} -> {current[section][key]!r}"
            for section in current
            if isinstance(current[section], dict)
            for key in current[section]
            if (section, key) not in _RESUME_FREE_KEYS
            and saved[section].get(key) != current[section][key]
        ]
        if differences:
            raise ConfigError(
                f"{output_dir} holds an interrupted run with a different config "
                f"({'; '.join(differences)}). Resume it with the same settings, or "
                f"train into another `--output` directory (or delete {output_dir / BACKUP_DIR})."
            )
    backend_file = output_dir / BACKUP_DIR / RandomStateBackup.BACKEND_FILE
    if backend_file.is_file() and backend_file.read_text() != keras.backend.backend():
        # Dropout streams and optimizer step counters differ between backends:
        # such a resume would not be the interrupted run.
        raise ConfigError(
            f"{output_dir} holds a run interrupted under the {backend_file.read_text()} "
            f"backend, and this process runs {keras.backend.backend()}. Resume it with "
            f"KERAS_BACKEND={backend_file.read_text()}, or train into another `--output` "
            f"directory (or delete {output_dir / BACKUP_DIR})."
        )
    epoch = json.loads(metadata.read_text())["epoch"]
    return int(epoch) * config.train.checkpoint_every
