"""Learned subword vocabularies: a second encoder from the same texts reuses the first's."""

import keras_hub
import pytest

from keras_mpcl.models import train_wordpiece_tokenizer
from keras_mpcl.models import vocabulary as vocabulary_lib

# The learner runs in tf.data and Python; no Keras backend code.
pytestmark = pytest.mark.backend_independent

TEXTS = ["the cat sleeps", "die Katze schläft", "le chat dort", "el gato duerme"]


def test_the_same_texts_reuse_the_learned_vocabulary(monkeypatch):
    calls = []
    learn = keras_hub.tokenizers.compute_word_piece_vocabulary

    def counting(*args, **kwargs):
        calls.append(1)
        return learn(*args, **kwargs)

    monkeypatch.setattr(keras_hub.tokenizers, "compute_word_piece_vocabulary", counting)
    monkeypatch.setattr(vocabulary_lib, "_LEARNED_WORDPIECE", type(vocabulary_lib._LEARNED_WORDPIECE)())
    first = train_wordpiece_tokenizer(TEXTS, 70)
    second = train_wordpiece_tokenizer(list(TEXTS), 70)
    assert len(calls) == 1
    assert second is not first and second.get_vocabulary() == first.get_vocabulary()
    # Another size, casing or text is learned anew.
    train_wordpiece_tokenizer(TEXTS, 60)
    train_wordpiece_tokenizer(TEXTS, 70, lowercase=True)
    train_wordpiece_tokenizer(TEXTS + ["ein Hund"], 70)
    assert len(calls) == 4
    train_wordpiece_tokenizer(TEXTS, 70, lowercase=True)
    assert len(calls) == 4


def test_only_the_last_few_vocabularies_are_kept(monkeypatch):
    monkeypatch.setattr(vocabulary_lib, "_LEARNED_WORDPIECE", type(vocabulary_lib._LEARNED_WORDPIECE)())
    for size in range(40, 40 + vocabulary_lib._LEARNED_WORDPIECE_SIZE + 3):
        train_wordpiece_tokenizer(TEXTS, size)
    assert len(vocabulary_lib._LEARNED_WORDPIECE) == vocabulary_lib._LEARNED_WORDPIECE_SIZE
