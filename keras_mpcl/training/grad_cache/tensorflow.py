"""The cached (GradCache) train step on TensorFlow: `tf.while_loop`s over mini-batches."""

import warnings

import keras
import tensorflow as tf

from keras_mpcl import compat
from keras_mpcl.distribution.collectives import num_replicas_in_sync
from keras_mpcl.training.grad_cache import mini_batches


def _encode(model, inputs):
    return tf.cast(model(inputs, training=True), "float32")


def _read_seeds(seeds):
    if not seeds:
        return tf.zeros((0, 2), "int64")
    return tf.stack([tf.cast(seed.value, "int64") for seed in seeds])


def _restore_seeds(seeds, values):
    for index, seed in enumerate(seeds):
        seed.assign(tf.cast(values[index], seed.dtype))


def train_step(model, mini_batch_size, data):
    """One optimizer step over a batch encoded `mini_batch_size` rows at a time.

    Mirrors Keras' own TensorFlow train step
    (loss tracking, loss scaling, `apply_gradients`), with the forward and
    backward passes of the encoder split into mini-batches. The loops run with
    `parallel_iterations=1`: one mini-batch is alive at a time, and each
    restores the random state it recorded before being encoded again.

    Args:
        model: the `keras.Model` being trained.
        mini_batch_size: int. Rows encoded at once.
        data: the batch `fit` hands to a train step.

    Returns:
        The logs dict of `model.compute_metrics`.
    """
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    num_rows = mini_batches.batch_size(x)
    rows = mini_batches.mini_batch_rows(num_rows, mini_batch_size)
    count = tf.shape(rows)[0]
    seeds = mini_batches.seed_state_variables(model)

    # 1. Encode each mini-batch without a tape, keeping its seeds and embeddings.
    def encode_without_gradients(index, embeddings, seed_values):
        seed_values = seed_values.write(index, _read_seeds(seeds))
        chunk_embeddings = tf.stop_gradient(_encode(model, mini_batches.take_rows(x, rows[index])))
        mini_batches.refuse_model_losses(model.losses)
        return index + 1, embeddings.write(index, chunk_embeddings), seed_values

    _, embeddings, seed_values = tf.while_loop(
        lambda index, *_: index < count,
        encode_without_gradients,
        (
            tf.constant(0),
            tf.TensorArray("float32", size=count),
            tf.TensorArray("int64", size=count, element_shape=(len(seeds), 2)),
        ),
        parallel_iterations=1,
    )
    embeddings = embeddings.concat()[:num_rows]

    # 2. The loss of the whole batch and its gradient w.r.t. the embeddings.
    with tf.GradientTape() as tape:
        tape.watch(embeddings)
        loss = model.compute_loss(
            x=x, y=y, y_pred=embeddings, sample_weight=sample_weight, training=True
        )
        compat.track_loss(model, loss * num_replicas_in_sync(), num_rows)
        scaled_loss = model.optimizer.scale_loss(loss) if model.optimizer is not None else loss
    embedding_gradients = tape.gradient(scaled_loss, embeddings)
    embedding_gradients = tf.reshape(
        mini_batches.pad_rows(embedding_gradients, tf.size(rows)),
        (count, tf.shape(rows)[1], -1),
    )

    # 3. Encode each mini-batch again with its seeds, back-propagating its
    # cached embedding gradients: d/dw sum(e * g) summed over mini-batches.
    variables = model.trainable_variables
    if not variables:
        warnings.warn("The model does not have any trainable weights.")
        return model.compute_metrics(x, y, embeddings, sample_weight=sample_weight)
    unconnected = []

    def encode_with_gradients(index, *gradients):
        _restore_seeds(seeds, seed_values.read(index))
        with tf.GradientTape() as tape:
            chunk_embeddings = _encode(model, mini_batches.take_rows(x, rows[index]))
            surrogate = tf.reduce_sum(chunk_embeddings * embedding_gradients[index])
        chunk_gradients = tape.gradient(surrogate, variables)
        # Weights the embeddings do not use get no gradient, as in Keras' own
        # step (the optimizer then leaves them alone): remembered at tracing.
        unconnected[:] = [gradient is None for gradient in chunk_gradients]
        return (index + 1,) + tuple(
            total if gradient is None else total + tf.convert_to_tensor(gradient)
            for total, gradient in zip(gradients, chunk_gradients)
        )

    _, *gradients = tf.while_loop(
        lambda index, *_: index < count,
        encode_with_gradients,
        (tf.constant(0),) + tuple(tf.zeros_like(v.value) for v in variables),
        parallel_iterations=1,
    )
    gradients = [None if none else g for none, g in zip(unconnected, gradients)]
    model.optimizer.apply_gradients(zip(gradients, variables))
    return model.compute_metrics(x, y, embeddings, sample_weight=sample_weight)
