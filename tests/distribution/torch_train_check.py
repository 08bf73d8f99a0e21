"""`train()` under torchrun, 2 processes (gloo): its callbacks run, and it equals one process
(with GradCache steps too).

Run by `test_multi_device.py` under the torch backend as
`torchrun --standalone --nproc_per_node=2 torch_train_check.py OUT`. Each
process calls `train` as `keras-mpcl train` does under torchrun. Prints
`CHECK <name> ...` lines for each check that holds.
"""

import os
import pathlib
import sys

os.environ["KERAS_BACKEND"] = "torch"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from keras_mpcl.training import train  # noqa: E402
from distribution.recipe_check import run_recipe_if_asked  # noqa: E402
from training.tiny import tiny_config  # noqa: E402

torch.set_num_threads(1)
OUT = pathlib.Path(sys.argv[1])
RANK = int(os.environ["RANK"])
# Dropout 0: two runs on different batch splits draw their masks differently.
# 6 steps in epochs of 3 span an epoch of the 40 training groups (8 per step).
COMMON = ["data.max_groups=48", "data.held_out=8", "encoder.random.dropout=0.0",
          "train.steps=6", "train.checkpoint_every=3"]
DDP = COMMON + ["data.groups_per_batch=4", "train.strategy=ddp"]


def report(name, **values):
    print(f"CHECK {name} rank={RANK} " + " ".join(f"{k}={v}" for k, v in values.items()),
          flush=True)


class Recorder(keras.callbacks.Callback):
    """The hooks `fit` calls, what each epoch logs, and whether the backup was written."""

    def __init__(self, backup_dir, stop_at=None, fail_at=None):
        super().__init__()
        self.backup_dir = pathlib.Path(backup_dir)
        self.stop_at, self.fail_at = stop_at, fail_at
        self.calls, self.epoch_logs, self.backed_up = [], [], []
        self.steps = 0

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append("epoch_begin")

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append("batch_begin")

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append("batch_end")
        self.steps += 1
        if self.steps == self.stop_at:
            self.model.stop_training = True
        if self.steps == self.fail_at:
            raise RuntimeError("simulated interruption")

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append("epoch_end")
        self.epoch_logs.append(sorted(logs))
        # Listed after train()'s own callbacks: the epoch's backup is written.
        self.backed_up.append((self.backup_dir / "training_metadata.json").is_file())

    def on_train_end(self, logs=None):
        self.calls.append("train_end")


# 1. Callbacks: backup, CSV log, evaluation every 3 steps, progress; the dtype
#    policy set before `train` comes back after it.
keras.config.set_dtype_policy("mixed_bfloat16")
recorder = Recorder(OUT / "ddp" / "run" / "backup")
ddp = train(tiny_config(OUT / "ddp", DDP + ["eval.every_steps=3", "eval.before_after=true"]),
            callbacks=[recorder], verbose=1)
policy = keras.config.dtype_policy().name
keras.config.set_dtype_policy("float32")
assert (ddp.strategy, ddp.num_replicas, ddp.worker_index) == ("ddp", 2, RANK), ddp
epoch = ["epoch_begin"] + ["batch_begin", "batch_end"] * 3 + ["epoch_end"]
assert recorder.calls == ["train_begin", *epoch, *epoch, "train_end"], recorder.calls
assert all("eval_held_out_retrieval" in keys for keys in recorder.epoch_logs), recorder.epoch_logs
if RANK == 0:  # the process that writes the backup, before this callback runs
    assert recorder.backed_up == [True, True], recorder.backed_up
assert policy == "mixed_bfloat16", policy
assert (ddp.preset_dir / "config.json").is_file() and ddp.after is not None
log = (ddp.output_dir / "training_log.csv").read_text().splitlines()
assert len(log) == 3 and "eval_held_out_retrieval" in log[0], log
assert not (ddp.output_dir / "backup").exists()
report("ddp_callbacks", losses=ddp.history["loss"], eval=ddp.history["eval_held_out_retrieval"])

# 2. `model.stop_training` set in one process stops both after the same step.
stopped = train(tiny_config(OUT / "stop", DDP),
                callbacks=[Recorder(OUT / "unused", stop_at=2 if RANK == 1 else None)])
assert len(stopped.history["loss"]) == 1, stopped.history
report("ddp_stop", epochs=len(stopped.history["loss"]))

# 3. An interrupted DDP run resumes from the first process's backup in both.
try:
    train(tiny_config(OUT / "resume", DDP), callbacks=[Recorder(OUT / "unused", fail_at=5)])
    raise AssertionError("the run was not interrupted")
except RuntimeError as error:
    assert "simulated interruption" in str(error), error
resumed = train(tiny_config(OUT / "resume", DDP))
assert resumed.resumed_from_step == 3, resumed.resumed_from_step
for got, want in zip(resumed.encoder.get_weights(), ddp.encoder.get_weights()):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
report("ddp_resume", resumed_from=resumed.resumed_from_step)

# 4. GradCache under DDP (issue #14): each process encodes its 12 sentences 5 at a time.
cached = train(tiny_config(OUT / "cached", DDP + ["train.mini_batch_size=5"]))
report("ddp_cached", losses=cached.history["loss"])

# 5. One process, the global batch of 8 groups: the same losses, cached or not.
if RANK == 0:
    single = train(tiny_config(OUT / "single", COMMON + ["data.groups_per_batch=8",
                                                         "train.strategy=none"]))
    np.testing.assert_allclose(ddp.history["loss"], single.history["loss"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(cached.history["loss"], single.history["loss"],
                               rtol=1e-4, atol=1e-4)
    for got, want in zip(cached.encoder.get_weights(), single.encoder.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    report("ddp_equals_one_process", ddp=ddp.history["loss"], cached=cached.history["loss"],
           single=single.history["loss"])

run_recipe_if_asked(sys.argv, f" rank={RANK}")  # in the same two processes
print("OK")
