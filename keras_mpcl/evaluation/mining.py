"""Bitext mining (BUCC protocol): margin scoring, threshold on dev, P/R/F1."""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from typing import TYPE_CHECKING

import numpy as np

from keras_mpcl.evaluation.encoding import as_encode_fn
from keras_mpcl.evaluation.search import DEFAULT_BLOCK_BYTES
from keras_mpcl.evaluation.search import mutual_topk_similarity
from keras_mpcl.validation import check_choice

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from numpy.typing import ArrayLike

    from keras_mpcl.typing import EncoderLike, PathLike

logger = logging.getLogger(__name__)

MARGINS = ("ratio", "distance", "absolute")


@dataclasses.dataclass
class MiningSet:
    """Two monolingual sentence sets and the gold translation pairs between them.

    Args:
        source: dict `{sentence_id: text}` of the source language.
        target: dict `{sentence_id: text}` of the target language.
        gold: set of `(source_id, target_id)` translation pairs.
    """

    source: dict
    target: dict
    gold: set


if TYPE_CHECKING:
    # `test` and `dev` of `bitext_mining`: a set, or `(source, target, gold)`
    # with `{id: text}` dicts or lists (ids being positions).
    _Sentences = dict[Any, str] | Sequence[str]
    MiningInput = MiningSet | tuple[_Sentences, _Sentences, Iterable[tuple[Any, Any]]]


def margin_score(
    similarity: ArrayLike,
    source_knn_mean: ArrayLike,
    target_knn_mean: ArrayLike,
    margin: str = "ratio",
) -> np.ndarray:
    """Margin-based score of candidate pairs (Artetxe & Schwenk, 2019).

    With `a = (r_x + r_y) / 2`, where `r_x` is the mean similarity of `x` to
    its k nearest neighbours among the targets and `r_y` that of `y` among the
    sources, the `"ratio"` margin is `cos(x, y) / a`, the `"distance"` margin
    `cos(x, y) - a`, and `"absolute"` is `cos(x, y)` itself.

    Args:
        similarity: array-like, `cos(x, y)` of each candidate pair.
        source_knn_mean: array-like, `r_x` of each pair's source.
        target_knn_mean: array-like, `r_y` of each pair's target.
        margin: str. `"ratio"`, `"distance"` or `"absolute"`.
            Defaults to `"ratio"`.

    Returns:
        `np.ndarray` of float32 scores, the broadcast shape of the inputs.

    Examples:

    >>> round(float(margin_score(0.8, 0.5, 0.3)), 6)
    2.0
    >>> margin_score([0.8, 0.6], [0.5, 0.6], [0.3, 0.6], "distance").round(6)
    array([0.4, 0. ], dtype=float32)

    Reference:
        Artetxe & Schwenk, 2019, "Margin-based Parallel Corpus Mining with
        Multilingual Sentence Embeddings", https://arxiv.org/abs/1811.01136
    """
    check_choice("margin", margin, MARGINS)
    similarity = np.asarray(similarity, dtype="float32")
    average = (
        np.asarray(source_knn_mean, dtype="float32")
        + np.asarray(target_knn_mean, dtype="float32")
    ) / 2
    if margin == "ratio":
        return similarity / average
    if margin == "distance":
        return similarity - average
    return similarity + 0 * average


def mine(
    source_embeddings: ArrayLike,
    target_embeddings: ArrayLike,
    k: int = 4,
    margin: str = "ratio",
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    backend: str = "numpy",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate translation pairs by margin score, one-to-one, best first.

    Each source takes its best target by margin among its `k` nearest
    neighbours, and each target its best source (the "max" strategy of
    Artetxe & Schwenk); the union is sorted by decreasing score and pairs are
    accepted greedily so that no sentence is used twice. Similarity search
    is chunked, so memory stays `O(block_bytes + (n + m) * k)` beyond the
    embeddings.

    Args:
        source_embeddings: array-like `(n, dim)`.
        target_embeddings: array-like `(m, dim)`.
        k: int. Neighbours for the margin's averages. Defaults to `4`.
        margin: str. See `margin_score`. Defaults to `"ratio"`.
        block_bytes: int. Memory bound of one similarity tile.
            Defaults to 64 MiB.
        backend: str. Search backend, `"numpy"`, `"faiss"` or `"auto"`.
            Defaults to `"numpy"`.

    Returns:
        `(source_indices, target_indices, scores)`: arrays sorted by
        decreasing score.

    Examples:

    >>> import numpy as np
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> y = np.array([[0.1, 1.0], [1.0, 0.0]])
    >>> src, trg, scores = mine(x, y, k=1)
    >>> list(zip(src.tolist(), trg.tolist()))
    [(0, 1), (1, 0)]
    """
    check_choice("margin", margin, MARGINS)
    (fs, fi), (bs, bi) = mutual_topk_similarity(
        source_embeddings,
        target_embeddings,
        k=k,
        block_bytes=block_bytes,
        backend=backend,
    )
    return mine_from_neighbours(fs, fi, bs, bi, margin)


def mine_from_neighbours(
    forward_scores: ArrayLike,
    forward_indices: ArrayLike,
    backward_scores: ArrayLike,
    backward_indices: ArrayLike,
    margin: str = "ratio",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`mine` given the k-nearest-neighbour lists of both directions.

    Args:
        forward_scores: `(n, k)` cosines of each source's nearest targets.
        forward_indices: `(n, k)` their target indices.
        backward_scores: `(m, k)` cosines of each target's nearest sources.
        backward_indices: `(m, k)` their source indices.
        margin: str. See `margin_score`. Defaults to `"ratio"`.

    Returns:
        `(source_indices, target_indices, scores)` sorted by decreasing score.
    """
    check_choice("margin", margin, MARGINS)
    fs, fi = np.asarray(forward_scores), np.asarray(forward_indices)
    bs, bi = np.asarray(backward_scores), np.asarray(backward_indices)
    if fs.shape[1] == 0 or bs.shape[1] == 0:
        return (np.zeros(0, "int64"), np.zeros(0, "int64"), np.zeros(0, "float32"))
    r_x, r_y = fs.mean(axis=1), bs.mean(axis=1)
    forward = margin_score(fs, r_x[:, None], r_y[fi], margin)
    backward = margin_score(bs, r_y[:, None], r_x[bi], margin)
    f_best = forward.argmax(axis=1)
    b_best = backward.argmax(axis=1)
    n, m = fs.shape[0], bs.shape[0]
    src = np.concatenate([np.arange(n), bi[np.arange(m), b_best]])
    trg = np.concatenate([fi[np.arange(n), f_best], np.arange(m)])
    scores = np.concatenate(
        [forward[np.arange(n), f_best], backward[np.arange(m), b_best]]
    )
    # Stable sort so equal scores keep forward candidates first, then by index.
    order = np.argsort(-scores, kind="stable")
    used_src = np.zeros(n, dtype=bool)
    used_trg = np.zeros(m, dtype=bool)
    keep = []
    for position in order:
        s, t = src[position], trg[position]
        if not used_src[s] and not used_trg[t]:
            used_src[s] = used_trg[t] = True
            keep.append(position)
    keep = np.asarray(keep, dtype="int64")
    return src[keep].astype("int64"), trg[keep].astype("int64"), scores[keep]


def best_threshold(scores: ArrayLike, is_gold: ArrayLike, num_gold: int) -> dict[str, float]:
    """The score threshold that maximises F1 over a ranked candidate list.

    Candidates with `score >= threshold` are kept. Only cuts between
    different scores are considered (tied candidates are kept or dropped
    together); the threshold is the midpoint between the last kept and the
    first dropped score, as in LASER's BUCC evaluation. The cuts come from
    `sklearn.metrics.precision_recall_curve`; this wrapper adds what it does
    not do: recall over `num_gold` (gold pairs missing from the candidates
    count too) and the midpoint threshold.

    Args:
        scores: array-like of candidate scores.
        is_gold: array-like of bool, whether each candidate is a gold pair.
        num_gold: int. Number of gold pairs (the recall denominator).

    Returns:
        dict with `threshold`, `precision`, `recall`, `f1` (in [0, 1]).

    Examples:

    >>> best_threshold([4.0, 3.0, 2.0, 1.0], [True, False, True, False], 2)
    {'threshold': 1.5, 'precision': 0.6666666666666666, 'recall': 1.0, 'f1': 0.8}
    """
    scores = np.asarray(scores, dtype="float64")
    is_gold = np.asarray(is_gold, dtype=bool)
    best = {"threshold": float("inf"), "precision": 0.0, "recall": 0.0, "f1": 0.0}
    if num_gold <= 0 or not is_gold.any():
        return best
    from sklearn.metrics import precision_recall_curve  # imported when used

    # One cut per distinct score, highest first (sklearn's last point keeps nothing).
    precision, recall, thresholds = precision_recall_curve(is_gold, scores)
    precision, recall, thresholds = precision[-2::-1], recall[-2::-1], thresholds[::-1]
    # sklearn's recall counts the gold pairs among the candidates, BUCC's all of
    # them: back to exact true-positive counts, then over `num_gold`.
    recall = np.rint(recall * is_gold.sum()) / num_gold
    with np.errstate(invalid="ignore"):  # 0 / 0 where a cut keeps no gold pair
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    cut = int(np.argmax(f1))  # the first, i.e. highest, of equally good cuts
    if f1[cut] == 0:
        return best
    # sklearn gives the last kept score; LASER's threshold is the midpoint to the next.
    next_score = thresholds[min(cut + 1, len(thresholds) - 1)]
    return {
        "threshold": float((thresholds[cut] + next_score) / 2),
        "precision": float(precision[cut]),
        "recall": float(recall[cut]),
        "f1": float(f1[cut]),
    }


def precision_recall_f1(
    predicted: Iterable[tuple[Any, Any]], gold: Iterable[tuple[Any, Any]]
) -> dict[str, float]:
    """Precision, recall and F1 of a set of predicted pairs against gold pairs.

    Args:
        predicted: iterable of `(source_id, target_id)`.
        gold: iterable of `(source_id, target_id)`.

    Returns:
        dict with `precision`, `recall`, `f1` in [0, 1] (0 when undefined).

    Examples:

    >>> precision_recall_f1({(1, 1), (2, 3)}, {(1, 1), (2, 2), (3, 3)})
    {'precision': 0.5, 'recall': 0.3333333333333333, 'f1': 0.4}
    """
    predicted, gold = set(predicted), set(gold)
    tp = len(predicted & gold)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _as_mining_set(data, name):
    if isinstance(data, MiningSet):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 3:
        source, target, gold = data
        if not isinstance(source, dict):
            source = dict(enumerate(source))
        if not isinstance(target, dict):
            target = dict(enumerate(target))
        return MiningSet(source, target, {tuple(p) for p in gold})
    raise TypeError(
        f"`{name}` should be a `MiningSet` or a `(source, target, gold)` tuple. "
        f"Received: {type(data).__name__}"
    )


def _mine_set(encode, data, k, margin, block_bytes, backend):
    source_ids = [i for i, t in data.source.items() if t.strip()]
    target_ids = [i for i, t in data.target.items() if t.strip()]
    skipped = len(data.source) + len(data.target) - len(source_ids) - len(target_ids)
    known = set(source_ids), set(target_ids)
    gold = {p for p in data.gold if p[0] in known[0] and p[1] in known[1]}
    if len(gold) < len(data.gold):
        logger.warning(
            "bitext_mining: %d gold pair(s) name a missing or blank sentence; "
            "they still count as gold (recall denominator)",
            len(data.gold) - len(gold),
        )
    x = encode([data.source[i] for i in source_ids])
    y = encode([data.target[i] for i in target_ids])
    src, trg, scores = mine(
        x, y, k=k, margin=margin, block_bytes=block_bytes, backend=backend
    )
    pairs = [(source_ids[s], target_ids[t]) for s, t in zip(src, trg)]
    return pairs, scores, skipped


def bitext_mining(
    encoder: EncoderLike,
    test: MiningInput,
    dev: MiningInput | None = None,
    threshold: float | None = None,
    k: int = 4,
    margin: str = "ratio",
    batch_size: int = 32,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    backend: str = "numpy",
) -> dict[str, Any]:
    """Bitext mining F1 (BUCC protocol) with margin scoring.

    Candidates are mined with `mine` from the two monolingual sets; pairs
    whose margin score is at least a threshold are predicted translations.
    The threshold is the one maximising F1 on `dev` (BUCC's training split);
    pass `threshold` to fix it instead. Without either, it is chosen on
    `test` itself, an optimistic upper bound flagged by
    `threshold_source = "test"`. Blank sentences are left out and counted in
    `num_skipped`.

    Args:
        encoder: a keras-hub `TextEmbedder` or an `encode` callable.
        test: `MiningSet` or `(source, target, gold)`, where `source` and
            `target` are `{id: text}` dicts (or lists, ids being positions)
            and `gold` an iterable of `(source_id, target_id)`.
        dev: optional `MiningSet` or tuple on which the threshold is chosen.
            Defaults to `None`.
        threshold: optional float, used as is. Defaults to `None`.
        k: int. Neighbours of the margin. Defaults to `4`.
        margin: str. `"ratio"`, `"distance"` or `"absolute"`.
            Defaults to `"ratio"`.
        batch_size: int. Encoding batch size. Defaults to `32`.
        block_bytes: int. Memory bound of one similarity tile.
            Defaults to 64 MiB.
        backend: str. Search backend. Defaults to `"numpy"`.

    Returns:
        dict with `precision`, `recall`, `f1` (in [0, 1]) on `test`,
        `threshold`, `threshold_source` (`"given"`, `"dev"` or `"test"`),
        `dev_f1` (when chosen on dev), `num_predicted`, `num_gold`,
        `num_skipped`.

    Examples:

    >>> import numpy as np
    >>> def encode(texts):  # words "a", "b", "c", "d" -> one-hot vectors
    ...     return np.array([[t == c for c in "abcd"] for t in texts], "float32")
    >>> test = (["a", "b"], ["b", "a", "c"], [(0, 1), (1, 0)])
    >>> result = bitext_mining(encode, test, k=1, margin="absolute")
    >>> result["f1"], result["threshold_source"]
    (1.0, 'test')

    Reference:
        Artetxe & Schwenk, 2019, "Margin-based Parallel Corpus Mining with
        Multilingual Sentence Embeddings", https://arxiv.org/abs/1811.01136
    """
    encode = as_encode_fn(encoder, batch_size=batch_size)
    test = _as_mining_set(test, "test")
    result = {}
    if threshold is not None:
        result["threshold_source"] = "given"
    elif dev is not None:
        dev = _as_mining_set(dev, "dev")
        pairs, scores, _ = _mine_set(encode, dev, k, margin, block_bytes, backend)
        chosen = best_threshold(scores, [p in dev.gold for p in pairs], len(dev.gold))
        threshold = chosen["threshold"]
        result.update(threshold_source="dev", dev_f1=chosen["f1"])
    pairs, scores, skipped = _mine_set(encode, test, k, margin, block_bytes, backend)
    if threshold is None:
        logger.warning(
            "bitext_mining: no `dev` set or `threshold`; the threshold is chosen "
            "on the test set itself, which overestimates F1"
        )
        threshold = best_threshold(
            scores, [p in test.gold for p in pairs], len(test.gold)
        )["threshold"]
        result["threshold_source"] = "test"
    predicted = {p for p, s in zip(pairs, scores) if s >= threshold}
    result.update(precision_recall_f1(predicted, test.gold))
    result.update(
        threshold=float(threshold),
        num_predicted=len(predicted),
        num_gold=len(test.gold),
        num_skipped=skipped,
    )
    return result


def _read_id_text(path):
    rows = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise ValueError(f"{path}:{number}: expected `id<TAB>text`, got {line!r}")
        key, text = line.split("\t", 1)
        rows[key] = text
    return rows


def read_bucc(directory: PathLike, pair: str = "de-en", split: str = "training") -> MiningSet:
    """Reads a BUCC 2017/2018 split: `<pair>.<split>.<l1>`, `.<l2>`, `.gold`.

    Sentence files hold `id<TAB>text` lines, the gold file
    `source_id<TAB>target_id` lines. Files are looked up in `directory` and
    in `directory/<pair>/`.

    Args:
        directory: str or path-like.
        pair: str. `"<l1>-<l2>"`, e.g. `"de-en"`. Defaults to `"de-en"`.
        split: str. `"sample"`, `"training"` or `"test"`.
            Defaults to `"training"`.

    Returns:
        `MiningSet` (`gold` is empty when the split has no gold file).
    """
    directory = pathlib.Path(directory)
    l1, _, l2 = pair.partition("-")
    if not l1 or not l2:
        raise ValueError(
            f"`pair` should look like 'de-en'. Received: `pair` = {pair!r}"
        )
    for folder in (directory, directory / pair):
        base = folder / f"{pair}.{split}"
        src_path, trg_path = pathlib.Path(f"{base}.{l1}"), pathlib.Path(f"{base}.{l2}")
        if src_path.is_file() and trg_path.is_file():
            gold_path = pathlib.Path(f"{base}.gold")
            gold = set()
            if gold_path.is_file():
                for line in gold_path.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        a, b = line.split("\t")[:2]
                        gold.add((a.strip(), b.strip()))
            return MiningSet(_read_id_text(src_path), _read_id_text(trg_path), gold)
    raise FileNotFoundError(
        f"BUCC files {pair}.{split}.{l1} / .{l2} not found in {directory} "
        f"or {directory / pair}"
    )
