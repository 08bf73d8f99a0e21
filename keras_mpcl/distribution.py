"""Per-backend distribution helpers: the one module that branches on the backend."""

import keras


def num_replicas_in_sync():
    """Number of replicas a TensorFlow `tf.distribute` strategy runs in sync (1 elsewhere)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.distribute.get_strategy().num_replicas_in_sync
    return 1


def scale_loss_for_replicas(value):
    """Divides a per-replica mean loss by the replica count, as Keras' losses do.

    Under `tf.distribute` each replica's gradients are summed, so a mean over a
    replica's batch must be divided by the number of replicas for the update to
    equal the global-batch mean. Other backends need no scaling.
    """
    replicas = num_replicas_in_sync()
    if replicas > 1:
        value = value * (1.0 / replicas)
    return value
