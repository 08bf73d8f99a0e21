"""Length buckets: the same embeddings and gradients as one padded batch, less padding."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_mpcl.losses import MultiPositiveContrastiveLoss
from keras_mpcl.models import build_encoder
from keras_mpcl.models import call_in_length_buckets
from keras_mpcl.models import encode
from keras_mpcl.models import split_into_length_chunks

# Lengths from 1 to 9 words, so that the buckets trim different widths.
TEXTS = [
    "cat", "le chat dort ici", "die katze schläft heute im garten unter dem baum",
    "the dog runs", "le chien court vite", "der hund",
    "a red apple on the table", "une pomme", "ein roter apfel liegt auf dem tisch",
    "we read", "nous lisons des livres le soir", "wir lesen bücher",
]
IDS = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
TINY = {"hidden_dim": 16, "num_layers": 2, "num_heads": 2, "intermediate_dim": 32,
        "vocabulary_size": 120, "dropout": 0.0}


def _build(architecture="bert", num_layers=2):
    keras.utils.set_random_seed(3)
    return build_encoder(dict(TINY, architecture=architecture, num_layers=num_layers),
                         texts=TEXTS, max_length=16)


@pytest.mark.parametrize("architecture", ["bert", "xlm_roberta"])
def test_embeddings_equal_the_padded_batch(architecture):
    encoder = _build(architecture)
    plain = encode(encoder, TEXTS)
    for buckets in (2, 3, 5, 12):
        encoder.length_buckets = buckets
        np.testing.assert_allclose(encode(encoder, TEXTS), plain, atol=2e-6)


def test_fewer_rows_than_buckets():
    encoder = _build()
    plain = encode(encoder, TEXTS[:3])
    encoder.length_buckets = 5
    np.testing.assert_allclose(encode(encoder, TEXTS[:3]), plain, atol=2e-6)


def test_chunks_are_trimmed_to_their_longest_row():
    widths = []

    def encode_chunk(chunk):
        widths.append(int(keras.ops.shape(chunk["token_ids"])[1]))
        return keras.ops.cast(keras.ops.sum(chunk["padding_mask"], axis=1, keepdims=True),
                              "float32")

    mask = np.array([[1] * n + [0] * (6 - n) for n in (6, 1, 3, 2)], dtype=bool)
    inputs = {"token_ids": mask.astype("int32"), "padding_mask": mask}
    lengths = call_in_length_buckets(encode_chunk, inputs, 2)
    assert widths == [2, 6]  # rows of length (1, 2), then (3, 6)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(lengths)[:, 0], [6, 1, 3, 2])


# Compiled (XLA, jax.jit): the batch is cut in the pipeline at fixed widths
# (`split_into_length_chunks`); eager: each chunk is trimmed in the step. Eager
# JAX compiles each op per shape, too slow to test the same path twice.
@pytest.mark.parametrize(
    "jit_compile", [True] if keras.backend.backend() == "jax" else [False, True]
)
def test_training_matches_the_padded_batch(jit_compile, monkeypatch):
    # Compiling every chunk width costs seconds: two buckets keep that affordable
    # and still give two different widths.
    if jit_compile and keras.backend.backend() == "torch":
        # What length buckets can break under torch.compile is Dynamo's tracing
        # (guards, recompiles per width) and AOT autograd; inductor's C++ code
        # generation for the same graphs took 45 s more with a cold cache, as in CI.
        import torch

        monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    num_layers, bucket_count = (1, 2) if jit_compile else (2, 4)

    def train(buckets, compiled):
        encoder = _build(num_layers=num_layers)
        encoder.length_buckets = buckets
        encoder.compile(optimizer=keras.optimizers.SGD(0.5),
                        loss=MultiPositiveContrastiveLoss(), jit_compile=compiled)
        # Two steps eagerly; one where compiling each width dominates.
        data = tf.data.Dataset.from_tensors((tf.constant(TEXTS), tf.constant(IDS))).repeat(
            1 if jit_compile else 2)
        loss = encoder.fit(data, verbose=0).history["loss"][0]
        return loss, encoder.get_weights()

    # The reference is the padded batch without buckets: under jax.jit on JAX (one
    # compile, where eager JAX compiles every op: 34 s -> 29 s alone), eagerly
    # on PyTorch (compiling it too would check torch.compile against itself).
    plain_loss, plain_weights = train(1, compiled=keras.backend.backend() == "jax")
    loss, weights = train(bucket_count, compiled=jit_compile)
    np.testing.assert_allclose(loss, plain_loss, rtol=1e-5)
    for a, b in zip(weights, plain_weights):
        np.testing.assert_allclose(a, b, atol=2e-5)


def test_saved_with_the_encoder(tmp_path):
    encoder = _build()
    encoder.length_buckets = 3
    restored = encoder.__class__.from_config(encoder.get_config())
    assert restored.length_buckets == 3


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_bad_bucket_counts_are_refused(value):
    encoder = _build()
    config = dict(encoder.get_config(), length_buckets=value)
    with pytest.raises(ValueError, match="length_buckets"):
        encoder.__class__.from_config(config)


def test_split_into_length_chunks_pads_each_chunk_to_a_fixed_width():
    lengths = [40, 3, 20, 5, 64, 17, 1, 33]
    mask = np.array([[1] * n + [0] * (64 - n) for n in lengths], dtype=bool)
    split = split_into_length_chunks({"token_ids": mask.astype("int32"), "padding_mask": mask}, 4)
    widths = [int(chunk["token_ids"].shape[1]) for chunk in split["length_chunks"]]
    assert widths == [16, 32, 48, 64]  # rows of length (1, 3), (5, 17), (20, 33), (40, 64)
    order = np.concatenate([np.asarray(c["padding_mask"]).sum(1) for c in split["length_chunks"]])
    np.testing.assert_array_equal(order[np.asarray(split["row_positions"])], lengths)


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="XLA / jax.jit only")
def test_a_compiled_call_on_a_padded_batch_is_refused_with_the_fix():
    encoder = _build()
    encoder.length_buckets = 2
    encoder.compile(optimizer="sgd", loss=MultiPositiveContrastiveLoss(), jit_compile=True)
    tokens = encoder.preprocessor(tf.constant(TEXTS))
    with pytest.raises(ValueError, match="split_into_length_chunks"):
        encoder(tokens)
