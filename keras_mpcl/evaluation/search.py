"""Chunked top-k similarity search with bounded memory (NumPy, optionally faiss)."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

import numpy as np

from keras_mpcl.evaluation.encoding import l2_normalize
from keras_mpcl.validation import check_choice, check_int

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

BACKENDS = ("auto", "numpy", "faiss")
# One similarity tile is at most this many bytes; the argpartition indices and
# scratch copies of a tile add about 3x that on top.
DEFAULT_BLOCK_BYTES = 64 * 2**20


def faiss_available() -> bool:
    """Whether the optional `faiss` package can be imported.

    Examples:

    >>> faiss_available() in (True, False)
    True
    """
    return importlib.util.find_spec("faiss") is not None


def _check_inputs(queries, keys, k, block_bytes, backend):
    check_int("k", k)
    check_int("block_bytes", block_bytes)
    check_choice("backend", backend, BACKENDS)
    if backend == "faiss" and not faiss_available():
        raise ImportError(
            "`backend='faiss'` needs the `faiss` package: `pip install faiss-cpu`, "
            "or use `backend='numpy'`."
        )
    queries = np.ascontiguousarray(queries, dtype="float32")
    keys = np.ascontiguousarray(keys, dtype="float32")
    if queries.ndim != 2 or keys.ndim != 2:
        raise ValueError(
            "`queries` and `keys` should be 2-D arrays (n, dim). Received: shapes "
            f"{queries.shape} and {keys.shape}"
        )
    if queries.shape[0] and keys.shape[0] and queries.shape[1] != keys.shape[1]:
        raise ValueError(
            "`queries` and `keys` should have the same embedding width. Received: "
            f"{queries.shape[1]} and {keys.shape[1]}"
        )
    return queries, keys


def _sort_rows(scores, indices, k):
    """Sorts each row by (score descending, index ascending); keeps `k`."""
    order = np.lexsort((indices, -scores), axis=-1)[:, :k]
    return (
        np.take_along_axis(scores, order, axis=-1),
        np.take_along_axis(indices, order, axis=-1),
    )


def _block_topk(tile, k, offset):
    """Exact top-k of each row of `tile`, ties going to the lower column."""
    rows, cols = tile.shape
    kk = min(k, cols)
    if kk == cols:
        idx = np.tile(np.arange(cols), (rows, 1))
    else:
        # Partitioning for the largest entries avoids negating the tile.
        idx = np.argpartition(tile, cols - kk, axis=1)[:, cols - kk :]
    top = np.take_along_axis(tile, idx, axis=1)
    if kk < cols:
        # The partition picks an arbitrary member among scores tied with the
        # k-th largest; rows where such a tie straddles the cut are redone so
        # that the lowest indices win, as with `np.argmax`.
        kth = top.min(axis=1, keepdims=True)
        tied_rows = np.flatnonzero((tile >= kth).sum(axis=1) > kk)
        for r in tied_rows:
            greater = np.flatnonzero(tile[r] > kth[r, 0])
            equal = np.flatnonzero(tile[r] == kth[r, 0])[: kk - len(greater)]
            idx[r] = np.concatenate([greater, equal])
            top[r] = tile[r, idx[r]]
    return top, idx + offset


def _merge(state, scores, indices, k):
    if state is None:
        return _sort_rows(scores, indices, k)
    return _sort_rows(
        np.concatenate([state[0], scores], axis=1),
        np.concatenate([state[1], indices], axis=1),
        k,
    )


def _tile_sizes(n, m, block_bytes):
    cols = max(1, min(m, block_bytes // (4 * max(1, min(n, 1024)))))
    rows = max(1, min(n, block_bytes // (4 * cols)))
    return rows, cols


def _numpy_topk(x, y, k_forward, k_backward, block_bytes):
    n, m = x.shape[0], y.shape[0]
    rows, cols = _tile_sizes(n, m, block_bytes)
    forward = [None] * (-(-n // rows)) if k_forward else None
    backward = [None] * (-(-m // cols)) if k_backward else None
    for bi, r0 in enumerate(range(0, n, rows)):
        xb = x[r0 : r0 + rows]
        for bj, c0 in enumerate(range(0, m, cols)):
            tile = xb @ y[c0 : c0 + cols].T
            if k_forward:
                s, i = _block_topk(tile, k_forward, c0)
                forward[bi] = _merge(forward[bi], s, i, k_forward)
            if k_backward:
                s, i = _block_topk(tile.T, k_backward, r0)
                backward[bj] = _merge(backward[bj], s, i, k_backward)
            del tile

    def stack(parts, count, k):
        if parts is None:
            return None
        if not parts:
            return (
                np.zeros((count, 0), dtype="float32"),
                np.zeros((count, 0), dtype="int64"),
            )
        return (
            np.concatenate([p[0] for p in parts], axis=0),
            np.concatenate([p[1] for p in parts], axis=0).astype("int64"),
        )

    return stack(forward, n, k_forward), stack(backward, m, k_backward)


def _faiss_topk(x, y, k_forward, k_backward):
    import faiss

    def search(q, base, k):
        index = faiss.IndexFlatIP(base.shape[1])
        index.add(base)
        scores, indices = index.search(q, min(k, base.shape[0]))
        return _sort_rows(scores, indices.astype("int64"), k)

    forward = search(x, y, k_forward) if k_forward else None
    backward = search(y, x, k_backward) if k_backward else None
    return forward, backward


def _run(queries, keys, k_forward, k_backward, normalize, block_bytes, backend):
    if normalize:
        queries, keys = l2_normalize(queries), l2_normalize(keys)
    n, m = queries.shape[0], keys.shape[0]
    if n == 0 or m == 0:
        empty = lambda rows: (  # noqa: E731
            np.zeros((rows, 0), dtype="float32"),
            np.zeros((rows, 0), dtype="int64"),
        )
        return (empty(n) if k_forward else None, empty(m) if k_backward else None)
    if backend == "auto":
        backend = "faiss" if faiss_available() else "numpy"
    if backend == "faiss":
        return _faiss_topk(queries, keys, k_forward, k_backward)
    return _numpy_topk(queries, keys, k_forward, k_backward, block_bytes)


def topk_similarity(
    queries: ArrayLike,
    keys: ArrayLike,
    k: int = 1,
    normalize: bool = True,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    backend: str = "numpy",
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` most similar keys of every query, computed tile by tile.

    Similarity is the dot product `q . v` (cosine when `normalize=True`). The
    `(n, m)` similarity matrix is never built: tiles of at most `block_bytes`
    are multiplied in float32 and only a running top-k per row is kept, so
    memory is `O(block_bytes + (n + m) * dim + n * k)`. Results are sorted by
    decreasing score; equal scores are ordered by increasing key index, which
    makes ties resolve towards the lower index, as `np.argmax` does.

    Args:
        queries: array-like `(n, dim)`.
        keys: array-like `(m, dim)`.
        k: int. Neighbours per query (fewer when `m < k`). Defaults to `1`.
        normalize: bool. L2-normalise both sides first (cosine similarity).
            Defaults to `True`.
        block_bytes: int. Size bound of one similarity tile in bytes.
            Defaults to 64 MiB.
        backend: str. `"numpy"` (exact, deterministic ties), `"faiss"`
            (`IndexFlatIP`; needs `faiss`; tie order is faiss's) or `"auto"`
            (faiss when importable). Defaults to `"numpy"`.

    Returns:
        `(scores, indices)`: float32 and int64 arrays of shape
        `(n, min(k, m))`.

    Examples:

    >>> import numpy as np
    >>> q = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> v = np.array([[0.0, 2.0], [1.0, 1.0], [3.0, 0.0]])
    >>> scores, indices = topk_similarity(q, v, k=2)
    >>> indices.tolist()
    [[2, 1], [0, 1]]
    >>> np.round(scores.astype("float64"), 3).tolist()
    [[1.0, 0.707], [1.0, 0.707]]
    """
    queries, keys = _check_inputs(queries, keys, k, block_bytes, backend)
    forward, _ = _run(queries, keys, k, 0, normalize, block_bytes, backend)
    return forward


def mutual_topk_similarity(
    x: ArrayLike,
    y: ArrayLike,
    k: int = 4,
    normalize: bool = True,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    backend: str = "numpy",
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Top-k of `x` in `y` and of `y` in `x` from a single pass over the tiles.

    Mining needs neighbours in both directions; each similarity tile is
    computed once and reduced along its rows and along its columns, which
    halves the matrix products against two calls of `topk_similarity`.

    Args:
        x: array-like `(n, dim)`.
        y: array-like `(m, dim)`.
        k: int. Neighbours per row in each direction. Defaults to `4`.
        normalize: bool. Cosine similarity when `True`. Defaults to `True`.
        block_bytes: int. Size bound of one similarity tile in bytes.
            Defaults to 64 MiB.
        backend: str. `"numpy"`, `"faiss"` or `"auto"`, as in
            `topk_similarity`. Defaults to `"numpy"`.

    Returns:
        `((x_scores, x_indices), (y_scores, y_indices))` with shapes
        `(n, min(k, m))` and `(m, min(k, n))`.

    Examples:

    >>> import numpy as np
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> y = np.array([[0.0, 1.0], [1.0, 0.1]])
    >>> (xs, xi), (ys, yi) = mutual_topk_similarity(x, y, k=1)
    >>> xi.ravel().tolist(), yi.ravel().tolist()
    ([1, 0], [1, 0])
    """
    x, y = _check_inputs(x, y, k, block_bytes, backend)
    return _run(x, y, k, k, normalize, block_bytes, backend)
