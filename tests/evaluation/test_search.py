import numpy as np
import pytest

from keras_mpcl.evaluation import l2_normalize
from keras_mpcl.evaluation import mutual_topk_similarity
from keras_mpcl.evaluation import topk_similarity
from keras_mpcl.evaluation.search import faiss_available

# NumPy / tf.data / Python only: scripts/test.sh runs these once.
pytestmark = pytest.mark.backend_independent


def _full_topk(x, y, k):
    s = l2_normalize(x) @ l2_normalize(y).T
    idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, idx, axis=1), idx


@pytest.mark.parametrize("block_bytes", [4 * 7, 4 * 100, 4 * 1000, 64 * 2**20])
def test_chunked_agrees_with_full_matrix(block_bytes):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(53, 8)).astype("float32")
    y = rng.normal(size=(41, 8)).astype("float32")
    scores, idx = topk_similarity(x, y, k=5, block_bytes=block_bytes)
    ref_scores, ref_idx = _full_topk(x, y, 5)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-6)
    (fs, fi), (bs, bi) = mutual_topk_similarity(x, y, k=3, block_bytes=block_bytes)
    np.testing.assert_array_equal(fi, ref_idx[:, :3])
    np.testing.assert_array_equal(bi, _full_topk(y, x, 3)[1])
    np.testing.assert_allclose(bs, _full_topk(y, x, 3)[0], atol=1e-6)


def test_ties_go_to_lower_index_in_every_tiling():
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    # Keys 1, 3, 4 are all at cosine 1 from query 0; every key at 0 from query 1
    # except key 0.
    v = np.array([[0.0, 1.0], [1.0, 0.0], [-1.0, 0.0], [2.0, 0.0], [5.0, 0.0]])
    for block_bytes in (4, 8, 12, 4 * 10**6):
        scores, idx = topk_similarity(q, v, k=2, block_bytes=block_bytes)
        assert idx.tolist() == [[1, 3], [0, 1]]
        np.testing.assert_allclose(scores, [[1, 1], [1, 0]], atol=1e-7)


def test_k_larger_than_keys_and_empty_inputs():
    scores, idx = topk_similarity(np.eye(3), np.eye(3)[:2], k=5)
    assert idx.shape == (3, 2)
    assert idx.tolist() == [[0, 1], [1, 0], [0, 1]]
    scores, idx = topk_similarity(np.zeros((0, 3)), np.eye(3), k=2)
    assert idx.shape == (0, 0)


def test_raw_dot_product_without_normalisation():
    scores, idx = topk_similarity(
        [[1.0, 0.0]], [[1.0, 0.0], [3.0, 1.0]], k=1, normalize=False
    )
    assert idx.tolist() == [[1]] and scores.tolist() == [[3.0]]


def test_argument_errors():
    with pytest.raises(ValueError, match="`k` should be a positive int"):
        topk_similarity(np.eye(2), np.eye(2), k=0)
    with pytest.raises(ValueError, match="same embedding width"):
        topk_similarity(np.eye(2), np.eye(3), k=1)
    with pytest.raises(ValueError, match="`backend` should be one of"):
        topk_similarity(np.eye(2), np.eye(2), backend="annoy")
    with pytest.raises(ValueError, match="`block_bytes`"):
        topk_similarity(np.eye(2), np.eye(2), block_bytes=0)


@pytest.mark.skipif(not faiss_available(), reason="faiss is not installed")
def test_faiss_backend_agrees():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 16)).astype("float32")
    y = rng.normal(size=(30, 16)).astype("float32")
    s1, i1 = topk_similarity(x, y, k=4, backend="faiss")
    s2, i2 = topk_similarity(x, y, k=4, backend="numpy")
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2, atol=1e-5)
