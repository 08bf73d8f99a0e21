"""HFBertTokenizer gives the token ids of Hugging Face's fast BERT tokenizer."""

import keras
import pytest
import tensorflow as tf

from keras_mpcl.models import HFBertTokenizer
from keras_mpcl.models import normalize_text
from tests.models.hf_checkpoints import MULTILINGUAL_TEXTS
from tests.models.hf_checkpoints import _vocabulary

# Token ids come from tf.data and Python string code that no Keras backend touches.
pytestmark = pytest.mark.backend_independent

EXTRA_TEXTS = [
    "ΟΔΟΣ Σ ς İstanbul ẞ ﬁne ²³ ＡＢＣ",
    "tab\tnew\nline\x07bell\ufffdreplacement\u3000ideographic",
    "x" * 101 + " " + "ไทย" * 34,  # over 100 characters, and 102 chars in 306 bytes
]


def _hf_tokenizer(vocabulary, lowercase):
    import transformers

    vocab = {token: i for i, token in enumerate(vocabulary)}
    return transformers.BertTokenizerFast(vocab=vocab, do_lower_case=lowercase)


@pytest.mark.parametrize("lowercase", [True, False])
def test_token_ids_match_hugging_face(lowercase):
    texts = MULTILINGUAL_TEXTS + EXTRA_TEXTS
    vocabulary = _vocabulary(texts, lowercase)
    vocabulary += [t for t in ("ไทย", "##ไทย", "x", "##x") if t not in vocabulary]
    hf = _hf_tokenizer(vocabulary, lowercase)
    expected = [hf(t, add_special_tokens=False)["input_ids"] for t in texts]
    tokenizer = HFBertTokenizer(vocabulary, lowercase=lowercase)
    # Python path (eager) and TensorFlow path (as inside tf.data).
    python_ids = [list(map(int, tokenizer(t))) for t in texts]
    graph_ids = tf.function(tokenizer)(tf.constant(texts)).to_list()
    assert python_ids == expected
    assert graph_ids == expected
    # The tests must exercise unknown words and accent stripping.
    unk = vocabulary.index("[UNK]")
    assert any(unk in ids for ids in expected)


def test_normalize_text_matches_hugging_face_normalizer():
    from tokenizers.normalizers import BertNormalizer

    for lowercase in (True, False):
        hf = BertNormalizer(lowercase=lowercase, handle_chinese_chars=False)
        for text in MULTILINGUAL_TEXTS + EXTRA_TEXTS:
            assert normalize_text(text, lowercase=lowercase) == hf.normalize_str(text)


def test_config_round_trip_keeps_normalisation():
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cafe", "café"]
    tokenizer = HFBertTokenizer(vocabulary, lowercase=True, strip_accents=False)
    config = keras.saving.serialize_keras_object(tokenizer)
    restored = keras.saving.deserialize_keras_object(config)
    restored.set_vocabulary(vocabulary)
    assert restored.hf_lowercase and restored.hf_strip_accents is False
    assert restored.id_to_token(int(restored("CAFÉ")[0])) == "café"
