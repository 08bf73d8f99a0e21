import numpy as np
import pytest

from keras_mpcl.evaluation import MiningSet
from keras_mpcl.evaluation import best_threshold
from keras_mpcl.evaluation import bitext_mining
from keras_mpcl.evaluation import margin_score
from keras_mpcl.evaluation import mine
from keras_mpcl.evaluation import precision_recall_f1
from keras_mpcl.evaluation import read_bucc
from tests.evaluation.helpers import bag_of_chars

# NumPy / tf.data / Python only: scripts/test.sh runs these once.
pytestmark = pytest.mark.backend_independent

S = 1 / np.sqrt(2)
# Sources e0, e1; targets: e0, a "hub" (e0 + e1)/sqrt(2), and (0, .6, .8),
# the translation of e1, which is less similar to e1 than the hub is.
X = np.array([[1.0, 0, 0], [0, 1.0, 0]])
Y = np.array([[1.0, 0, 0], [S, S, 0], [0, 0.6, 0.8]])


def test_margin_score_formulas():
    assert margin_score(0.6, 0.4, 0.2, "ratio") == pytest.approx(2.0)
    assert margin_score(0.6, 0.4, 0.2, "distance") == pytest.approx(0.3)
    assert margin_score(0.6, 0.4, 0.2, "absolute") == pytest.approx(0.6)
    with pytest.raises(ValueError, match="`margin` should be one of"):
        margin_score(0.6, 0.4, 0.2, "cosine")


def test_ratio_margin_beats_the_hub_by_hand():
    src, trg, scores = mine(X, Y, k=2, margin="ratio")
    assert list(zip(src.tolist(), trg.tolist())) == [(0, 0), (1, 2)]
    # r_x: mean of the 2 best target cosines; r_y: of the 2 best source ones.
    r_x0, r_x1 = (1 + S) / 2, (S + 0.6) / 2
    r_y0, r_y2 = (1 + 0) / 2, (0.6 + 0) / 2
    expected = [1 / ((r_x0 + r_y0) / 2), 0.6 / ((r_x1 + r_y2) / 2)]
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
    # Raw cosine picks the hub for e1.
    src, trg, scores = mine(X, Y, k=2, margin="absolute")
    assert list(zip(src.tolist(), trg.tolist())) == [(0, 0), (1, 1)]
    np.testing.assert_allclose(scores, [1, S], rtol=1e-6)


def _reference_mine(x, y, k, margin):
    """Brute force over the full matrix, same rules as `mine`."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    sim = x @ y.T
    r_x = np.sort(sim, axis=1)[:, ::-1][:, :k].mean(1)
    r_y = np.sort(sim.T, axis=1)[:, ::-1][:, :k].mean(1)
    full = margin_score(sim, r_x[:, None], r_y[None, :], margin)
    candidates = []
    for i in range(len(x)):
        nn = np.argsort(-sim[i], kind="stable")[:k]
        j = nn[np.argmax(full[i, nn])]
        candidates.append((full[i, j], i, j))
    for j in range(len(y)):
        nn = np.argsort(-sim[:, j], kind="stable")[:k]
        i = nn[np.argmax(full[nn, j])]
        candidates.append((full[i, j], i, j))
    order = sorted(range(len(candidates)), key=lambda c: -candidates[c][0])
    used_x, used_y, out = set(), set(), []
    for c in order:
        s, i, j = candidates[c]
        if i not in used_x and j not in used_y:
            used_x.add(i), used_y.add(j), out.append((i, j))
    return out


@pytest.mark.parametrize("margin", ["ratio", "distance"])
def test_mine_agrees_with_brute_force(margin):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 6)).astype("float32")
    y = np.concatenate(
        [x[:20] + 0.3 * rng.normal(size=(20, 6)), rng.normal(size=(15, 6))]
    ).astype("float32")
    src, trg, _ = mine(x, y, k=4, margin=margin, block_bytes=4 * 64)
    assert list(zip(src.tolist(), trg.tolist())) == _reference_mine(x, y, 4, margin)


def test_best_threshold_never_splits_ties():
    # Splitting the tie at score 2 would give F1 1.0; the valid cuts give
    # F1 2/3 (after 3) and 0.8 (after both 2s), so the threshold is 2.
    result = best_threshold([3.0, 2.0, 2.0], [True, True, False], 2)
    assert result == {
        "threshold": 2.0,
        "precision": 2 / 3,
        "recall": 1.0,
        "f1": pytest.approx(0.8),
    }
    assert best_threshold([], [], 3)["f1"] == 0.0
    assert best_threshold([1.0], [False], 1)["f1"] == 0.0


def test_precision_recall_f1_edge_cases():
    assert precision_recall_f1([], {(1, 1)}) == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
    }
    assert precision_recall_f1({(1, 1)}, {(1, 1)})["f1"] == 1.0


def _mining_set():
    source = {"s1": "the cat sleeps", "s2": "a dog runs", "s3": "red sun", "s4": " "}
    target = {"t1": "THE CAT SLEEPS", "t2": "A DOG RUNS", "t3": "green tree"}
    return MiningSet(source, target, {("s1", "t1"), ("s2", "t2")})


def test_bitext_mining_threshold_sources():
    data = _mining_set()
    on_dev = bitext_mining(bag_of_chars, data, dev=data)
    assert on_dev["threshold_source"] == "dev"
    assert (on_dev["precision"], on_dev["recall"], on_dev["f1"]) == (1.0, 1.0, 1.0)
    assert on_dev["num_skipped"] == 1 and on_dev["num_gold"] == 2
    # Every mined pair kept: s3-t3 is wrong -> P = 2/3, R = 1, F1 = 0.8.
    low = bitext_mining(bag_of_chars, data, threshold=-1e9)
    assert low["threshold_source"] == "given" and low["num_predicted"] == 3
    assert low["precision"] == pytest.approx(2 / 3) and low["f1"] == pytest.approx(0.8)
    none = bitext_mining(bag_of_chars, data, threshold=1e9)
    assert none["num_predicted"] == 0 and none["f1"] == 0.0
    assert bitext_mining(bag_of_chars, data)["threshold_source"] == "test"


def test_read_bucc(tmp_path):
    folder = tmp_path / "de-en"
    folder.mkdir()
    (folder / "de-en.training.de").write_text("de-1\tdie Katze\nde-2\tder Hund\n")
    (folder / "de-en.training.en").write_text("en-1\tthe dog\nen-2\tthe cat\n")
    (folder / "de-en.training.gold").write_text("de-1\ten-2\nde-2\ten-1\n")
    data = read_bucc(tmp_path, "de-en", "training")
    assert data.source == {"de-1": "die Katze", "de-2": "der Hund"}
    assert data.gold == {("de-1", "en-2"), ("de-2", "en-1")}
    with pytest.raises(FileNotFoundError, match="de-en.test"):
        read_bucc(tmp_path, "de-en", "test")
    (folder / "de-en.sample.de").write_text("no tab here\n")
    (folder / "de-en.sample.en").write_text("en-1\tx\n")
    with pytest.raises(ValueError, match="id<TAB>text"):
        read_bucc(tmp_path, "de-en", "sample")
