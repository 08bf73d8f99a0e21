"""TensorFlow MirroredStrategy on 2 logical CPUs: a cached step == one device on the global batch.

Each replica encodes its rows in mini-batches without gradients, the loss
gathers the cached embeddings of both replicas, and each replica
back-propagates its rows' embedding gradients: the update must equal the
plain single-device step on the concatenated batch.
"""

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
from keras_mpcl.training import cached_training  # noqa: E402

R = 2
MINI_BATCH_SIZE = 4  # 9 rows per replica: two mini-batches of 4 and one completed with repeats
LEARNING_RATE = 0.5
distribution.simulate_cpu_devices(R)
setup = distribution.configure("mirrored")
assert setup.num_replicas == R, setup
loss_fn = MultiPositiveContrastiveLoss(temperature=0.1)
batches = replica_batches(R, groups=(3,))
gx, gids = global_batch(batches)


def make_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(EMBEDDING)])


# Reference: one device, the concatenated global batch, outside the strategy.
model = make_model()
with tf.GradientTape() as tape:
    ref_loss = loss_fn(gids, model(gx))
ref_grads = tape.gradient(ref_loss, model.trainable_variables)
expected = [v.numpy() - LEARNING_RATE * g.numpy() for v, g in zip(model.trainable_variables, ref_grads)]

with setup.scope():
    model = make_model()
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss=loss_fn)
cached_training(model, MINI_BATCH_SIZE)
setup.build_model(model, batches[0])


def dataset_fn(spec):
    # Global batches of whole groups; `distribute_dataset` cuts one slice per replica.
    assert spec.replicas_per_batch == R, spec
    return tf.data.Dataset.from_tensors((gx, gids))


history = model.fit(setup.distribute_dataset(dataset_fn), epochs=1, steps_per_epoch=1, verbose=0)
step_error = max(
    float(np.max(np.abs(v.numpy() - e))) for v, e in zip(model.trainable_variables, expected)
)
report("tf_cached_step", fit_loss=history.history["loss"][0], ref_loss=float(ref_loss),
       step_error=step_error)
np.testing.assert_allclose(history.history["loss"][0], float(ref_loss), rtol=1e-5)
assert step_error < 1e-5, step_error


# With dropout: three cached steps == three plain steps of a model that
# encodes each replica's rows in the same mini-batches (same dropout masks).
class MiniBatched(keras.Model):
    def __init__(self, model):
        super().__init__(name="mini_batched")
        self.model = model

    def call(self, x, training=None):
        rows = x.shape[0]  # 9 on each replica: mini-batches of 3
        return keras.ops.concatenate(
            [self.model(x[s : s + 3], training=training) for s in range(0, rows, 3)], axis=0
        )


def train_with_dropout(wrap):
    with setup.scope():
        keras.utils.set_random_seed(0)
        encoder = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(16),
                                    keras.layers.Dropout(0.3), keras.layers.Dense(EMBEDDING)])
        model = wrap(encoder)
        model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss=loss_fn)
    setup.build_model(model, batches[0])
    history = model.fit(setup.distribute_dataset(lambda spec: dataset_fn(spec).repeat()),
                        epochs=3, steps_per_epoch=1, verbose=0)
    return history.history["loss"], [v.numpy() for v in encoder.trainable_variables]


cached_losses, cached_weights = train_with_dropout(lambda e: cached_training(e, 3))
losses, weights = train_with_dropout(MiniBatched)
weight_error = max(float(np.max(np.abs(a - b))) for a, b in zip(cached_weights, weights))
report("tf_cached_dropout", losses=cached_losses, reference_losses=losses,
       weight_error=weight_error)
np.testing.assert_allclose(cached_losses, losses, rtol=1e-5)
assert weight_error < 1e-5, weight_error
print("OK")
