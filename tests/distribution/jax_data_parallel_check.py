"""JAX DataParallel on 4 simulated CPU devices: the jitted loss sees the global batch."""

import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
# Must be set before JAX initialises its backends.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    " --xla_cpu_collective_call_terminate_timeout_seconds=3600"
)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from _toy import EMBEDDING, FEATURES, replica_batches, report  # noqa: E402
from keras_mpcl import distribution  # noqa: E402
from keras_mpcl.losses import MultiPositiveContrastiveLoss  # noqa: E402

R = 4
assert jax.device_count() == R, jax.devices()
loss_fn = MultiPositiveContrastiveLoss(temperature=0.1)
# Four groups of three per device; ids are unique across the global batch
# (the JAX pipeline yields global batches), and one row is padding.
batches = replica_batches(R, groups=(4,))
gx = np.concatenate([x for x, _ in batches])
gids = np.concatenate([i + 4 * r * (i >= 0) for r, (_, i) in enumerate(batches)]).astype(
    "int32"
)


def make_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(EMBEDDING)])


def loss_and_grads(model, x, ids):
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    def compute(trainable, x, ids):
        y_pred, _ = model.stateless_call(trainable, non_trainable, x)
        return loss_fn(ids, y_pred)

    return jax.jit(jax.value_and_grad(compute))(trainable, x, ids)


# Reference: no distribution, one device, the global batch.
model = make_model()
ref_loss, ref_grads = loss_and_grads(model, gx, gids)
# What each device would compute on its own rows (no cross-device negatives).
local = np.mean(
    [float(loss_and_grads(model, x, i)[0]) for x, i in batches]
)

setup = distribution.configure("data_parallel")
assert setup.strategy == "data_parallel" and setup.num_replicas == R, setup
spec = setup.shard_spec()
assert spec == distribution.ShardSpec(1, 0, R), spec
model = make_model()
layout = setup.engine.get_data_layout(gx.shape)
sx = keras.distribution.distribute_tensor(gx, layout)
sids = keras.distribution.distribute_tensor(gids, setup.engine.get_data_layout(gids.shape))
shards = [tuple(s.data.shape) for s in sx.addressable_shards]
dist_loss, dist_grads = loss_and_grads(model, sx, sids)
grad_error = max(float(np.max(np.abs(g - r))) for g, r in zip(dist_grads, ref_grads))
report("jax_step", loss=float(dist_loss), ref_loss=float(ref_loss), local_loss=local,
       shards=shards, grad_error=grad_error)
assert len(shards) == R and all(s[0] == gx.shape[0] // R for s in shards), shards
np.testing.assert_allclose(float(dist_loss), float(ref_loss), rtol=1e-5)
for g, r in zip(dist_grads, ref_grads):
    np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-4, atol=1e-6)
assert abs(local - float(ref_loss)) > 1e-3, (local, float(ref_loss))

# Keras fit under DataParallel: one SGD step == -lr * single-device gradient.
lr = 0.5
with setup.scope():
    model.compile(optimizer=keras.optimizers.SGD(lr), loss=loss_fn)
before = [np.asarray(v.value) for v in model.trainable_variables]


def dataset_fn(spec):
    return tf.data.Dataset.from_tensors((gx, gids))


history = model.fit(setup.distribute_dataset(dataset_fn), epochs=1, verbose=0)
step_error = max(
    float(np.max(np.abs((np.asarray(v.value) - b) + lr * np.asarray(g))))
    for v, b, g in zip(model.trainable_variables, before, ref_grads)
)
report("jax_fit_step", fit_loss=history.history["loss"][0], ref_loss=float(ref_loss),
       step_error=step_error)
np.testing.assert_allclose(history.history["loss"][0], float(ref_loss), rtol=1e-4)
assert step_error < 1e-5, step_error
history = model.fit(
    setup.distribute_dataset(lambda spec: dataset_fn(spec).repeat()),
    epochs=1, steps_per_epoch=3, verbose=0,
)
report("jax_fit", losses=history.history["loss"])
assert np.isfinite(history.history["loss"]).all()
setup.close()

# Device mesh option: (batch=2, model=2), the Dense kernel split on "model".
def layout_map(mesh):
    layouts = keras.distribution.LayoutMap(mesh)
    layouts[".*dense.*kernel"] = (None, "model")
    layouts[".*dense.*bias"] = ("model",)
    return layouts


setup = distribution.configure("data_parallel", mesh_shape=(2, 2), layout_map=layout_map)
model = make_model()
kernel = model.trainable_variables[0].value
mesh_loss, mesh_grads = loss_and_grads(
    model,
    keras.distribution.distribute_tensor(gx, setup.engine.get_data_layout(gx.shape)),
    keras.distribution.distribute_tensor(gids, setup.engine.get_data_layout(gids.shape)),
)
report("jax_mesh", loss=float(mesh_loss), kernel_shards=len(kernel.addressable_shards),
       kernel_shard_shape=tuple(kernel.addressable_shards[0].data.shape))
assert kernel.addressable_shards[0].data.shape == (FEATURES, EMBEDDING // 2)
np.testing.assert_allclose(float(mesh_loss), float(ref_loss), rtol=1e-5)
for g, r in zip(mesh_grads, ref_grads):
    np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-4, atol=1e-6)
setup.close()
print("OK")
