"""build_encoder from configs and presets; fit, mixed precision, save/load, errors."""

import os
import time

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_mpcl.losses import MultiPositiveContrastiveLoss
from keras_mpcl.models import BertSentenceEncoder
from keras_mpcl.models import PresetUnavailableError
from keras_mpcl.models import XLMRobertaSentenceEncoder
from keras_mpcl.models import build_encoder
from keras_mpcl.models import encode

# Four translation groups of three languages.
TEXTS = [
    "the cat sleeps", "le chat dort", "die katze schläft",
    "the dog runs", "le chien court", "der hund läuft",
    "a red apple", "une pomme rouge", "ein roter apfel",
    "we read books", "nous lisons des livres", "wir lesen bücher",
]
IDS = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
TINY = {"hidden_dim": 16, "num_layers": 1, "num_heads": 2, "intermediate_dim": 32,
        "vocabulary_size": 80, "dropout": 0.0}


def _tiny(architecture="bert", **kwargs):
    kwargs.setdefault("max_length", 12)
    return build_encoder(dict(TINY, architecture=architecture), texts=TEXTS, **kwargs)


def _dataset(batches=2):
    ds = tf.data.Dataset.from_tensors((tf.constant(TEXTS), tf.constant(IDS)))
    return ds.repeat(batches)


@pytest.mark.parametrize("architecture,cls", [
    ("bert", BertSentenceEncoder), ("xlm_roberta", XLMRobertaSentenceEncoder)])
def test_new_encoder_fits_with_the_loss(architecture, cls):
    encoder = _tiny(architecture, projection_dim=8)
    assert isinstance(encoder, cls)
    assert isinstance(encoder, keras_hub.models.TextEmbedder)
    encoder.compile(optimizer=keras.optimizers.Adam(1e-2),
                    loss=MultiPositiveContrastiveLoss(temperature=0.1))
    history = encoder.fit(_dataset().repeat(), epochs=5, steps_per_epoch=3, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0]
    embeddings = encode(encoder, TEXTS, batch_size=5)
    assert embeddings.shape == (12, 8)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_optimizer_is_built_before_the_train_step_is_traced():
    # TensorFlow built it inside the first trace and so traced the step twice.
    encoder = _tiny()
    encoder.compile(optimizer="adamw", loss=MultiPositiveContrastiveLoss())
    built_at_each_call = []
    train_step = encoder.train_step

    def recording_train_step(*args):
        built_at_each_call.append(encoder.optimizer.built)
        return train_step(*args)

    encoder.train_step = recording_train_step
    encoder.fit(_dataset(2), verbose=0)
    assert built_at_each_call and all(built_at_each_call), built_at_each_call
    # Traced once under tf.function and jax.jit; PyTorch runs it eagerly per step.
    assert len(built_at_each_call) == (2 if keras.backend.backend() == "torch" else 1)


def test_pooling_and_max_length_options():
    encoder = _tiny(pooling="cls", max_length=6)
    assert encoder.pooling_mode == "cls"
    features = encoder.preprocessor(["a very long sentence with many many words"])
    assert keras.ops.shape(features["token_ids"]) == (1, 6)


def test_mixed_bfloat16_fit():
    encoder = _tiny(dtype="mixed_bfloat16", projection_dim=8)
    assert encoder.backbone.dtype_policy.name == "mixed_bfloat16"
    encoder.compile(optimizer="adam", loss=MultiPositiveContrastiveLoss())
    history = encoder.fit(_dataset(1), verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert encode(encoder, TEXTS[:2]).dtype == np.float32


def _one_step(encoder):
    encoder.compile(optimizer=keras.optimizers.SGD(0.5),
                    loss=MultiPositiveContrastiveLoss())
    before = [np.array(w) for w in encoder.get_weights()]
    encoder.fit(_dataset(1), verbose=0)
    changed = [not np.allclose(a, np.array(b)) for a, b in zip(before, encoder.get_weights())]
    assert any(changed)
    return encode(encoder, TEXTS)


@pytest.mark.parametrize("architecture", ["bert", "xlm_roberta"])
def test_save_to_preset_round_trip(tmp_path, architecture):
    encoder = _tiny(architecture, projection_dim=8, projection_activation="tanh")
    trained = _one_step(encoder)
    encoder.save_to_preset(str(tmp_path / "preset"))
    loaded = keras_hub.models.TextEmbedder.from_preset(str(tmp_path / "preset"))
    assert type(loaded) is type(encoder)
    assert (loaded.projection_dim, loaded.projection_activation) == (8, "tanh")
    np.testing.assert_allclose(encode(loaded, TEXTS), trained, atol=1e-5)
    if architecture == "bert":
        path = str(tmp_path / "encoder.keras")
        encoder.save(path)
        loaded = keras.saving.load_model(path)
        assert type(loaded) is BertSentenceEncoder
        np.testing.assert_allclose(encode(loaded, TEXTS), trained, atol=1e-5)
    else:
        loaded = build_encoder(str(tmp_path / "preset"), max_length=12)
        assert type(loaded) is XLMRobertaSentenceEncoder
        np.testing.assert_allclose(encode(loaded, TEXTS), trained, atol=1e-5)


def test_saved_encoder_rejects_conflicting_head(tmp_path):
    encoder = _tiny(projection_dim=8)
    encoder.save_to_preset(str(tmp_path / "preset"))
    with pytest.raises(ValueError, match="saved keras-mpcl encoder"):
        build_encoder(str(tmp_path / "preset"), projection_dim=4)


def test_unreachable_hub_fails_fast_with_advice(monkeypatch):
    # A closed local port stands for "no network" on any machine.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.monotonic()
    with pytest.raises(PresetUnavailableError, match="network is unreachable") as info:
        build_encoder("hf://keras-mpcl-tests/no-such-model")
    assert time.monotonic() - start < 10
    assert "local folder" in str(info.value)


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="`texts` is required"):
        build_encoder(TINY)
    with pytest.raises(ValueError, match="Unknown encoder config keys"):
        build_encoder(dict(TINY, hiden_dim=3), texts=TEXTS)
    with pytest.raises(ValueError, match="`architecture` should be one of"):
        build_encoder(dict(TINY, architecture="gpt"), texts=TEXTS)
    with pytest.raises(ValueError, match="`hidden_dim` should be divisible"):
        build_encoder(dict(TINY, num_heads=3), texts=TEXTS)
    with pytest.raises(ValueError, match="`pooling` should be one of"):
        build_encoder(TINY, texts=TEXTS, pooling="sum")
    with pytest.raises(ValueError, match="`max_length` should be an int"):
        build_encoder(TINY, texts=TEXTS, max_length=0)
    with pytest.raises(ValueError, match="`projection_dim` should be a positive int"):
        build_encoder(TINY, texts=TEXTS, projection_dim=-1)
    with pytest.raises(FileNotFoundError, match="No encoder folder"):
        build_encoder(os.path.join(str(tmp_path), "missing", "folder"))
    with pytest.raises(TypeError, match="`source` should be"):
        build_encoder(3)
    with pytest.raises(ValueError, match="`batch_size` should be"):
        encode(_tiny(), TEXTS, batch_size=0)
