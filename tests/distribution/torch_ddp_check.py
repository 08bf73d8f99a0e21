"""PyTorch DDP with gloo, 2 processes (run under torchrun): gathered loss == global batch."""

import os
import sys

os.environ["KERAS_BACKEND"] = "torch"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from _toy import EMBEDDING, FEATURES, global_batch, replica_batches, report  # noqa: E402
from keras_mpcl import distribution  # noqa: E402
from keras_mpcl.losses import MultiPositiveContrastiveLoss  # noqa: E402

torch.set_num_threads(1)
setup = distribution.configure("ddp")
R, rank = setup.num_replicas, setup.worker_index
assert setup.strategy == "ddp" and R == 2 and distribution.shard_info(setup) == (R, rank)
assert distribution.shard_info() == (R, rank)  # the environment says the same
# Rank 1 seeds differently: DDP must broadcast rank 0's weights.
keras.utils.set_random_seed(rank)
model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(EMBEDDING)])
loss_fn = MultiPositiveContrastiveLoss(temperature=0.1)
reference_loss_fn = MultiPositiveContrastiveLoss(temperature=0.1, gather_across_replicas=False)
ddp = distribution.wrap_ddp(model)
assert distribution.wrap_ddp(model) is ddp

# Unequal per-rank batches (6 and 9 rows) exercise the padded gather.
batches = replica_batches(R)
gx, gids = global_batch(batches)
x, ids = batches[rank]


def grads_of(value):
    for v in model.trainable_variables:
        v.value.grad = None
    value.backward()
    return [v.value.grad.detach().clone().numpy() for v in model.trainable_variables]


ref_loss = reference_loss_fn(torch.as_tensor(gids), model(torch.as_tensor(gx)))
ref_grads = grads_of(ref_loss)
loss = loss_fn(torch.as_tensor(ids), ddp(torch.as_tensor(x)))
grads = grads_of(loss)  # averaged over ranks by DDP
total = loss.detach().clone()
dist.all_reduce(total)
with torch.no_grad():
    local = float(loss_fn(torch.as_tensor(ids), model(torch.as_tensor(x))))  # "auto": no gather
grad_error = max(float(np.max(np.abs(g - r))) for g, r in zip(grads, ref_grads))
report("torch_step", rank=rank, loss=float(total) / R, ref_loss=float(ref_loss),
       local_loss=local, grad_error=grad_error)
np.testing.assert_allclose(float(total) / R, float(ref_loss), rtol=1e-5)
for g, r in zip(grads, ref_grads):
    np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6)
assert abs(local - float(ref_loss)) > 1e-3, (local, float(ref_loss))

# ddp_fit: one SGD step == -lr * single-device gradient, identical on both ranks.
lr = 0.5
before = [v.value.detach().clone().numpy() for v in model.trainable_variables]
model.compile(optimizer=keras.optimizers.SGD(lr), loss=loss_fn)
history = distribution.ddp_fit(model, tf.data.Dataset.from_tensors(batches[rank]),
                               steps_per_epoch=1, verbose=0)
step_error = max(
    float(np.max(np.abs((v.value.detach().numpy() - b) + lr * g)))
    for v, b, g in zip(model.trainable_variables, before, ref_grads)
)
report("torch_fit_step", rank=rank, fit_loss=history.history["loss"][0],
       ref_loss=float(ref_loss), step_error=step_error)
np.testing.assert_allclose(history.history["loss"][0], float(ref_loss), rtol=1e-5)
assert step_error < 1e-5, step_error


# `distribute_dataset`: every process reads the global batches and keeps its
# slice of whole groups, so one step trains on one global batch.
def dataset_fn(spec):
    assert (spec.num_shards, spec.shard_index, spec.replicas_per_batch) == (1, 0, R), spec
    equal = global_batch(replica_batches(R, groups=(3,)))
    return tf.data.Dataset.from_tensors(equal).repeat()


dataset = setup.distribute_dataset(dataset_fn)
slice_x, slice_ids = next(iter(dataset))
own = replica_batches(R, groups=(3,))[rank]
np.testing.assert_array_equal(np.asarray(slice_x), own[0])
model.compile(optimizer=keras.optimizers.AdamW(1e-2), loss=loss_fn)
history = setup.fit(model, lambda spec: dataset_fn(spec), epochs=2, steps_per_epoch=2,
                    verbose=rank == 0)
weights = torch.cat([v.value.detach().flatten() for v in model.trainable_variables])
others = [torch.zeros_like(weights) for _ in range(R)]
dist.all_gather(others, weights)
report("torch_fit", rank=rank, losses=history["loss"], slice_ids=np.asarray(slice_ids).tolist())
assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()
assert all(torch.equal(o, weights) for o in others), "ranks diverged"
setup.close()
print("OK")
