"""Many-to-many retrieval on multi-parallel sets (NTREX, SIB-200)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from keras_mpcl.evaluation.encoding import as_encode_fn
from keras_mpcl.evaluation.encoding import l2_normalize
from keras_mpcl.evaluation.search import DEFAULT_BLOCK_BYTES
from keras_mpcl.evaluation.search import topk_similarity

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from keras_mpcl.typing import EncoderLike

logger = logging.getLogger(__name__)


def multiparallel_retrieval(
    encoder: EncoderLike,
    texts: Mapping[str, Sequence[str]],
    languages: Sequence[str] | None = None,
    batch_size: int = 32,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> dict[str, Any]:
    """Retrieval accuracy of every language against every other one.

    `texts[lang][i]` are translations of one another for every language. For
    each ordered pair `(a, b)`, `a != b`, every sentence of `a` retrieves its
    nearest sentence of `b` by cosine, and `matrix[a, b]` is the fraction
    retrieved at the same position (ties go to the lower position). Positions
    blank in `a` or `b` are left out of that pair and counted in
    `num_skipped`. A language's score is the mean of its row and column (as
    source and as target); `mean` averages all off-diagonal entries.

    Args:
        encoder: a keras-hub `TextEmbedder` or an `encode` callable.
        texts: dict `{language: list[str]}`, all lists the same length.
        languages: optional list of languages to evaluate, in this order.
            Defaults to `None` (every key of `texts`, sorted).
        batch_size: int. Encoding batch size. Defaults to `32`.
        block_bytes: int. Memory bound of one similarity tile.
            Defaults to 64 MiB.

    Returns:
        dict with `languages` (list), `matrix` (list of lists, row = source,
        column = target, `nan` on the diagonal), `per_language`
        (`{language: float}`), `mean`, `num_sentences` and `num_skipped`
        (blank positions summed over ordered pairs).

    Examples:

    >>> import numpy as np
    >>> def encode(texts):  # the first letter decides the direction
    ...     return np.array([[t[0] in "aA", t[0] in "bB", t[0] in "cC"]
    ...                      for t in texts], "float32")
    >>> texts = {"low": ["a", "b", "c"], "up": ["A", "B", "C"],
    ...          "bad": ["A", "A", "C"]}
    >>> result = multiparallel_retrieval(encode, texts)
    >>> result["languages"]
    ['bad', 'low', 'up']
    >>> np.round(result["matrix"], 3).tolist()
    [[nan, 0.667, 0.667], [0.667, nan, 1.0], [0.667, 1.0, nan]]
    """
    if not texts:
        raise ValueError("`texts` should map at least two languages to sentence lists")
    languages = sorted(texts) if languages is None else list(languages)
    missing = [lang for lang in languages if lang not in texts]
    if missing:
        raise ValueError(
            f"Languages {missing} are not keys of `texts` ({sorted(texts)})"
        )
    if len(languages) < 2:
        raise ValueError(
            "Many-to-many retrieval needs at least two languages. "
            f"Received: {languages}"
        )
    lengths = {lang: len(texts[lang]) for lang in languages}
    if len(set(lengths.values())) != 1:
        raise ValueError(
            f"Multi-parallel lists should have equal lengths. Received: {lengths}"
        )
    n = lengths[languages[0]]
    encode = as_encode_fn(encoder, batch_size=batch_size)
    present = {}
    embeddings = {}
    for lang in languages:
        present[lang] = np.array([bool(t.strip()) for t in texts[lang]], dtype=bool)
        emb = encode(list(texts[lang]))
        embeddings[lang] = l2_normalize(emb) if len(emb) else emb
    size = len(languages)
    matrix = np.full((size, size), np.nan)
    skipped = 0
    for a, src in enumerate(languages):
        for b, trg in enumerate(languages):
            if a == b:
                continue
            keep = np.flatnonzero(present[src] & present[trg])
            skipped += n - len(keep)
            if len(keep) == 0:
                continue
            _, idx = topk_similarity(
                embeddings[src][keep],
                embeddings[trg][keep],
                k=1,
                normalize=False,
                block_bytes=block_bytes,
            )
            matrix[a, b] = np.mean(idx[:, 0] == np.arange(len(keep)))
        logger.info("multiparallel: %s done (%d/%d)", src, a + 1, size)
    if skipped:
        logger.info("multiparallel_retrieval: %d blank position(s) skipped", skipped)
    per_language = {}
    for a, lang in enumerate(languages):
        values = np.concatenate([np.delete(matrix[a], a), np.delete(matrix[:, a], a)])
        per_language[lang] = (
            float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        )
    off = matrix[~np.eye(size, dtype=bool)]
    return {
        "languages": languages,
        "matrix": matrix.tolist(),
        "per_language": per_language,
        "mean": float(np.nanmean(off)) if np.isfinite(off).any() else float("nan"),
        "num_sentences": n,
        "num_skipped": skipped,
    }
