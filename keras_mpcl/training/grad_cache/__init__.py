"""Cached (GradCache) training: large contrastive batches in the memory of small ones.

`cached_training` is the API; `mini_batches` holds what the backends share;
`tensorflow`, `jax` and `torch` each hold one backend's train step.
"""

from keras_mpcl.training.grad_cache.train_step import (
    cached_mini_batch_size,
    cached_training,
)

__all__ = ["cached_mini_batch_size", "cached_training"]
