"""Held-out retrieval before and after training: numbers, a printed table, a PNG."""

from __future__ import annotations

import math
import pathlib
from typing import TYPE_CHECKING

import numpy as np

from keras_mpcl.evaluation import as_encode_fn
from keras_mpcl.evaluation import multiparallel_retrieval

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from keras_mpcl.typing import EncoderLike, PathLike


def held_out_retrieval(
    encoder: EncoderLike, texts: Mapping[str, Sequence[str]], batch_size: int = 64
) -> dict[str, Any]:
    """Many-to-many retrieval accuracy on held-out translation groups.

    `keras_mpcl.evaluation.multiparallel_retrieval` over every language pair.
    All texts are embedded in one pass first: each `predict` call of a
    keras-hub model traces its preprocessing pipeline anew (seconds for a
    BERT tokenizer), so one call instead of one per language matters on CPU.

    Args:
        encoder: a keras-hub `TextEmbedder` or an `encode` callable.
        texts: dict `{language: list of str}`, aligned by position.
        batch_size: int. Encoding batch size. Defaults to `64`.

    Returns:
        dict with `mean`, `per_language`, `languages`, `matrix`, ...

    Examples:

    >>> import numpy as np
    >>> encode = lambda batch: np.array([[len(t), 1.0] for t in batch])
    >>> result = held_out_retrieval(encode, {"a": ["x", "yyyy"], "b": ["z", "wwww"]})
    >>> result["mean"]
    1.0
    """
    unique = sorted({t for column in texts.values() for t in column if t.strip()})
    embeddings = as_encode_fn(encoder, batch_size=batch_size)(unique) if unique else None
    row = {text: i for i, text in enumerate(unique)}

    def lookup(batch):
        batch = list(batch)
        if embeddings is None:
            return np.zeros((len(batch), 1), "float32")
        # Blank positions are skipped by the metric; any row will do for them.
        return embeddings[[row.get(t, 0) for t in batch]]

    return multiparallel_retrieval(lookup, texts, languages=list(texts), batch_size=batch_size)


def format_comparison(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """A text table of per-language accuracy before / after and the change.

    Examples:

    >>> before = {"mean": 0.5, "per_language": {"en": 0.4, "de": 0.6}}
    >>> after = {"mean": 0.75, "per_language": {"en": 0.7, "de": 0.8}}
    >>> print(format_comparison(before, after))
    language   before   after  change
    en          40.0%   70.0%  +30.0
    de          60.0%   80.0%  +20.0
    mean        50.0%   75.0%  +25.0
    """
    lines = [f"{'language':<8} {'before':>8} {'after':>7} {'change':>7}"]
    rows = list(after["per_language"].items()) + [("mean", after["mean"])]
    for lang, value in rows:
        old = before["mean"] if lang == "mean" else before["per_language"][lang]
        lines.append(f"{lang:<8} {old:>8.1%} {value:>7.1%} {100 * (value - old):>+6.1f}")
    return "\n".join(lines)


def plot_comparison(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    path: PathLike,
    title: str = "Held-out retrieval accuracy",
) -> pathlib.Path:
    """Writes a bar chart of per-language accuracy before vs after to `path`.

    Each language's accuracy is the mean over the pairs it is in (as source
    and as target). Needs matplotlib (a dependency); uses the `Agg` backend.

    Returns:
        The `pathlib.Path` written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    languages = list(after["per_language"]) + ["mean"]
    old = [before["per_language"].get(lang, math.nan) for lang in languages[:-1]] + [before["mean"]]
    new = [after["per_language"][lang] for lang in languages[:-1]] + [after["mean"]]
    x = np.arange(len(languages))
    width = 0.38
    figure, axis = plt.subplots(figsize=(max(6.0, 0.8 * len(languages) + 2), 4.2), dpi=110)
    bars_old = axis.bar(x - width / 2, [100 * v for v in old], width, label="before training", color="#9aa7b8")
    bars_new = axis.bar(x + width / 2, [100 * v for v in new], width, label="after training", color="#2f6db5")
    for bars in (bars_old, bars_new):
        axis.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    axis.set_xticks(x, languages)
    axis.set_ylabel("retrieval accuracy (%)")
    axis.set_ylim(0, 105)
    axis.set_title(
        f"{title}\nmean {100 * before['mean']:.1f}% -> {100 * after['mean']:.1f}% "
        f"({after.get('num_sentences', '?')} held-out groups, "
        f"{len(languages) - 1} languages, all pairs)",
        fontsize=10,
    )
    axis.legend(loc="lower right", fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path = pathlib.Path(path)
    figure.savefig(path)
    plt.close(figure)
    return path
