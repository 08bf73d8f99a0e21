"""Semantic textual similarity: Spearman correlation of cosine with gold scores."""

from __future__ import annotations

import csv
import logging
import pathlib
import re
from typing import TYPE_CHECKING

import numpy as np

from keras_mpcl.evaluation.encoding import as_encode_fn
from keras_mpcl.evaluation.encoding import l2_normalize

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from numpy.typing import ArrayLike

    from keras_mpcl.typing import EncoderLike, PathLike

logger = logging.getLogger(__name__)

_STS17_NAME = re.compile(r"^sts17\.track([0-9]+[a-z]?)\.([a-z]+)-([a-z]+)\.tsv$")
_STSB_NAME = re.compile(r"^stsb-([A-Za-z_-]+)-test\.csv$")


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman rank correlation: Pearson correlation of the (tie-averaged) ranks.

    Computed by `scipy.stats.spearmanr`, rounded to 12 decimals so that a
    perfect (anti-)correlation reads exactly `1.0` (`-1.0`). Returns `nan`
    when either side is constant (all values equal: no ranking to correlate)
    or has fewer than 2 values.

    Args:
        x: 1-D array-like of numbers.
        y: 1-D array-like of numbers, as long as `x`.

    Returns:
        float in [-1, 1], or `nan`.

    Examples:

    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40])
    1.0
    >>> spearman([1, 2, 3], [3, 1, 2])
    -0.5
    >>> round(spearman([1, 2, 2, 3], [1, 2, 3, 4]), 6)
    0.948683
    >>> spearman([5, 5, 5], [1, 2, 3])
    nan
    """
    x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(
            "`x` and `y` should be 1-D and of the same length. Received: shapes "
            f"{x.shape} and {y.shape}"
        )
    # scipy warns on (and returns nan for) constant input; for one value it raises.
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    from scipy import stats  # imported when used: `keras-mpcl --help` stays fast

    return float(np.round(stats.spearmanr(x, y).statistic, 12))


def sts(
    encoder: EncoderLike,
    sentences1: Sequence[str],
    sentences2: Sequence[str],
    scores: Sequence[float],
    batch_size: int = 32,
) -> dict[str, Any]:
    """STS score: Spearman correlation between cosine similarity and gold scores.

    Every pair is kept, including pairs with a blank side (their cosine is
    whatever the encoder gives a blank text), so results stay comparable with
    published numbers; `num_blank` counts them.

    Args:
        encoder: a keras-hub `TextEmbedder` or an `encode` callable.
        sentences1: list of str.
        sentences2: list of str, aligned with `sentences1`.
        scores: list of float gold similarities.
        batch_size: int. Encoding batch size. Defaults to `32`.

    Returns:
        dict with `spearman` (in [-1, 1]), `num_pairs`, `num_blank`.

    Examples:

    >>> import numpy as np
    >>> def encode(texts):  # bag of the letters "abc"
    ...     return np.array([[t.count(c) for c in "abc"] for t in texts], "float32")
    >>> sts(encode, ["aa", "ab", "ab"], ["a", "b", "c"], [5.0, 2.5, 0.0])
    {'spearman': 1.0, 'num_pairs': 3, 'num_blank': 0}
    """
    sentences1, sentences2 = list(sentences1), list(sentences2)
    scores = np.asarray(scores, dtype="float64")
    if not len(sentences1) == len(sentences2) == len(scores):
        raise ValueError(
            "`sentences1`, `sentences2` and `scores` should have the same length. "
            f"Received: {len(sentences1)}, {len(sentences2)}, {len(scores)}"
        )
    blank = sum(
        1 for a, b in zip(sentences1, sentences2) if not a.strip() or not b.strip()
    )
    if not sentences1:
        return {"spearman": float("nan"), "num_pairs": 0, "num_blank": 0}
    encode = as_encode_fn(encoder, batch_size=batch_size)
    # One encoding pass over the unique sentences of both sides.
    unique = list(dict.fromkeys(sentences1 + sentences2))
    position = {text: i for i, text in enumerate(unique)}
    emb = l2_normalize(encode(unique))
    a = emb[[position[t] for t in sentences1]]
    b = emb[[position[t] for t in sentences2]]
    cosine = np.sum(a * b, axis=1)
    return {
        "spearman": spearman(cosine, scores),
        "num_pairs": len(scores),
        "num_blank": blank,
    }


def read_sts17(
    directory: PathLike, languages: Iterable[str] | None = None
) -> dict[str, tuple[list[str], list[str], list[float]]]:
    """Reads the STS17 tracks `sts17.track<N>.<l1>-<l2>.tsv`.

    Each line is `gold_score<TAB>sentence1<TAB>sentence2`; rows with an empty
    gold score (250 of the 500 tr-en rows in the shared copy) are skipped and
    their count logged. Tracks are keyed
    `"<l1>-<l2>"`; when two tracks share a pair (track 4a and 4b are both
    `es-en`) the keys become `"<l1>-<l2>-<track>"` (`"es-en-4a"`).

    Args:
        directory: str or path-like, the `sts17` folder (or one `.tsv` file).
        languages: optional iterable of language codes; a track is kept when
            both of its languages are in it. Defaults to `None`.

    Returns:
        dict `{key: (sentences1, sentences2, scores)}` sorted by key.
    """
    directory = pathlib.Path(directory)
    paths = (
        [directory] if directory.is_file() else sorted(directory.glob("sts17.*.tsv"))
    )
    tracks = []
    for path in paths:
        match = _STS17_NAME.match(path.name)
        if not match:
            continue
        track, l1, l2 = match.groups()
        if languages is not None and not {l1, l2} <= set(languages):
            continue
        tracks.append((track, f"{l1}-{l2}", path))
    if not tracks:
        raise FileNotFoundError(
            f"No STS17 files `sts17.track<N>.<l1>-<l2>.tsv` in {directory}"
            + (f" for languages {sorted(languages)}" if languages is not None else "")
        )
    counts = {}
    for _, pair, _ in tracks:
        counts[pair] = counts.get(pair, 0) + 1
    result = {}
    for track, pair, path in tracks:
        key = pair if counts[pair] == 1 else f"{pair}-{track}"
        s1, s2, scores = [], [], []
        unscored = 0
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 3:
                raise ValueError(
                    f"{path}:{number}: expected `score<TAB>sentence1<TAB>sentence2`, "
                    f"got {len(fields)} field(s)"
                )
            if not fields[0].strip():
                unscored += 1
                continue
            scores.append(float(fields[0]))
            s1.append(fields[1])
            s2.append(fields[2])
        if unscored:
            logger.info(
                "read_sts17: %s: %d row(s) without a gold score skipped",
                path.name,
                unscored,
            )
        result[key] = (s1, s2, scores)
    return dict(sorted(result.items()))


def read_stsb_multi_mt(
    directory: PathLike, languages: Iterable[str] | None = None
) -> dict[str, tuple[list[str], list[str], list[float]]]:
    """Reads multilingual STS-B test files `stsb-<lang>-test.csv`.

    Each row is `sentence1,sentence2,score` (CSV quoting, no header; a
    header row `sentence1,sentence2,score` is skipped if present).

    Args:
        directory: str or path-like, the `stsb_multi_mt` folder.
        languages: optional iterable of codes (`"de"`, ...). Defaults to
            `None` (every file).

    Returns:
        dict `{lang: (sentences1, sentences2, scores)}` sorted by code.
    """
    directory = pathlib.Path(directory)
    files = {}
    for path in sorted(directory.glob("stsb-*-test.csv")):
        match = _STSB_NAME.match(path.name)
        if match:
            files[match.group(1)] = path
    if languages is not None:
        missing = sorted(set(languages) - set(files))
        files = {k: v for k, v in files.items() if k in set(languages)}
        if missing:
            logger.info("read_stsb_multi_mt: no file for %s", missing)
    if not files:
        raise FileNotFoundError(f"No files `stsb-<lang>-test.csv` in {directory}")
    result = {}
    for lang, path in files.items():
        s1, s2, scores = [], [], []
        with open(path, encoding="utf-8", newline="") as f:
            for number, row in enumerate(csv.reader(f), 1):
                if not row:
                    continue
                if number == 1 and row == ["sentence1", "sentence2", "score"]:
                    continue
                if len(row) != 3:
                    raise ValueError(
                        f"{path}:{number}: expected `sentence1,sentence2,score`, got "
                        f"{len(row)} field(s)"
                    )
                s1.append(row[0])
                s2.append(row[1])
                scores.append(float(row[2]))
        result[lang] = (s1, s2, scores)
    return result
