"""What every backend's cached step shares: the mini-batch rows, the random state to replay."""

import keras
from keras import ops

from keras_mpcl.models.length_buckets import is_split_into_length_chunks
from keras_mpcl.models.length_buckets import length_buckets_under_xla_error

# The name Keras gives the state variable of every `keras.random.SeedGenerator`
# (dropout layers hold one each); public, unlike the layers' generator lists.
_SEED_STATE_NAME = "seed_generator_state"


def mini_batch_rows(num_rows, mini_batch_size):
    """Row indices of the mini-batches of a batch: `(K, M)` ints, `K = ceil(N / M)`.

    Every mini-batch has the same number of rows, so that one compiled
    encoder step serves them all (XLA and `jax.jit` need static shapes).
    When `M` does not divide `N`, the last mini-batch is completed with
    repeats of row `N - 1`; the cached steps give those rows a zero gradient.
    A batch smaller than `M` (known from its static shape) is one mini-batch
    of `N` rows.

    Args:
        num_rows: int, or a scalar int tensor when the batch size is known
            only at run time. `N`.
        mini_batch_size: int. `M`.

    Returns:
        An int32 tensor of shape `(K, M)`.

    Examples:

    >>> keras.ops.convert_to_numpy(mini_batch_rows(5, 2)).tolist()
    [[0, 1], [2, 3], [4, 4]]
    >>> keras.ops.convert_to_numpy(mini_batch_rows(3, 8)).tolist()
    [[0, 1, 2]]
    """
    if isinstance(num_rows, int):
        mini_batch_size = min(mini_batch_size, num_rows)
    count = (num_rows + mini_batch_size - 1) // mini_batch_size
    rows = ops.minimum(ops.arange(count * mini_batch_size, dtype="int32"), num_rows - 1)
    return ops.reshape(rows, (-1, mini_batch_size))


def take_rows(inputs, rows):
    """The given rows of every tensor of a (nested) batch.

    Args:
        inputs: a tensor or a nested structure (e.g. a dict of token ids and
            padding mask) of tensors with the batch on axis 0.
        rows: int tensor of row indices.

    Returns:
        The same structure, each tensor restricted to `rows`.
    """
    return keras.tree.map_structure(lambda tensor: ops.take(tensor, rows, axis=0), inputs)


def batch_size(inputs):
    """The number of rows of a (nested) batch: an int, or a scalar tensor if unknown."""
    if is_split_into_length_chunks(inputs):
        # Its chunks have different widths: there are no rows to cut mini-batches from.
        raise length_buckets_under_xla_error(
            "`length_buckets` > 1 with `cached_training` under XLA",
            "Compile with `jit_compile=False` (TensorFlow), or use `length_buckets=1`.",
        )
    first = keras.tree.flatten(inputs)[0]
    static = first.shape[0]
    return static if static is not None else ops.shape(first)[0]


def seed_state_variables(model):
    """The state variables of the model's seed generators (dropout's random state).

    Restoring them before a mini-batch is encoded again replays the dropout
    masks of its first encoding: the same idea as `keras_mpcl.models.rematerialize`.

    Returns:
        A list of the `keras.Variable`s among `model.non_trainable_variables`
        that are seed-generator states.
    """
    return [
        variable
        for variable in model.non_trainable_variables
        if variable.name == _SEED_STATE_NAME
    ]


def refuse_model_losses(losses):
    """Raises unless the encoder adds no loss of its own (`add_loss`, regularizers).

    A cached step back-propagates the gradient of the compiled loss with
    respect to the embeddings; a loss that depends on the weights directly
    would be left out.
    """
    if losses:
        raise ValueError(
            "`cached_training` back-propagates the compiled loss through the "
            f"embeddings only, but the model adds {len(losses)} loss(es) of its own "
            "(`add_loss`, an activity or weight regularizer). Remove them, or train "
            "without `cached_training`."
        )


def pad_rows(gradients, num_rows):
    """Appends zero rows to `(N, D)` gradients up to `num_rows` (the rows of all mini-batches)."""
    missing = num_rows - ops.shape(gradients)[0]
    return ops.pad(gradients, [[0, missing], [0, 0]])
