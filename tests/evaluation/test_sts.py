import math

import numpy as np
import pytest

from keras_mpcl.evaluation import read_sts17
from keras_mpcl.evaluation import read_stsb_multi_mt
from keras_mpcl.evaluation import spearman
from keras_mpcl.evaluation import sts
from tests.evaluation.helpers import bag_of_chars

# NumPy / tf.data / Python only: scripts/test.sh runs these once.
pytestmark = pytest.mark.backend_independent


def test_spearman_known_values_ties_and_constant_input():
    assert spearman([1, 2, 3], [3, 2, 1]) == -1.0
    # Ranks of y with a tie: [1, 2.5, 2.5, 4] vs [1, 2, 3, 4] -> 0.9486833.
    assert spearman([1, 2, 3, 4], [0, 5, 5, 9]) == pytest.approx(0.9486833, abs=1e-7)
    # Ties on both sides: ranks [1.5, 1.5, 3.5, 3.5] vs [1.5, 1.5, 3, 4] -> 0.9428090.
    assert spearman([1, 1, 2, 2], [0, 0, 5, 9]) == pytest.approx(0.9428090, abs=1e-7)
    assert spearman([4, 3, 2, 1], [1, 2, 3, 4]) == -1.0
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1, 2, 3], [7, 7, 7]))
    assert math.isnan(spearman([1], [2]))
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2], [1, 2, 3])


def test_sts_known_answer_and_blank_pairs():
    def encode(texts):  # bag of the letters "ab"
        return np.array([[t.count("a"), t.count("b")] for t in texts], "float32")

    # cosines: 1, 0.7071, 0, 0 ("" is a zero vector) against gold 4, 3, 1, 0
    result = sts(encode, ["a", "ab", "a", ""], ["aa", "b", "b", "a"], [4, 3, 1, 0])
    # cosine ranks [4, 3, 1.5, 1.5] vs gold ranks [4, 3, 2, 1]
    assert result["spearman"] == pytest.approx(spearman([4, 3, 1.5, 1.5], [4, 3, 2, 1]))
    assert result["num_pairs"] == 4 and result["num_blank"] == 1
    with pytest.raises(ValueError, match="same length"):
        sts(encode, ["a"], ["b", "c"], [1.0])


def test_sts_readers_on_fixtures(tmp_path):
    (tmp_path / "sts17.track4a.es-en.tsv").write_text(
        "4.0\tuno\tone\n\n1.5\tdos\ttwo\n"
    )
    (tmp_path / "sts17.track4b.es-en.tsv").write_text("2.0\ttres\tthree\n")
    (tmp_path / "sts17.track5.en-en.tsv").write_text("5.0\ta\ta\n\tno\tscore\n")
    data = read_sts17(tmp_path)
    assert sorted(data) == ["en-en", "es-en-4a", "es-en-4b"]
    assert data["es-en-4a"] == (["uno", "dos"], ["one", "two"], [4.0, 1.5])
    assert read_sts17(tmp_path, ["en"]) == {"en-en": (["a"], ["a"], [5.0])}
    (tmp_path / "stsb-de-test.csv").write_text('"Ein Mann, ja",Ein Mann.,2.5\nx,y,0\n')
    data = read_stsb_multi_mt(tmp_path)
    assert data["de"] == (["Ein Mann, ja", "x"], ["Ein Mann.", "y"], [2.5, 0.0])
    (tmp_path / "sts17.track6.tr-en.tsv").write_text("oops\n")
    with pytest.raises(ValueError, match="score<TAB>sentence1<TAB>sentence2"):
        read_sts17(tmp_path)


def test_sts_readers_on_shared_data(shared_data):
    tracks = read_sts17(shared_data / "sts17")
    assert sorted(tracks) == [
        "ar-ar",
        "ar-en",
        "en-en",
        "es-en-4a",
        "es-en-4b",
        "es-es",
        "tr-en",
    ]
    assert {k: len(v[2]) for k, v in tracks.items()} == {
        "ar-ar": 250,
        "ar-en": 250,
        "en-en": 250,
        "es-en-4a": 250,
        "es-en-4b": 250,
        "es-es": 250,
        "tr-en": 250,
    }
    assert all(0 <= s <= 5 for v in tracks.values() for s in v[2])
    stsb = read_stsb_multi_mt(shared_data / "stsb_multi_mt")
    assert len(stsb) == 11 and {len(v[0]) for v in stsb.values()} == {1379}
    # Rows are aligned across languages: same gold scores.
    assert stsb["de"][2] == stsb["en"][2]
    result = sts(bag_of_chars, *[v[:100] for v in stsb["en"]])
    assert 0.0 < result["spearman"] < 1.0
