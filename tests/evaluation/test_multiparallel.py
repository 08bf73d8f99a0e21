import math

import numpy as np
import pytest

from keras_mpcl.evaluation import multiparallel_retrieval
from keras_mpcl.evaluation import read_ntrex
from tests.evaluation.helpers import bag_of_chars
from tests.evaluation.helpers import one_hot_words

# NumPy / tf.data / Python only: scripts/test.sh runs these once.
pytestmark = pytest.mark.backend_independent


def test_known_matrix_with_blank_positions():
    encode = one_hot_words(["cat", "dog", "sun"])
    texts = {
        "a": ["cat", "dog", "sun"],
        "b": ["CAT", "DOG", ""],  # position 2 blank: left out of pairs with b
        "c": ["cat", "cat", "sun"],
    }
    result = multiparallel_retrieval(encode, texts)
    matrix = np.array(result["matrix"])
    # a->b and b->a: 2 positions, both right. a->c: "dog" finds nothing -> tie
    # -> position 0: 2/3. c->a: second "cat" -> "cat" at 0: 2/3. b->c: "DOG"
    # -> tie -> 0, wrong: 1/2; c->b: second "cat" -> 0: 1/2.
    expected = [[np.nan, 1.0, 2 / 3], [1.0, np.nan, 0.5], [2 / 3, 0.5, np.nan]]
    np.testing.assert_allclose(matrix, expected)
    assert result["num_skipped"] == 4 and result["num_sentences"] == 3
    assert result["per_language"]["a"] == pytest.approx((1 + 2 / 3) / 2)
    assert result["mean"] == pytest.approx((2 + 4 / 3 + 1) / 6)


def test_language_subset_and_errors():
    texts = {"a": ["x"], "b": ["x"], "c": ["x"]}
    result = multiparallel_retrieval(bag_of_chars, texts, languages=["c", "a"])
    assert result["languages"] == ["c", "a"] and result["mean"] == 1.0
    with pytest.raises(ValueError, match="at least two languages"):
        multiparallel_retrieval(bag_of_chars, {"a": ["x"]})
    with pytest.raises(ValueError, match="equal lengths"):
        multiparallel_retrieval(bag_of_chars, {"a": ["x"], "b": ["x", "y"]})
    all_blank = multiparallel_retrieval(bag_of_chars, {"a": [""], "b": ["x"]})
    assert math.isnan(all_blank["mean"])


def test_read_ntrex_fixture(tmp_path):
    (tmp_path / "newstest2019-src.eng.txt").write_text("one\ntwo\nthree\n")
    (tmp_path / "newstest2019-ref.deu.txt").write_text("eins\nzwei\ndrei\n")
    (tmp_path / "newstest2019-ref.zho-CN.txt").write_text("yi\ner\nsan\n")
    (tmp_path / "newstest2019-ref-2.deu.txt").write_text("1\n2\n3\n")
    data = read_ntrex(tmp_path, lines=(1, 3))
    assert data == {
        "deu": ["zwei", "drei"],
        "eng": ["two", "three"],
        "zho-CN": ["er", "san"],
    }
    assert read_ntrex(tmp_path, ["deu"], lines="0:1") == {"deu": ["eins"]}
    assert len(read_ntrex(tmp_path, lines=None)["eng"]) == 3
    with pytest.raises(ValueError, match="outside"):
        read_ntrex(tmp_path, lines=(0, 10))
    with pytest.raises(FileNotFoundError, match="fra"):
        read_ntrex(tmp_path, ["fra"])


def test_read_ntrex_shared_held_out_lines(shared_data):
    data = read_ntrex(shared_data / "ntrex128", ["eng", "deu", "fra"])
    assert {k: len(v) for k, v in data.items()} == {"deu": 197, "eng": 197, "fra": 197}
    full = read_ntrex(shared_data / "ntrex128", ["eng"], lines=None)["eng"]
    assert len(full) == 1997 and data["eng"] == full[1800:1997]
    # 127 references plus the English source; the second Spanish reference is not read.
    assert len(read_ntrex(shared_data / "ntrex128", lines=(0, 2))) == 128
    small = {k: v[:20] for k, v in data.items()}
    result = multiparallel_retrieval(bag_of_chars, small)
    assert 0.0 < result["mean"] <= 1.0
