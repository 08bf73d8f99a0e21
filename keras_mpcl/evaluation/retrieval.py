"""Bitext retrieval accuracy (Tatoeba protocol) and the Tatoeba file reader."""

from __future__ import annotations

import logging
import pathlib
import re
from typing import TYPE_CHECKING

import numpy as np

from keras_mpcl.data.lines import read_lines
from keras_mpcl.evaluation.encoding import as_encode_fn
from keras_mpcl.evaluation.search import DEFAULT_BLOCK_BYTES
from keras_mpcl.evaluation.search import topk_similarity

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from keras_mpcl.typing import EncoderLike, PathLike

logger = logging.getLogger(__name__)

_TATOEBA_NAME = re.compile(r"^tatoeba\.([^.]+)-eng\.([^.]+)$")


def nearest_neighbour_accuracy(queries, keys, block_bytes=DEFAULT_BLOCK_BYTES):
    """Fraction of rows `i` of `queries` whose nearest key by cosine is key `i`.

    Ties go to the lower key index (as `np.argmax`), so a query equally close
    to its own key and to an earlier one counts as an error.

    Args:
        queries: array-like `(n, dim)`.
        keys: array-like `(n, dim)`, row `i` the translation of query `i`.
        block_bytes: int. Memory bound of one similarity tile.
            Defaults to 64 MiB.

    Returns:
        float in [0, 1]; `nan` when `n == 0`.

    Examples:

    >>> nearest_neighbour_accuracy([[1, 0], [0, 1]], [[1, 0], [2, 0]])  # a tie
    0.5
    """
    queries = np.asarray(queries, dtype="float32")
    keys = np.asarray(keys, dtype="float32")
    if queries.shape[0] != keys.shape[0]:
        raise ValueError(
            "`queries` and `keys` should be aligned row by row. Received: "
            f"{queries.shape[0]} queries and {keys.shape[0]} keys"
        )
    if queries.shape[0] == 0:
        return float("nan")
    _, indices = topk_similarity(queries, keys, k=1, block_bytes=block_bytes)
    return float(np.mean(indices[:, 0] == np.arange(queries.shape[0])))


def bitext_retrieval(
    encoder: EncoderLike,
    source: Sequence[str],
    target: Sequence[str],
    batch_size: int = 32,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> dict[str, Any]:
    """Bitext retrieval accuracy of line-aligned sentence lists (Tatoeba).

    Line `i` of `source` and line `i` of `target` are translations. Every
    source sentence retrieves its nearest target sentence by cosine
    similarity among all target sentences, and vice versa; accuracy is the
    fraction retrieved at the right line, and `accuracy` is the mean of the
    two directions (Tatoeba's accuracy is `1 - error rate`). Pairs where either
    side is blank are left out of both the queries and the candidates and
    counted in `num_skipped`. Ties go to the lower line.

    Args:
        encoder: a keras-hub `TextEmbedder` or a callable
            `encode(list[str]) -> array` (see `as_encode_fn`).
        source: list of str.
        target: list of str, the same length as `source`.
        batch_size: int. Encoding batch size. Defaults to `32`.
        block_bytes: int. Memory bound of one similarity tile.
            Defaults to 64 MiB.

    Returns:
        dict with `accuracy`, `source_to_target`, `target_to_source` (floats
        in [0, 1], `nan` with no pair), `num_pairs` and `num_skipped`.

    Examples:

    >>> import numpy as np
    >>> def encode(texts):  # "a", "b", "c" -> one-hot vectors
    ...     return np.array([[t == c for c in "abc"] for t in texts], "float32")
    >>> result = bitext_retrieval(encode, ["a", "b", "", "c"], ["a", "c", "x", "b"])
    >>> result["source_to_target"], result["num_pairs"], result["num_skipped"]
    (0.3333333333333333, 3, 1)

    Reference:
        Artetxe & Schwenk, 2019, "Massively Multilingual Sentence Embeddings
        for Zero-Shot Cross-Lingual Transfer and Beyond",
        https://arxiv.org/abs/1812.10464
    """
    source, target = list(source), list(target)
    if len(source) != len(target):
        raise ValueError(
            "`source` and `target` should be line-aligned lists of the same "
            f"length. Received: {len(source)} source and {len(target)} target lines"
        )
    keep = [
        i for i, (s, t) in enumerate(zip(source, target)) if s.strip() and t.strip()
    ]
    num_skipped = len(source) - len(keep)
    if num_skipped:
        logger.info(
            "bitext_retrieval: %d pair(s) with a blank side skipped", num_skipped
        )
    nan = float("nan")
    if not keep:
        return {
            "accuracy": nan,
            "source_to_target": nan,
            "target_to_source": nan,
            "num_pairs": 0,
            "num_skipped": num_skipped,
        }
    encode = as_encode_fn(encoder, batch_size=batch_size)
    src = encode([source[i] for i in keep])
    trg = encode([target[i] for i in keep])
    forward = nearest_neighbour_accuracy(src, trg, block_bytes=block_bytes)
    backward = nearest_neighbour_accuracy(trg, src, block_bytes=block_bytes)
    return {
        "accuracy": (forward + backward) / 2,
        "source_to_target": forward,
        "target_to_source": backward,
        "num_pairs": len(keep),
        "num_skipped": num_skipped,
    }


def read_tatoeba(
    directory: PathLike, languages: Iterable[str] | None = None
) -> dict[str, tuple[list[str], list[str]]]:
    """Reads Tatoeba pair files `tatoeba.<xxx>-eng.<xxx>` and `.eng`.

    Args:
        directory: str or path-like holding the pair files (as in LASER's and
            XTREME's Tatoeba folders).
        languages: optional iterable of language codes (`"deu"`, ...) to keep.
            Defaults to `None` (every pair in the directory).

    Returns:
        dict `{xxx: (xxx_lines, eng_lines)}` sorted by code.

    Raises:
        FileNotFoundError: no pair file, a missing side, or a requested
            language without files.
        ValueError: the two sides of a pair have different line counts.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"Tatoeba directory not found: {directory}")
    codes = set()
    for path in directory.iterdir():
        match = _TATOEBA_NAME.match(path.name)
        if match and match.group(2) in (match.group(1), "eng"):
            codes.add(match.group(1))
    if languages is not None:
        wanted = set(languages)
        missing = sorted(wanted - codes)
        if missing:
            raise FileNotFoundError(
                f"No Tatoeba files for language(s) {missing} in {directory}; "
                f"found {sorted(codes)}"
            )
        codes &= wanted
    if not codes:
        raise FileNotFoundError(
            f"No Tatoeba pair files `tatoeba.<xxx>-eng.<xxx>` in {directory}"
        )
    pairs = {}
    for code in sorted(codes):
        src_path = directory / f"tatoeba.{code}-eng.{code}"
        eng_path = directory / f"tatoeba.{code}-eng.eng"
        for path in (src_path, eng_path):
            if not path.is_file():
                raise FileNotFoundError(f"Missing Tatoeba file {path}")
        src, eng = read_lines(src_path), read_lines(eng_path)
        if len(src) != len(eng):
            raise ValueError(
                f"{src_path.name} has {len(src)} lines but {eng_path.name} has "
                f"{len(eng)}; Tatoeba pair files must be line-aligned"
            )
        pairs[code] = (src, eng)
    return pairs


def tatoeba(
    encoder: EncoderLike,
    directory: PathLike,
    languages: Iterable[str] | None = None,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Tatoeba accuracy of every pair file in `directory` and their mean.

    Args:
        encoder: a keras-hub `TextEmbedder` or an `encode` callable.
        directory: str or path-like, see `read_tatoeba`.
        languages: optional iterable of codes to evaluate. Defaults to `None`.
        batch_size: int. Encoding batch size. Defaults to `32`.

    Returns:
        dict with `per_language` (`{xxx: bitext_retrieval result}`) and
        `mean` (mean of the per-language `accuracy`, in [0, 1]).
    """
    encode = as_encode_fn(encoder, batch_size=batch_size)
    per_language = {}
    for code, (src, eng) in read_tatoeba(directory, languages).items():
        per_language[code] = bitext_retrieval(encode, src, eng)
        logger.info("tatoeba %s-eng: %.4f", code, per_language[code]["accuracy"])
    scores = [r["accuracy"] for r in per_language.values()]
    return {"per_language": per_language, "mean": float(np.nanmean(scores))}
