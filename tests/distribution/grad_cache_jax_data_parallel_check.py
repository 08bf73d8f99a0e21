"""JAX DataParallel on 2 simulated CPU devices: a cached step == one device on the global batch.

Under `keras.distribution.DataParallel` the jitted step sees the global
batch, so the loss on the cached embeddings contrasts every device's rows
without a gather; the update must equal the plain single-device step.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
# Must be set before JAX initialises its backends.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from _toy import EMBEDDING, FEATURES, global_batch, replica_batches, report  # noqa: E402
from keras_mpcl import distribution  # noqa: E402
from keras_mpcl.losses import MultiPositiveContrastiveLoss  # noqa: E402
from keras_mpcl.training import cached_training  # noqa: E402

R = 2
MINI_BATCH_SIZE = 4  # 16 rows: four mini-batches
LEARNING_RATE = 0.5
assert jax.device_count() == R, jax.devices()
loss_fn = MultiPositiveContrastiveLoss(temperature=0.1)
gx, gids = global_batch(replica_batches(R, groups=(4,), group_size=2))


def make_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(EMBEDDING)])


# Reference: no distribution, one device, the global batch.
model = make_model()
trainable = [v.value for v in model.trainable_variables]


def global_loss(trainable):
    embeddings, _ = model.stateless_call(trainable, [], gx)
    return loss_fn(gids, embeddings)


ref_loss, ref_grads = jax.value_and_grad(global_loss)(trainable)
expected = [np.asarray(v) - LEARNING_RATE * np.asarray(g) for v, g in zip(trainable, ref_grads)]

setup = distribution.configure("data_parallel")
assert setup.num_replicas == R, setup
model = make_model()
with setup.scope():
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss=loss_fn)
cached_training(model, MINI_BATCH_SIZE)
history = model.fit(
    setup.distribute_dataset(lambda spec: tf.data.Dataset.from_tensors((gx, gids))),
    epochs=1, verbose=0,
)
step_error = max(
    float(np.max(np.abs(np.asarray(v.value) - e)))
    for v, e in zip(model.trainable_variables, expected)
)
report("jax_cached_step", fit_loss=history.history["loss"][0], ref_loss=float(ref_loss),
       step_error=step_error)
np.testing.assert_allclose(history.history["loss"][0], float(ref_loss), rtol=1e-5)
assert step_error < 1e-5, step_error
setup.close()
print("OK")
