import numpy as np
import pytest

from keras_mpcl.evaluation import LabelledTexts
from keras_mpcl.evaluation import align_parallel
from keras_mpcl.evaluation import classification_transfer
from keras_mpcl.evaluation import read_sib200
from tests.evaluation.helpers import bag_of_chars

# NumPy / tf.data / Python only: scripts/test.sh runs these once.
pytestmark = pytest.mark.backend_independent


def _topic_encoder(texts):
    # dimension 0: sport words; dimension 1: politics words; 2: anything else.
    rows = []
    for t in texts:
        t = t.lower()
        rows.append(
            [t.count("ball") + t.count("match"), t.count("vote") + t.count("law"), 0.1]
        )
    return np.array(rows, dtype="float32")


TRAIN = (
    ["ball game", "a match", "ball match", "a vote", "new law", "vote law"],
    ["sport"] * 3 + ["politics"] * 3,
)


@pytest.mark.parametrize("classifier", ["logistic", "knn"])
def test_separable_topics_transfer_perfectly(classifier):
    test = {"fra": (["BALL", "VOTE", "law"], ["sport", "politics", "politics"])}
    result = classification_transfer(
        _topic_encoder, TRAIN, test, classifier, n_neighbors=3
    )
    assert result["per_language"] == {"fra": 1.0}
    assert result["mean"] == 1.0 and result["num_train"] == 6


def test_knn_known_errors_and_blank_texts():
    # "ball vote vote" = (1, 2, .1): its nearest training row by cosine is
    # "vote law" = (0, 2, .1) -> politics, wrong; "match" and "law" are right.
    test = {
        "xx": LabelledTexts(
            ["ball vote vote", "match", "law"], ["sport", "sport", "politics"]
        ),
        "yy": (["ball"], ["politics"]),
        "zz": (["", "vote"], ["sport", "politics"]),
    }
    result = classification_transfer(_topic_encoder, TRAIN, test, "knn", n_neighbors=1)
    assert result["per_language"]["xx"] == pytest.approx(2 / 3)
    assert result["per_language"]["yy"] == 0.0
    assert result["num_blank"] == {"xx": 0, "yy": 0, "zz": 1}
    assert result["mean"] == pytest.approx(
        np.mean(list(result["per_language"].values()))
    )


def test_argument_errors():
    with pytest.raises(ValueError, match="`classifier` should be one of"):
        classification_transfer(_topic_encoder, TRAIN, {"a": TRAIN}, "svm")
    with pytest.raises(ValueError, match="at least two different labels"):
        classification_transfer(_topic_encoder, (["a", "b"], ["x", "x"]), {"a": TRAIN})
    with pytest.raises(ValueError, match="same length"):
        LabelledTexts(["a"], ["x", "y"])


def test_read_sib200_fixture_and_alignment(tmp_path):
    for lang, rows in {
        "deu_Latn": [("1", "sport", "Ball"), ("2", "politik", "Wahl")],
        "fra_Latn": [
            ("2", "politik", "Vote"),
            ("1", "sport", "Balle"),
            ("3", "sport", "Match"),
        ],
    }.items():
        (tmp_path / lang).mkdir()
        lines = ["index_id\tcategory\ttext"] + ["\t".join(r) for r in rows]
        (tmp_path / lang / "test.tsv").write_text("\n".join(lines) + "\n")
    data = read_sib200(tmp_path, "test")
    assert data["fra_Latn"].ids == ["2", "1", "3"]
    assert list(read_sib200(tmp_path, "test", ["deu"])) == ["deu_Latn"]
    assert align_parallel(data) == {
        "deu_Latn": ["Ball", "Wahl"],
        "fra_Latn": ["Balle", "Vote"],
    }
    with pytest.raises(FileNotFoundError, match="ita"):
        read_sib200(tmp_path, "test", ["ita"])
    with pytest.raises(ValueError, match="`split` should be one of"):
        read_sib200(tmp_path, "validation")


def test_read_sib200_shared_data(shared_data):
    counts = {
        split: len(
            read_sib200(shared_data / "sib200", split, ["deu_Latn"])["deu_Latn"].texts
        )
        for split in ("train", "dev", "test")
    }
    assert counts == {"train": 701, "dev": 99, "test": 204}
    data = read_sib200(shared_data / "sib200", "test", ["eng_Latn", "deu_Latn"])
    aligned = align_parallel(data)
    assert len(aligned["eng_Latn"]) == 204
    assert len(set(data["eng_Latn"].labels)) == 7
    train = read_sib200(shared_data / "sib200", "train", ["eng_Latn"])["eng_Latn"]
    result = classification_transfer(
        bag_of_chars, train, {"eng_Latn": data["eng_Latn"]}, "knn"
    )
    assert 0.0 < result["per_language"]["eng_Latn"] <= 1.0
