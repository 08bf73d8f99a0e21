"""The few backend-specific helpers outside `keras_mpcl.distribution`."""

import contextlib
import logging
import random

import keras
import numpy as np


def reseed_host_generators(seed):
    """Seeds Python's, NumPy's and (torch backend) torch's global generators.

    Unlike `keras.utils.set_random_seed`, TensorFlow's global seed is left
    alone: `tf.random.set_seed` resets TensorFlow's eager context, which frees
    the SentencePiece resources of tensorflow-text tokenizers that a running
    `tf.data` pipeline still uses (XLM-RoBERTa preprocessing then fails with
    "Resource ... SentencepieceOp ... does not exist"). Keras' dropout does not
    use TensorFlow's global seed; unseeded torch dropout uses torch's.

    Args:
        seed: int. The seed.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)


def torch_is_compiling():
    """Whether the code runs inside a `torch.compile` trace (False on other backends)."""
    if keras.backend.backend() != "torch":
        return False
    import torch

    return torch.compiler.is_compiling()


def is_traced_by_jax_jit(x):
    """Whether `x` is an abstract value inside a `jax.jit` trace (False on other backends)."""
    if keras.backend.backend() != "jax":
        return False
    import jax

    return isinstance(x, jax.core.Tracer)


@contextlib.contextmanager
def quiet_retracing():
    """Silences TensorFlow's "triggered tf.function retracing" warning inside the block.

    Encoding batches of a few fixed widths retraces the predict function once
    per shape, on purpose; TensorFlow would warn about each. Other backends:
    no-op.
    """
    if keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf

    tf_logger = tf.get_logger()
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        tf_logger.setLevel(level)
