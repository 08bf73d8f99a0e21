import math

import numpy as np
import pytest

from keras_mpcl.evaluation import bitext_retrieval
from keras_mpcl.evaluation import read_tatoeba
from keras_mpcl.evaluation import tatoeba
from keras_mpcl.evaluation.retrieval import nearest_neighbour_accuracy
from tests.evaluation.helpers import bag_of_chars
from tests.evaluation.helpers import one_hot_words

# NumPy / tf.data / Python only: scripts/test.sh runs these once.
pytestmark = pytest.mark.backend_independent


def test_known_accuracy_in_both_directions():
    encode = one_hot_words(["cat", "dog", "sun", "moon"])
    # source->target: "sun" on line 1 retrieves target line 2, so lines 0, 2,
    # 3 are right -> 0.75. target->source: "dog" has cosine 0
    # with everything -> tie -> line 0 (wrong); "sun" (line 2) ties between
    # source lines 1 and 2 -> line 1 (wrong): 0.5.
    src = ["cat", "sun", "sun", "moon"]
    trg = ["cat", "dog", "sun", "moon"]
    result = bitext_retrieval(encode, src, trg)
    assert result["source_to_target"] == 0.75
    assert result["target_to_source"] == 0.5
    assert result["accuracy"] == 0.625
    assert result["num_pairs"] == 4 and result["num_skipped"] == 0


def test_ties_count_as_errors_except_the_lowest_index():
    # Two identical targets: the second query retrieves the first of them.
    assert (
        nearest_neighbour_accuracy([[1.0, 0.0], [1.0, 0.0]], [[2.0, 0.0], [1.0, 0.0]])
        == 0.5
    )


def test_blank_lines_are_skipped_and_counted():
    encode = one_hot_words(["cat", "dog", "sun"])
    result = bitext_retrieval(
        encode, ["cat", "", "dog", "sun"], ["CAT", "dog", " ", "sun"]
    )
    assert result["num_pairs"] == 2 and result["num_skipped"] == 2
    assert result["accuracy"] == 1.0
    empty = bitext_retrieval(encode, ["", " "], ["a", ""])
    assert empty["num_pairs"] == 0 and math.isnan(empty["accuracy"])


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="line-aligned"):
        bitext_retrieval(bag_of_chars, ["a", "b"], ["a"])


def _write_tatoeba(directory):
    (directory / "tatoeba.deu-eng.deu").write_text(
        "DER HUND\nDIE KATZE\n\nROTES HAUS\n", encoding="utf-8"
    )
    (directory / "tatoeba.deu-eng.eng").write_text(
        "der hund\ndie katze\nempty\nrotes haus\n", encoding="utf-8"
    )
    (directory / "tatoeba.fra-eng.fra").write_text("UN\nDEUX\n", encoding="utf-8")
    (directory / "tatoeba.fra-eng.eng").write_text("un\ndeux\n", encoding="utf-8")
    (directory / "README").write_text("not a pair file\n")


def test_read_tatoeba_and_evaluate(tmp_path):
    _write_tatoeba(tmp_path)
    data = read_tatoeba(tmp_path)
    assert sorted(data) == ["deu", "fra"]
    assert data["deu"][0] == ["DER HUND", "DIE KATZE", "", "ROTES HAUS"]
    assert list(read_tatoeba(tmp_path, ["fra"])) == ["fra"]
    result = tatoeba(bag_of_chars, tmp_path)
    assert result["per_language"]["deu"]["num_skipped"] == 1
    assert result["per_language"]["deu"]["accuracy"] == 1.0
    assert result["mean"] == 1.0
    with pytest.raises(FileNotFoundError, match="ita"):
        read_tatoeba(tmp_path, ["ita"])


def test_read_tatoeba_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No Tatoeba pair files"):
        read_tatoeba(tmp_path)
    (tmp_path / "tatoeba.ita-eng.ita").write_text("a\nb\n")
    (tmp_path / "tatoeba.ita-eng.eng").write_text("a\n")
    with pytest.raises(ValueError, match="line-aligned"):
        read_tatoeba(tmp_path)


def test_keras_hub_style_encoder_is_accepted():
    class FakeEmbedder:
        preprocessor = None

        def __init__(self):
            self.calls = []

        def predict(self, texts, batch_size=None, verbose=None):
            self.calls.append((len(texts), batch_size))
            return bag_of_chars(texts)

        def encode_text(self, texts):
            return self.predict(texts)

    model = FakeEmbedder()
    from keras_mpcl.evaluation import as_encode_fn

    encode = as_encode_fn(model, batch_size=2)
    out = encode(["a", "b", "c"] * 50)
    # 64 batches per `predict` call: 128 texts, then the remaining 22.
    assert out.shape == (150, 64) and model.calls == [(128, 2), (22, 2)]
    calls = []
    as_encode_fn(lambda t: calls.append(len(t)) or bag_of_chars(t), batch_size=2)(
        ["a"] * 5
    )
    assert calls == [2, 2, 1]
    assert bitext_retrieval(model, ["ab", "cd"], ["AB", "CD"])["accuracy"] == 1.0
    np.testing.assert_array_equal(encode([]).shape, (0, 0))
    with pytest.raises(ValueError, match="one embedding row per text"):
        as_encode_fn(lambda t: np.zeros((1, 2)))(["a", "b"])
    with pytest.raises(TypeError, match="`encoder` should be"):
        as_encode_fn(3)
