"""cached_training: a GradCache step equals the plain step on the same mini-batches.

The reference is the plain (uncached) Keras step of a model that encodes its
batch in the same mini-batches, one after the other: its dropout seeds are
drawn in the same order, so with dropout on the two agree only if the cached
step replays each mini-batch's dropout masks. Without dropout the reference
is the plain step of the encoder itself.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_mpcl.layers import LearnableTemperature
from keras_mpcl.losses import MultiPositiveContrastiveLoss
from keras_mpcl.models import build_encoder
from keras_mpcl.models import rematerialize
from keras_mpcl.training import cached_training

TEXTS = [
    "the cat sleeps", "le chat dort", "die katze schläft",
    "the dog runs", "le chien court", "der hund läuft",
    "a red apple", "une pomme rouge", "ein roter apfel",
    "we read books", "nous lisons des livres", "wir lesen bücher",
]
IDS = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
# High dropout, so that a mask that differs between the two encodings of a
# mini-batch changes the gradients visibly.
TINY = {"hidden_dim": 16, "num_layers": 1, "num_heads": 2, "intermediate_dim": 32,
        "vocabulary_size": 80, "dropout": 0.3, "architecture": "bert"}
STEPS = 3
FEATURES = 8


class _MiniBatchedReference(keras.Model):
    """Encodes its batch in mini-batches of `mini_batch_size` rows, trained by Keras' own step.

    Rows are cut as `cached_training` cuts them: the last mini-batch is
    completed with repeats of the last row, whose embeddings are dropped.
    """

    def __init__(self, model, mini_batch_size):
        super().__init__(name="mini_batched_reference")
        self.model = model
        self.mini_batch_size = mini_batch_size

    def call(self, inputs, training=None):
        num_rows = keras.tree.flatten(inputs)[0].shape[0]
        size = min(self.mini_batch_size, num_rows)
        count = -(-num_rows // size)
        rows = np.minimum(np.arange(count * size), num_rows - 1).reshape(count, size)
        embeddings = [
            self.model(_take_rows(inputs, chunk_rows), training=training) for chunk_rows in rows
        ]
        return keras.ops.concatenate(embeddings, axis=0)[:num_rows]


def _take_rows(inputs, rows):
    return keras.tree.map_structure(lambda t: keras.ops.take(t, rows, axis=0), inputs)


def _fit(model, dataset, loss=None, optimizer=None, jit_compile="auto"):
    """Per-step losses and the weights after `STEPS` steps (one epoch of one step each)."""
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(1.0),
        loss=loss or MultiPositiveContrastiveLoss(),
        jit_compile=jit_compile,
    )
    history = model.fit(dataset.repeat(), epochs=STEPS, steps_per_epoch=1,
                        shuffle=False, verbose=0)
    return history.history["loss"], [np.array(w) for w in model.get_weights()]


def _assert_same_training(result, reference, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(result[0], reference[0], rtol=rtol, atol=atol)
    assert len(result[1]) == len(reference[1])
    for weights, reference_weights in zip(result[1], reference[1]):
        np.testing.assert_allclose(weights, reference_weights, rtol=rtol, atol=atol)


def _max_weight_difference(result, reference):
    return max(float(np.abs(a - b).max()) for a, b in zip(result[1], reference[1]))


# --- A tiny sentence encoder, fed raw strings --------------------------------


def _encoder(**config):
    keras.utils.set_random_seed(7)  # same weights and dropout seeds every build
    return build_encoder(dict(TINY, **config), texts=TEXTS, max_length=12)


def _texts():
    return tf.data.Dataset.from_tensors((tf.constant(TEXTS), tf.constant(IDS)))


def _token_ids(encoder):
    return tf.data.Dataset.from_tensors((encoder.preprocessor(tf.constant(TEXTS)), tf.constant(IDS)))


def _with_length_buckets(encoder):
    encoder.length_buckets = 2
    return encoder


def _fit_cached_and_reference(mini_batch_size, jit_compile="auto", cached_only=None, both=None):
    """Trains a cached encoder and the reference; `cached_only` / `both` prepare the encoders."""
    cached_only, both = cached_only or (lambda e: e), both or (lambda e: e)
    encoder = cached_training(cached_only(both(_encoder())), mini_batch_size)
    cached = _fit(encoder, _texts(), jit_compile=jit_compile)
    encoder = both(_encoder())
    reference = _fit(_MiniBatchedReference(encoder, mini_batch_size), _token_ids(encoder),
                     jit_compile=jit_compile)
    return cached, reference


def _jit_cases():
    # Each backend's default (TensorFlow on CPU: graph without XLA; JAX: jit;
    # PyTorch: eager), plus XLA on TensorFlow.
    cases = ["auto"]
    if keras.backend.backend() == "tensorflow":
        cases.append(True)
    return cases


@pytest.mark.parametrize("jit_compile", _jit_cases())
def test_encoder_step_equals_the_step_on_the_same_mini_batches_with_dropout(jit_compile):
    cached, reference = _fit_cached_and_reference(4, jit_compile)
    _assert_same_training(cached, reference)


def test_encoder_without_dropout_equals_the_plain_step_when_m_does_not_divide_n():
    # 12 rows in mini-batches of 5: the last one is completed with 3 repeats.
    cached = _fit(cached_training(_encoder(dropout=0.0), 5), _texts())
    plain = _fit(_encoder(dropout=0.0), _texts())
    _assert_same_training(cached, plain)


def test_mixed_bfloat16_matches_at_bfloat16_precision():
    keras.config.set_dtype_policy("mixed_bfloat16")
    cached, reference = _fit_cached_and_reference(4)
    _assert_same_training(cached, reference, rtol=1e-2, atol=1e-2)


def test_rematerialized_encoder_replays_the_same_dropout_masks():
    cached, reference = _fit_cached_and_reference(6, cached_only=rematerialize)
    _assert_same_training(cached, reference)


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="refused on JAX (test below)")
def test_length_buckets_work_where_they_work_without_caching():
    cached, reference = _fit_cached_and_reference(6, jit_compile=False, both=_with_length_buckets)
    _assert_same_training(cached, reference)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's mini-batch loop is traced")
def test_length_buckets_are_refused_on_jax_with_the_fix():
    encoder = cached_training(_with_length_buckets(_encoder()), 6)
    encoder.compile(optimizer="sgd", loss=MultiPositiveContrastiveLoss(), jit_compile=False)
    with pytest.raises(ValueError, match="length_buckets = 1"):
        encoder.fit(_texts(), verbose=0)


def test_fit_on_raw_strings_with_a_partial_last_batch():
    # Batches of 8 and 4 texts (TensorFlow: a batch size known only at run
    # time) in mini-batches of 3.
    encoder = cached_training(_encoder(), 3)
    before = [np.array(w) for w in encoder.get_weights()]
    encoder.compile(optimizer=keras.optimizers.Adam(1e-2), loss=MultiPositiveContrastiveLoss())
    history = encoder.fit(x=TEXTS, y=np.array(IDS), batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    changed = max(float(np.abs(np.array(w) - b).max()) for w, b in zip(encoder.get_weights(), before))
    assert changed > 1e-4


# --- A toy Dense model on feature vectors: every option of the loss ------------


def _toy(dropout=0.3, temperature_layer=False, dropout_seed=None):
    keras.utils.set_random_seed(3)
    layers = [keras.Input((FEATURES,)), keras.layers.Dense(16, activation="tanh"),
              keras.layers.Dropout(dropout, seed=dropout_seed), keras.layers.Dense(6)]
    if temperature_layer:
        layers.append(LearnableTemperature(initial_temperature=0.1))
    return keras.Sequential(layers)


def _toy_data(sample_weight=False):
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(4), 3).astype("int32")
    ids[-1] = -1  # a padding row
    centres = rng.normal(size=(4, FEATURES))
    x = (centres[np.maximum(ids, 0)] + 0.5 * rng.normal(size=(12, FEATURES))).astype("float32")
    if sample_weight:
        return tf.data.Dataset.from_tensors((x, ids, rng.uniform(0.2, 2.0, 12).astype("float32")))
    return tf.data.Dataset.from_tensors((x, ids))


def _toy_optimizer():
    return keras.optimizers.SGD(0.1)


def _fit_toy(mini_batch_size=4, loss=None, optimizer=_toy_optimizer, sample_weight=False,
             **toy):
    cached = _fit(cached_training(_toy(**toy), mini_batch_size), _toy_data(sample_weight),
                  loss=loss, optimizer=optimizer())
    reference = _fit(_MiniBatchedReference(_toy(**toy), mini_batch_size),
                     _toy_data(sample_weight), loss=loss, optimizer=optimizer())
    return cached, reference


LOSS_OPTIONS = [
    {"variant": variant, "anchors": anchors}
    for variant in ("supcon", "independent", "pooled")
    for anchors in ("all", "first", "bidirectional")
] + [
    {"margin": 0.3, "temperature": 0.1},
    {"reduction": "sum"},
    {"reduction": "mean_with_sample_weight"},
    {"normalize": False, "temperature": 1.0},
]


@pytest.mark.parametrize("options", LOSS_OPTIONS, ids=lambda o: "-".join(map(str, o.values())))
def test_every_loss_option(options):
    cached, reference = _fit_toy(loss=MultiPositiveContrastiveLoss(**options))
    _assert_same_training(cached, reference)


def test_seeded_dropout():
    # Seeded Keras dropout draws from its seed generator on every backend;
    # unseeded dropout on torch draws from torch's global generator.
    cached, reference = _fit_toy(dropout_seed=11)
    _assert_same_training(cached, reference)


def test_without_replaying_the_random_state_the_comparison_fails(monkeypatch):
    # So the checks above can fail: encoding a mini-batch again from fresh
    # random state gives other dropout masks than its first encoding.
    from keras_mpcl.training.grad_cache import mini_batches

    monkeypatch.setattr(mini_batches, "seed_state_variables", lambda model: [])
    if keras.backend.backend() == "torch":
        from keras_mpcl.training.grad_cache import torch as torch_step

        monkeypatch.setattr(torch_step._RandomState, "restore", lambda self: None)
    cached, reference = _fit_toy()
    assert _max_weight_difference(cached, reference) > 1e-3


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean_with_sample_weight"])
def test_sample_weights(reduction):
    cached, reference = _fit_toy(loss=MultiPositiveContrastiveLoss(reduction=reduction),
                                 sample_weight=True)
    _assert_same_training(cached, reference)


def test_learnable_temperature():
    loss = MultiPositiveContrastiveLoss(temperature=1.0, normalize=False)
    cached, reference = _fit_toy(loss=loss, temperature_layer=True)
    _assert_same_training(cached, reference)
    # The log-temperature (the last weight) was trained.
    assert abs(float(cached[1][-1]) - np.log(0.1)) > 1e-4


def test_loss_scaling_and_gradient_clipping_apply_to_the_whole_batch():
    def optimizer():
        return keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(1.0, global_clipnorm=0.05))

    cached, reference = _fit_toy(optimizer=optimizer)
    _assert_same_training(cached, reference)
    unclipped, _ = _fit_toy()
    assert _max_weight_difference(cached, unclipped) > 1e-3


def test_a_batch_smaller_than_the_mini_batch_size_is_one_mini_batch():
    cached = _fit(cached_training(_toy(), 32), _toy_data())
    plain = _fit(_toy(), _toy_data())
    _assert_same_training(cached, plain)


# --- Arguments and refusals ---------------------------------------------------


@pytest.mark.parametrize("mini_batch_size", [0, -1, 2.5, True, "32", None])
def test_mini_batch_size_must_be_a_positive_int(mini_batch_size):
    with pytest.raises(ValueError, match="`mini_batch_size` should be a positive int"):
        cached_training(_toy(), mini_batch_size)


def test_a_model_is_required():
    with pytest.raises(TypeError, match="keras.Model"):
        cached_training(keras.layers.Dense(2), 4)


def test_models_with_losses_of_their_own_are_refused():
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(6),
                              keras.layers.ActivityRegularization(l2=0.1)])
    cached_training(model, 4).compile(optimizer="sgd", loss=MultiPositiveContrastiveLoss())
    with pytest.raises(ValueError, match="adds 1 loss"):
        model.fit(_toy_data(), verbose=0)


def test_the_config_is_unchanged():
    model = _toy()
    config = keras.saving.serialize_keras_object(model)
    assert keras.saving.serialize_keras_object(cached_training(model, 4)) == config


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile only")
def test_torch_compile_is_refused_with_the_fix():
    model = cached_training(_toy(), 4)
    model.compile(optimizer="sgd", loss=MultiPositiveContrastiveLoss(), jit_compile=True)
    with pytest.raises(ValueError, match="jit_compile=False"):
        model.fit(_toy_data(), verbose=0)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.distributed only")
def test_fit_in_a_torch_process_group_points_to_ddp_fit(monkeypatch):
    from keras_mpcl.training.grad_cache import torch as torch_step

    monkeypatch.setattr(torch_step, "torch_world", lambda: (2, 0))
    model = cached_training(_toy(), 4)
    model.compile(optimizer="sgd", loss=MultiPositiveContrastiveLoss())
    with pytest.raises(ValueError, match="ddp_fit"):
        model.fit(_toy_data(), verbose=0)
