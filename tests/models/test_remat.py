"""rematerialize: same losses and gradients as the plain encoder, with dropout on."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_mpcl.losses import MultiPositiveContrastiveLoss
from keras_mpcl.models import build_encoder
from keras_mpcl.models import encode
from keras_mpcl.models import rematerialize

from .test_builders import IDS
from .test_builders import TEXTS

# High dropout, so that a dropout mask that differs between the forward pass
# and the recomputation changes the gradients visibly.
TINY = {"hidden_dim": 16, "num_layers": 2, "num_heads": 2, "intermediate_dim": 32,
        "vocabulary_size": 80, "dropout": 0.3, "architecture": "bert"}


def _build(architecture="bert"):
    keras.utils.set_random_seed(7)  # same weights and dropout seeds every build
    return build_encoder(dict(TINY, architecture=architecture), texts=TEXTS, max_length=12)


def _train(encoder, jit_compile, steps=3):
    """Weights after `steps` SGD steps (lr 1: the updates are the gradients)."""
    encoder.compile(optimizer=keras.optimizers.SGD(1.0),
                    loss=MultiPositiveContrastiveLoss(), jit_compile=jit_compile)
    # No set_random_seed here: the dropout seeds were fixed at build time, and
    # tf.random.set_seed would free tensorflow-text's SentencePiece resource.
    data = tf.data.Dataset.from_tensors((tf.constant(TEXTS), tf.constant(IDS))).repeat(steps)
    history = encoder.fit(data, epochs=1, verbose=0)
    return history.history["loss"][0], [np.array(w) for w in encoder.get_weights()]


def _cases():
    # Each backend's default compilation for both architectures (TensorFlow on
    # CPU: graph without XLA; JAX: jit; PyTorch: eager), plus XLA for BERT.
    default = keras.backend.backend() == "jax"
    cases = [("bert", default), ("xlm_roberta", default)]
    if keras.backend.backend() == "tensorflow":
        cases.append(("bert", True))
    return cases


@pytest.mark.parametrize("architecture,jit_compile", _cases())
def test_training_matches_the_plain_encoder_with_dropout(architecture, jit_compile):
    plain_loss, plain_weights = _train(_build(architecture), jit_compile)
    remat_loss, remat_weights = _train(rematerialize(_build(architecture)), jit_compile)
    np.testing.assert_allclose(remat_loss, plain_loss, rtol=1e-5)
    for plain, remat in zip(plain_weights, remat_weights):
        np.testing.assert_allclose(remat, plain, rtol=1e-4, atol=1e-5)


def test_the_first_layers_only_match_the_plain_encoder_and_the_rest_stay_plain():
    jit_compile = keras.backend.backend() == "jax"
    plain_loss, plain_weights = _train(_build(), jit_compile)
    encoder = rematerialize(_build(), num_layers=1)
    flags = [getattr(layer, "_keras_mpcl_remat", False)
             for layer in encoder.backbone.transformer_layers]
    assert flags == [True, False]
    remat_loss, remat_weights = _train(encoder, jit_compile)
    np.testing.assert_allclose(remat_loss, plain_loss, rtol=1e-5)
    for plain, remat in zip(plain_weights, remat_weights):
        np.testing.assert_allclose(remat, plain, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("num_layers", [0, 3, True, 1.0])
def test_a_number_of_layers_the_encoder_lacks_is_refused(num_layers):
    with pytest.raises(ValueError, match=r"`num_layers` must be an int from 1 to 2"):
        rematerialize(_build(), num_layers=num_layers)


def test_dropout_is_on_so_the_check_can_fail():
    # Different dropout seeds (no set_random_seed before training) must give
    # different weights, or the test above would hold trivially.
    encoder = _build()
    encoder.compile(optimizer=keras.optimizers.SGD(1.0), loss=MultiPositiveContrastiveLoss())
    data = tf.data.Dataset.from_tensors((tf.constant(TEXTS), tf.constant(IDS)))
    before = [np.array(w) for w in encoder.get_weights()]
    encoder.fit(data, verbose=0)
    first = [np.array(w) - b for w, b in zip(encoder.get_weights(), before)]
    encoder.set_weights(before)
    encoder.fit(data, verbose=0)
    second = [np.array(w) - b for w, b in zip(encoder.get_weights(), before)]
    assert max(np.abs(a - b).max() for a, b in zip(first, second)) > 1e-4


def test_inference_is_unchanged_and_calling_twice_is_harmless():
    plain = encode(_build(), TEXTS)
    encoder = rematerialize(rematerialize(_build()))
    np.testing.assert_allclose(encode(encoder, TEXTS), plain, atol=1e-6)


def test_a_model_without_transformer_layers_is_refused():
    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="transformer_layers"):
        rematerialize(model)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile only")
def test_torch_compile_is_refused_with_the_fix():
    encoder = _build()
    encoder.compile(optimizer="sgd", loss=MultiPositiveContrastiveLoss(), jit_compile=True)
    with pytest.raises(ValueError, match="jit_compile=False"):
        rematerialize(encoder)
