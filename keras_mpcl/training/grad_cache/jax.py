"""The cached (GradCache) train step on JAX: stateless, two `jax.lax.scan`s over mini-batches."""

import jax
import jax.numpy as jnp
import keras

from keras_mpcl import compat
from keras_mpcl.models.length_buckets import length_buckets_under_xla_error
from keras_mpcl.training.grad_cache import mini_batches


def train_step(model, mini_batch_size, state, data):
    """One optimizer step over a batch encoded `mini_batch_size` rows at a time.

    Mirrors Keras' own JAX train step (stateless
    loss, loss scaling, `stateless_apply`, metrics), with the forward and
    backward passes of the encoder split into mini-batches. Each pass is one
    `jax.lax.scan`, so `jax.jit` compiles the encoder once whatever the
    number of mini-batches, and the second pass hands every mini-batch the
    seed-generator states it started from in the first.

    Args:
        model: the `keras.Model` being trained.
        mini_batch_size: int. Rows encoded at once.
        state: `(trainable, non_trainable, optimizer, metrics)` variable values.
        data: the batch `fit` hands to a train step.

    Returns:
        `(logs, state)`, as Keras' step returns them.
    """
    if getattr(model, "length_buckets", 1) > 1:
        # The mini-batch loop is a `jax.lax.scan`: traced, even without `jax.jit`.
        raise length_buckets_under_xla_error(
            "`length_buckets` > 1 under `cached_training` on JAX",
            "Set `length_buckets = 1`, or train on TensorFlow (without XLA) or PyTorch.",
        )
    trainable, non_trainable, optimizer_variables, metrics_variables = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    num_rows = mini_batches.batch_size(x)
    rows = mini_batches.mini_batch_rows(num_rows, mini_batch_size)
    chunks = mini_batches.take_rows(x, rows)  # every tensor: (K, M, ...)
    seed_ids = {id(v) for v in mini_batches.seed_state_variables(model)}
    seed_positions = [
        i for i, v in enumerate(model.non_trainable_variables) if id(v) in seed_ids
    ]

    def encode(trainable, non_trainable, chunk):
        embeddings, non_trainable, losses = model.stateless_call(
            trainable, non_trainable, chunk, training=True, return_losses=True
        )
        mini_batches.refuse_model_losses(losses)
        return embeddings.astype("float32"), list(non_trainable)

    def with_seeds(non_trainable, seeds):
        non_trainable = list(non_trainable)
        for position, seed in zip(seed_positions, seeds):
            non_trainable[position] = seed
        return non_trainable

    # 1. Encode each mini-batch without gradients, keeping the seeds it started from.
    def encode_without_gradients(non_trainable, chunk):
        seeds = [non_trainable[position] for position in seed_positions]
        embeddings, non_trainable = encode(trainable, non_trainable, chunk)
        return non_trainable, (jax.lax.stop_gradient(embeddings), seeds)

    non_trainable, (embeddings, seeds) = jax.lax.scan(
        encode_without_gradients, list(non_trainable), chunks
    )
    embeddings = embeddings.reshape(-1, embeddings.shape[-1])[:num_rows]

    # 2. The loss of the whole batch and its gradient w.r.t. the embeddings.
    def scaled_loss(embeddings):
        loss, (_, _, new_metrics) = model.stateless_compute_loss(
            trainable, non_trainable, metrics_variables,
            x=x, y=y, y_pred=embeddings, sample_weight=sample_weight, training=True,
        )
        unscaled = loss
        if model.optimizer is not None:
            mapping = list(zip(model.optimizer.variables, optimizer_variables))
            with keras.StatelessScope(state_mapping=mapping):
                loss = model.optimizer.scale_loss(loss)
        return loss, (unscaled, new_metrics)

    (_, (loss, metrics_variables)), embedding_gradients = jax.value_and_grad(
        scaled_loss, has_aux=True
    )(embeddings)
    embedding_gradients = mini_batches.pad_rows(embedding_gradients, rows.size).reshape(
        rows.shape + (-1,)
    )

    # 3. Encode each mini-batch again from its seeds, back-propagating its
    # cached embedding gradients: d/dw sum(e * g) summed over mini-batches.
    def encode_with_gradients(carry, inputs):
        totals, non_trainable = carry
        chunk, chunk_gradients, seeds = inputs

        def surrogate(trainable):
            embeddings, new_non_trainable = encode(
                trainable, with_seeds(non_trainable, seeds), chunk
            )
            return jnp.sum(embeddings * chunk_gradients), new_non_trainable

        gradients, non_trainable = jax.grad(surrogate, has_aux=True)(trainable)
        return (jax.tree.map(jnp.add, totals, gradients), non_trainable), None

    (gradients, non_trainable), _ = jax.lax.scan(
        encode_with_gradients,
        ([jnp.zeros_like(v) for v in trainable], non_trainable),
        (chunks, embedding_gradients, seeds),
    )
    trainable, optimizer_variables = model.optimizer.stateless_apply(
        optimizer_variables, gradients, trainable
    )
    logs, metrics_variables = compat.update_metrics_variables(
        model, metrics_variables, loss, x, y, embeddings, sample_weight
    )
    return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)
