"""Many-to-many retrieval on multi-parallel sets (NTREX, SIB-200) and NTREX reader."""

import logging
import pathlib
import re

import numpy as np

from keras_mpcl.evaluation.encoding import as_encode_fn
from keras_mpcl.evaluation.encoding import l2_normalize
from keras_mpcl.evaluation.retrieval import read_lines
from keras_mpcl.evaluation.search import DEFAULT_BLOCK_BYTES
from keras_mpcl.evaluation.search import topk_similarity

logger = logging.getLogger(__name__)

# NTREX-128 lines 1800.. are not used for training in this project's recipes.
NTREX_HELD_OUT = (1800, 1997)
_NTREX_REF = re.compile(r"^newstest2019-ref\.(.+)\.txt$")
_NTREX_SRC = "newstest2019-src.eng.txt"


def multiparallel_retrieval(
    encoder,
    texts,
    languages=None,
    batch_size=32,
    block_bytes=DEFAULT_BLOCK_BYTES,
):
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


def line_range(lines):
    """`(start, stop)` from a tuple, `range`, `slice` or `"start:stop"` string.

    Examples:

    >>> line_range("1800:1997"), line_range(range(5, 9)), line_range((0, None))
    ((1800, 1997), (5, 9), (0, None))
    """
    if lines is None:
        return None
    if isinstance(lines, range):
        if lines.step != 1:
            raise ValueError(f"`lines` should be a contiguous range. Received: {lines}")
        start, stop = lines.start, lines.stop
    elif isinstance(lines, slice):
        start, stop = lines.start or 0, lines.stop
    elif isinstance(lines, str):  # "1800:1997", as given on a command line
        text, _, end = lines.partition(":")
        try:
            start, stop = int(text or 0), int(end) if end else None
        except ValueError:
            raise ValueError(
                f"`lines` should be `start:stop` (0-based, stop excluded), e.g. "
                f"`1800:1997`. Received: {lines!r}"
            ) from None
    else:
        start, stop = lines
        start, stop = int(start), None if stop is None else int(stop)
    if start < 0 or (stop is not None and stop <= start):
        raise ValueError(
            f"`lines` should select at least one line: 0 <= start < stop (0-based, "
            f"stop excluded), e.g. `1800:1997`. Received: start {start}, stop {stop}"
        )
    return start, stop


def read_ntrex(directory, languages=None, lines=NTREX_HELD_OUT):
    """Reads NTREX-128 as `{language: lines}` (multi-parallel, line by line).

    `newstest2019-src.eng.txt` is English (`"eng"`) and
    `newstest2019-ref.<lang>.txt` the references; second references
    (`newstest2019-ref-2.*`) are not read (their count is logged).

    Args:
        directory: str or path-like, the `ntrex128` folder.
        languages: optional iterable of codes (`"deu"`, `"zho-CN"`, ...).
            Defaults to `None` (every language).
        lines: `(start, stop)` tuple, `range`, `slice` or `"start:stop"`
            string of 0-based line numbers, stop excluded; `None` reads all.
            Defaults to `(1800, 1997)`, the held-out lines.

    Returns:
        dict `{language: list[str]}`, sorted by language.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"NTREX directory not found: {directory}")
    files = {}
    extra = 0
    for path in directory.iterdir():
        match = _NTREX_REF.match(path.name)
        if match:
            files[match.group(1)] = path
        elif path.name.startswith("newstest2019-ref-"):
            extra += 1
    if (directory / _NTREX_SRC).is_file():
        files["eng"] = directory / _NTREX_SRC
    if extra:
        logger.info("read_ntrex: %d second-reference file(s) not read", extra)
    if languages is not None:
        wanted = list(dict.fromkeys(languages))
        missing = [lang for lang in wanted if lang not in files]
        if missing:
            raise FileNotFoundError(
                f"No NTREX file for language(s) {missing} in {directory}"
            )
        files = {lang: files[lang] for lang in wanted}
    if not files:
        raise FileNotFoundError(
            f"No NTREX files `newstest2019-ref.<lang>.txt` in {directory}"
        )
    span = line_range(lines)
    result = {}
    for lang in sorted(files):
        text = read_lines(files[lang])
        if span is not None:
            start, stop = span
            if start >= len(text) or (stop is not None and stop > len(text)):
                raise ValueError(
                    f"`lines` = {lines} is outside {files[lang].name} "
                    f"({len(text)} lines)"
                )
            text = text[start:stop]
        result[lang] = text
    lengths = {len(v) for v in result.values()}
    if len(lengths) != 1:
        raise ValueError(f"NTREX files have different line counts: {sorted(lengths)}")
    return result
