"""Fake and tiny encoders shared by the evaluation tests."""

import zlib

import numpy as np

WORDS = (
    "the a cat dog sat sleeps runs house red blue green big small one two three "
    "sport vote ball game team city river sun moon tree"
).split()


def bag_of_chars(texts, dim=64):
    """Deterministic hashing encoder: case-folded character bigram counts.

    A sentence and its upper-cased "translation" get the same embedding.
    """
    out = np.zeros((len(texts), dim), dtype="float32")
    for row, text in enumerate(texts):
        text = f" {text.lower()} "
        for i in range(len(text) - 1):
            out[row, zlib.crc32(text[i : i + 2].encode()) % dim] += 1.0
    return out


def one_hot_words(vocabulary):
    """Encoder mapping each text to the one-hot vector of its (single) word."""
    vocabulary = list(vocabulary)

    def encode(texts):
        return np.array(
            [[t.strip().lower() == w for w in vocabulary] for t in texts],
            dtype="float32",
        )

    return encode


def tiny_embedder(sequence_length=12, hidden_dim=16):
    """A tiny `keras_hub.models.BertTextEmbedder` with a word vocabulary."""
    import keras_hub

    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    preprocessor = keras_hub.models.BertTextEmbedderPreprocessor(
        tokenizer, sequence_length=sequence_length
    )
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary),
        num_layers=1,
        num_heads=2,
        hidden_dim=hidden_dim,
        intermediate_dim=2 * hidden_dim,
        max_sequence_length=sequence_length,
    )
    return keras_hub.models.BertTextEmbedder(backbone, preprocessor=preprocessor)
