"""`cached_training`: makes `fit` train an encoder with GradCache steps."""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING

import keras

from keras_mpcl.validation import check_int

if TYPE_CHECKING:
    from keras_mpcl.typing import ModelT

BACKENDS = ("tensorflow", "jax", "torch")
_MINI_BATCH_SIZE_ATTRIBUTE = "_keras_mpcl_mini_batch_size"


def cached_training(encoder: ModelT, mini_batch_size: int = 32) -> ModelT:
    """Trains `encoder` on whole batches while encoding only `mini_batch_size` rows at a time.

    A contrastive loss needs every embedding of the batch at once, so the
    memory of a plain training step grows with the batch. GradCache splits
    the step of a batch of `N` texts into `K = ceil(N / M)` mini-batches of
    `M = mini_batch_size` rows:

    1. encode each mini-batch without recording gradients, caching the `N`
       embeddings `e_i`;
    2. compute the loss `L(e_1, ..., e_N)` of the whole batch (sample
       weights, every option of the loss, the cross-replica gather of
       `MultiPositiveContrastiveLoss` included) and its gradients
       `g_i = dL/de_i`;
    3. encode each mini-batch again with gradients and back-propagate
       `sum_i e_i . g_i`, accumulating `dL/dw = sum_i g_i . de_i/dw`;
    4. take one optimizer step (loss scaling, gradient clipping and the
       learning-rate schedule as in Keras' own step).

    The gradient equals that of the plain step, at the cost of a second
    forward pass, while activations are held for `M` rows only. Dropout
    masks are the same in both encodings of a mini-batch: each mini-batch
    is encoded again from the random state (seed generators, and torch's
    global generator) it was first encoded from. So training matches, to
    float rounding, a plain step that encodes the batch in the same
    mini-batches; without dropout it matches the plain step.

    `M` need not divide `N`: the last mini-batch is then completed with
    repeats of the last row, whose gradients are dropped, so that every
    mini-batch has the same shape (XLA and `jax.jit` compile the encoder
    once); pick `M` dividing the batch size to waste no work. The loops over
    mini-batches are `tf.while_loop` (TensorFlow, with or without XLA),
    `jax.lax.scan` (JAX) and a Python loop (PyTorch, eager execution only).

    Combinations: `keras_mpcl.models.rematerialize` works with it (both pin
    the same dropout seeds). `length_buckets` > 1 works on TensorFlow
    without XLA and on PyTorch, and is refused on JAX and under XLA, whose
    mini-batch loops are traced. Models that add losses of their
    own (`add_loss`, regularizers) are refused: only the compiled loss is
    back-propagated through the embeddings. Distributed: TensorFlow's
    `MirroredStrategy`, JAX's `DataParallel` and PyTorch DDP
    (`keras_mpcl.distribution.ddp_fit`) work. Non-trainable state other than random seeds (e.g.
    BatchNormalization statistics; sentence encoders have none) is updated
    by both encodings.

    The setting belongs to the Python object, like `rematerialize`: a saved
    and reloaded encoder trains without it until `cached_training` is called
    again. Calling it again replaces `mini_batch_size`.

    Args:
        encoder: `keras.Model`. A model whose output is the `(N, D)`
            embeddings of its `N` inputs, e.g. a keras-mpcl sentence encoder.
        mini_batch_size: int. Rows encoded at once, `M`. Defaults to `32`.

    Returns:
        The same `encoder`, modified in place.

    Examples:

    >>> import keras_mpcl
    >>> encoder = keras_mpcl.models.build_encoder(
    ...     {"hidden_dim": 16, "num_layers": 1, "num_heads": 2,
    ...      "intermediate_dim": 32, "vocabulary_size": 120},
    ...     texts=["hello world", "hallo welt", "bonjour le monde"])
    >>> encoder = keras_mpcl.training.cached_training(encoder, mini_batch_size=2)
    >>> encoder.compile(optimizer="adam",
    ...                 loss=keras_mpcl.MultiPositiveContrastiveLoss())
    >>> history = encoder.fit(
    ...     x=["hello world", "hallo welt", "bonjour le monde", "salut"],
    ...     y=[0, 0, 1, 1], epochs=1, verbose=0)

    Reference:
        Gao et al., 2021, "Scaling Deep Contrastive Learning Batch Size under
        Memory Limited Setup", https://arxiv.org/abs/2101.06983
    """
    if not isinstance(encoder, keras.Model):
        raise TypeError(
            "`cached_training` needs a `keras.Model` whose output is the embeddings. "
            f"Received: {type(encoder).__name__}"
        )
    check_int("mini_batch_size", mini_batch_size, what="a positive int (rows encoded at once)")
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise ValueError(
            f"`cached_training` supports the backends {BACKENDS}. Received: the "
            f"{backend!r} backend"
        )
    step = importlib.import_module(f"keras_mpcl.training.grad_cache.{backend}").train_step
    # object.__setattr__: Keras' attribute tracking has nothing to track here.
    object.__setattr__(encoder, "train_step", functools.partial(step, encoder, mini_batch_size))
    object.__setattr__(encoder, _MINI_BATCH_SIZE_ATTRIBUTE, mini_batch_size)
    encoder.train_function = None  # a compiled encoder builds its step function again
    return encoder


def cached_mini_batch_size(model: keras.Model) -> int | None:
    """The `mini_batch_size` `cached_training` gave `model`, or None if it trains uncached.

    Examples:

    >>> import keras
    >>> model = keras.Sequential([keras.layers.Dense(2)])
    >>> cached_mini_batch_size(model) is None
    True
    >>> cached_mini_batch_size(cached_training(model, 8))
    8
    """
    return getattr(model, _MINI_BATCH_SIZE_ATTRIBUTE, None)
