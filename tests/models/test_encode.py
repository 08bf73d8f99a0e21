"""The encoding path: same embeddings as full-width encoding, bounded shapes, input order."""

import functools
import importlib

import keras
import numpy as np
import pytest

from keras_mpcl.models import build_encoder
from keras_mpcl.models import encode
from keras_mpcl.models.encode import ENCODING_WIDTHS
from keras_mpcl.models.encode import encoding_width
from keras_mpcl.models.encode import iter_encoded_chunks
from tests.models.hf_checkpoints import MULTILINGUAL_TEXTS

# Mixed lengths (1 to ~40 tokens) and scripts, more rows than one batch.
TEXTS = MULTILINGUAL_TEXTS + [
    "chat",
    "le chien court vite dans le jardin",
    "die Katze schläft heute im Garten unter dem großen alten Baum am Fluss, "
    "während die Kinder in der Schule sind und der Regen fällt",
    "кот",
    "猫",
    "",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z " * 2,
]
TINY = {"hidden_dim": 16, "num_layers": 2, "num_heads": 2, "intermediate_dim": 32,
        "vocabulary_size": 300, "dropout": 0.0}


@functools.cache
def _build(architecture="bert", max_length=96, dtype=None):
    # Shared by the tests of this module (none changes the encoder), so each
    # encoding shape is compiled once per module rather than once per test.
    keras.utils.set_random_seed(5)
    return build_encoder(dict(TINY, architecture=architecture), texts=TEXTS,
                         max_length=max_length, dtype=dtype)


def _full_width(encoder, texts):
    """Every row padded to the full sequence length, in input order (the old path)."""
    out = keras.ops.convert_to_numpy(encoder.predict(texts, batch_size=4, verbose=0))
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@pytest.mark.parametrize("architecture", ["bert", "xlm_roberta"])
def test_embeddings_equal_full_width_encoding(architecture):
    encoder = _build(architecture)
    expected = _full_width(encoder, TEXTS)
    for batch_size in (1, 3, 8, 64):
        got = encode(encoder, TEXTS, batch_size=batch_size)
        assert got.shape == expected.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_rows_come_back_in_input_order():
    encoder = _build()
    permutation = np.random.default_rng(0).permutation(len(TEXTS))
    plain = encode(encoder, TEXTS, batch_size=4)
    shuffled = encode(encoder, [TEXTS[i] for i in permutation], batch_size=4)
    np.testing.assert_allclose(shuffled, plain[permutation], atol=1e-6)


def test_batches_use_a_bounded_set_of_shapes(monkeypatch):
    encoder = _build()
    shapes = []
    model = keras.Model  # the inference model is a plain functional model
    original = model.predict_on_batch

    def spy(self, x, **kwargs):
        shapes.append(tuple(x["token_ids"].shape))
        return original(self, x, **kwargs)

    monkeypatch.setattr(model, "predict_on_batch", spy)
    encode(encoder, TEXTS * 3, batch_size=8)
    allowed_widths = {w for w in ENCODING_WIDTHS if w < 96} | {96}
    assert shapes and all(width in allowed_widths for _, width in shapes)
    assert all(rows in (1, 2, 4, 8) for rows, _ in shapes)
    # Sorted by length: most batches are narrower than the sequence length.
    assert min(width for _, width in shapes) <= 32


def test_chunked_input_equals_one_pass(monkeypatch):
    encoder = _build()
    plain = encode(encoder, TEXTS, batch_size=4)
    # `keras_mpcl.models.encode` is also the name of the function.
    encode_module = importlib.import_module("keras_mpcl.models.encode")
    monkeypatch.setattr(encode_module, "TOKENIZE_CHUNK", 5)
    np.testing.assert_allclose(encode(encoder, TEXTS, batch_size=4), plain, atol=1e-6)
    chunks = list(iter_encoded_chunks(encoder, [TEXTS[:7], [], TEXTS[7:]], batch_size=4))
    assert [len(c) for c in chunks] == [7, len(TEXTS) - 7]
    np.testing.assert_allclose(np.concatenate(chunks), plain, atol=1e-6)


def test_normalize_false_keeps_the_encoder_output():
    keras.utils.set_random_seed(5)
    encoder = build_encoder(dict(TINY), texts=TEXTS, max_length=32, normalize=False)
    raw = keras.ops.convert_to_numpy(encoder.predict(TEXTS, verbose=0))
    np.testing.assert_allclose(encode(encoder, TEXTS, normalize=False), raw, atol=1e-5)


def test_progress_bar_shows_sentences_per_second(capsys):
    encoder = _build()
    encode(encoder, TEXTS, batch_size=4, verbose=1)
    printed = capsys.readouterr().out
    assert "sentences/s" in printed and f"{len(TEXTS)}/{len(TEXTS)}" in printed


def test_mixed_bfloat16_is_close_to_float32():
    texts = TEXTS[:10]
    full = encode(_build(), texts)
    half = encode(_build(dtype="mixed_bfloat16"), texts)
    assert half.dtype == np.float32
    assert float(np.min(np.sum(full * half, axis=1))) > 0.98


def test_encoding_width():
    assert [encoding_width(n, 512) for n in (1, 16, 17, 49, 200, 512)] == [
        16, 16, 32, 64, 256, 512]
    assert encoding_width(40, 24) == 24


def test_bad_input_names_the_problem():
    encoder = _build()
    with pytest.raises(ValueError, match="empty"):
        encode(encoder, [])
    with pytest.raises(TypeError, match="item 1 of type int"):
        encode(encoder, ["a", 3])
    with pytest.raises(ValueError, match="batch_size"):
        encode(encoder, ["a"], batch_size=0)
    with pytest.raises(ValueError, match="no preprocessor"):
        encode(keras.Sequential([keras.layers.Dense(2)]), ["a"])


def test_a_single_string_is_one_row():
    encoder = _build()
    assert encode(encoder, "un chat").shape == (1, 16)
