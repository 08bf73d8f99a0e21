"""TensorFlow MirroredStrategy on 4 logical CPUs: gathered loss == single device on the global batch."""

import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from _toy import EMBEDDING, FEATURES, global_batch, replica_batches, report  # noqa: E402
from keras_mpcl import distribution  # noqa: E402
from keras_mpcl.losses import MultiPositiveContrastiveLoss  # noqa: E402

R = 4
distribution.simulate_cpu_devices(R)
setup = distribution.configure("mirrored")
strategy = setup.engine
assert setup.num_replicas == R, setup
keras.utils.set_random_seed(0)
with setup.scope():
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(EMBEDDING)])
loss_fn = MultiPositiveContrastiveLoss(temperature=0.1)
local_loss_fn = MultiPositiveContrastiveLoss(temperature=0.1, gather_across_replicas=False)

# Reference: one device, the concatenated global batch, outside the strategy.
batches = replica_batches(R)
gx, gids = global_batch(batches)
with tf.GradientTape() as tape:
    ref_loss = loss_fn(gids, model(gx))
ref_grads = tape.gradient(ref_loss, model.trainable_variables)


def step(x, ids):
    with tf.GradientTape() as tape:
        loss = loss_fn(ids, model(x))
    local = local_loss_fn(ids, model(x))
    return loss, tape.gradient(loss, model.trainable_variables), local


values = strategy.experimental_distribute_values_from_function(
    lambda ctx: batches[ctx.replica_id_in_sync_group]
)
loss, grads, local = strategy.run(tf.function(step), args=values)
loss = float(strategy.reduce("SUM", loss, axis=None))
grads = [strategy.reduce("SUM", g, axis=None) for g in grads]
local = float(strategy.reduce("SUM", local, axis=None))
grad_error = max(float(np.max(np.abs(g - r))) for g, r in zip(grads, ref_grads))
report("tf_step", loss=loss, ref_loss=float(ref_loss), local_loss=local,
       grad_error=grad_error)
np.testing.assert_allclose(loss, float(ref_loss), rtol=1e-5)
for g, r in zip(grads, ref_grads):
    np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6)
# Without gathering each replica only sees its own groups: a different loss.
assert abs(local - float(ref_loss)) > 1e-3, (local, float(ref_loss))

# Keras fit: one SGD step on the four per-replica batches moves the weights by
# -lr * (single-device gradient of the global batch).
equal = replica_batches(R, groups=(3,))
ex, eids = global_batch(equal)
with tf.GradientTape() as tape:
    ref_loss = loss_fn(eids, model(ex))
ref_grads = tape.gradient(ref_loss, model.trainable_variables)
before = [v.numpy() for v in model.trainable_variables]
lr = 0.5
with setup.scope():
    model.compile(optimizer=keras.optimizers.SGD(lr), loss=loss_fn)
setup.build_model(model, equal[0])


def dataset_fn(spec):
    # Global batches of whole groups; `distribute_dataset` cuts one slice per replica.
    assert spec.replicas_per_batch == R, spec
    return tf.data.Dataset.from_tensors((ex, eids))


history = model.fit(setup.distribute_dataset(dataset_fn), epochs=1, steps_per_epoch=1,
                    verbose=0)
step_error = max(
    float(np.max(np.abs((after.numpy() - b) + lr * g)))
    for after, b, g in zip(model.trainable_variables, before, ref_grads)
)
report("tf_fit_step", fit_loss=history.history["loss"][0], ref_loss=float(ref_loss),
       step_error=step_error)
np.testing.assert_allclose(history.history["loss"][0], float(ref_loss), rtol=1e-4)
assert step_error < 1e-5, step_error

# End to end: a few steps of fit on repeating per-replica batches.
history = model.fit(setup.distribute_dataset(lambda spec: dataset_fn(spec).repeat()),
                    epochs=1, steps_per_epoch=3, verbose=0)
losses = history.history["loss"]
report("tf_fit", losses=losses)
assert np.isfinite(losses).all()
print("OK")
