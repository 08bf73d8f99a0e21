"""Run named evaluation tasks on data folders; write JSON/CSV reports and plots."""

from __future__ import annotations

import csv
import json
import logging
import math
import pathlib
from typing import TYPE_CHECKING

import numpy as np

from keras_mpcl.data.readers import NTREX_HELD_OUT
from keras_mpcl.data.readers import line_range
from keras_mpcl.data.readers import read_ntrex
from keras_mpcl.evaluation.classification import classification_transfer
from keras_mpcl.evaluation.classification import read_sib200
from keras_mpcl.evaluation.encoding import as_encode_fn
from keras_mpcl.evaluation.multiparallel import multiparallel_retrieval
from keras_mpcl.evaluation.retrieval import bitext_retrieval
from keras_mpcl.evaluation.retrieval import read_tatoeba
from keras_mpcl.evaluation.sts import read_sts17
from keras_mpcl.evaluation.sts import read_stsb_multi_mt
from keras_mpcl.evaluation.sts import sts

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any

    from keras_mpcl.evaluation.encoding import EncodeFn
    from keras_mpcl.typing import EncoderLike, PathLike

logger = logging.getLogger(__name__)

TASKS = ("tatoeba", "sts17", "stsb", "sib200", "ntrex")


def parse_task_specs(specs):
    """Parses `NAME=PATH` strings (or a dict) into `[(name, path), ...]`.

    Examples:

    >>> parse_task_specs(["tatoeba=data/tatoeba", "sts17=/d/sts17"])
    [('tatoeba', 'data/tatoeba'), ('sts17', '/d/sts17')]
    >>> parse_task_specs({"ntrex": "/d/ntrex128"})
    [('ntrex', '/d/ntrex128')]
    """
    items = list(specs.items()) if isinstance(specs, dict) else []
    if not isinstance(specs, dict):
        if isinstance(specs, str):
            specs = [specs]
        for spec in specs:
            name, sep, path = str(spec).partition("=")
            if not sep or not name or not path:
                raise ValueError(
                    "A task should be given as NAME=PATH, e.g. "
                    "`tatoeba=data/tatoeba`. "
                    f"Received: {spec!r}"
                )
            items.append((name.strip(), path.strip()))
    for name, _ in items:
        if name not in TASKS:
            raise ValueError(f"Unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    if not items:
        raise ValueError(f"No task given; use NAME=PATH with NAME in {TASKS}")
    return [(name, str(path)) for name, path in items]


def language_matches(key, languages, keys=()):
    """Whether a task's language key is selected by a list of codes.

    A key matches a code equal to it; a pair key (`es-en`, `es-en-4a`)
    matches when both its languages do; a key with a script or region
    (`deu_Latn`, `zho-CN`) matches its bare code (`deu`, `zho`) unless that
    bare code is itself one of the task's `keys` (so `eng` selects NTREX's
    `eng` but not `eng-GB`). Datasets use different codes (ISO 639-3 for
    Tatoeba and NTREX, FLORES-200 for SIB-200, ISO 639-1 for STS), so a list
    may mix them. `None` selects everything.

    Examples:

    >>> language_matches("deu_Latn", ["deu"])
    True
    >>> language_matches("es-en-4a", ["es", "en"])
    True
    >>> language_matches("ar-en", ["en"]), language_matches("zho-CN", ["zho"])
    (False, True)
    >>> language_matches("eng-GB", ["eng"], keys=["eng", "eng-GB"])
    False
    """
    if languages is None:
        return True
    languages = set(languages)
    if key in languages:
        return True
    parts = key.split("-")
    if len(parts) >= 2 and not parts[1][:1].isupper():
        return parts[0] in languages and parts[1] in languages
    base = parts[0].split("_")[0]
    return base in languages and base not in set(keys)


def _select(keys, languages, task):
    keys = list(keys)
    chosen = [k for k in keys if language_matches(k, languages, keys)]
    if not chosen:
        raise ValueError(
            f"Task {task!r}: no language among {sorted(keys)[:20]}"
            f"{'...' if len(keys) > 20 else ''} matches "
            f"`languages` = {sorted(languages)}"
        )
    return chosen


def _percent(value):
    return None if value is None or math.isnan(value) else round(100 * float(value), 4)


def _summary(per_language, metric, **details):
    per = {k: _percent(v) for k, v in per_language.items()}
    values = [v for v in per.values() if v is not None]
    entry = {
        "per_language": per,
        "mean": round(float(np.mean(values)), 4) if values else None,
        "metric": metric,
    }
    entry.update(details)
    return entry


def _prepare_tatoeba(path, languages, options):
    data = read_tatoeba(path)
    chosen = _select(list(data), languages, "tatoeba")

    def run(encode):
        results = {code: bitext_retrieval(encode, *data[code]) for code in chosen}
        details = {
            code: {
                "source_to_target": _percent(r["source_to_target"]),
                "target_to_source": _percent(r["target_to_source"]),
                "num_pairs": r["num_pairs"],
                "num_skipped": r["num_skipped"],
            }
            for code, r in results.items()
        }
        return _summary(
            {c: r["accuracy"] for c, r in results.items()}, "accuracy", details=details
        )

    return run


def _prepare_sts(data, languages, task):
    chosen = _select(list(data), languages, task)

    def run(encode):
        results = {key: sts(encode, *data[key]) for key in chosen}
        details = {
            k: {"num_pairs": r["num_pairs"], "num_blank": r["num_blank"]}
            for k, r in results.items()
        }
        return _summary(
            {k: r["spearman"] for k, r in results.items()}, "spearman", details=details
        )

    return run


def _prepare_sib200(path, languages, options):
    train_language = options.get("sib200_train_language", "eng_Latn")
    classifier = options.get("sib200_classifier", "logistic")
    train = read_sib200(path, "train", [train_language])[train_language]
    test = read_sib200(path, "test")
    chosen = _select(list(test), languages, "sib200")

    def run(encode):
        result = classification_transfer(
            encode, train, {lang: test[lang] for lang in chosen}, classifier=classifier
        )
        return _summary(
            result["per_language"],
            "accuracy",
            train_language=train_language,
            classifier=classifier,
            num_train=result["num_train"],
        )

    return run


def _prepare_ntrex(path, languages, options):
    lines = options.get("ntrex_lines", NTREX_HELD_OUT)
    span = None if lines is None else list(line_range(lines))  # a bad range fails here
    data = read_ntrex(path, lines=lines)
    chosen = _select(list(data), languages, "ntrex")

    def run(encode):
        result = multiparallel_retrieval(encode, {k: data[k] for k in chosen})
        matrix = [[_percent(v) for v in row] for row in result["matrix"]]
        return _summary(
            result["per_language"],
            "accuracy",
            languages=result["languages"],
            matrix=matrix,
            lines=span,
            num_sentences=result["num_sentences"],
            num_skipped=result["num_skipped"],
        )

    return run


def prepare_task(name, path, languages=None, **options):
    """Reads one named task's data and checks its language selection, before any encoding.

    Args: as `run_task`.

    Returns:
        A function `run(encode) -> report entry`.
    """
    if name == "tatoeba":
        return _prepare_tatoeba(path, languages, options)
    if name == "sts17":
        return _prepare_sts(read_sts17(path), languages, "sts17")
    if name == "stsb":
        return _prepare_sts(read_stsb_multi_mt(path), languages, "stsb")
    if name == "sib200":
        return _prepare_sib200(path, languages, options)
    if name == "ntrex":
        return _prepare_ntrex(path, languages, options)
    raise ValueError(f"Unknown task {name!r}; known tasks: {', '.join(TASKS)}")


def prepare_tasks(
    task_specs: str | Iterable[str] | dict[str, PathLike],
    languages: Sequence[str] | None = None,
    **options: Any,
) -> list[tuple[str, Callable[[EncodeFn], dict[str, Any]]]]:
    """`prepare_task` for every `NAME=PATH` spec: `[(name, run), ...]`.

    Every task is read and checked first, so a task that matches no language
    fails before anything is encoded.
    """
    return [(name, prepare_task(name, path, languages, **options))
            for name, path in parse_task_specs(task_specs)]


def run_task(encode, name, path, languages=None, **options):
    """Runs one named task on its data folder; returns its report entry.

    Args:
        encode: `encode(list[str]) -> array` (see `as_encode_fn`).
        name: str. One of `TASKS`.
        path: str or path-like, the task's data folder.
        languages: optional list of codes (see `language_matches`).
        **options: `sib200_train_language` (default `"eng_Latn"`),
            `sib200_classifier` (`"logistic"` or `"knn"`), `ntrex_lines`
            (default `(1800, 1997)`).

    Returns:
        dict with `per_language`, `mean` (percentages: accuracy x 100,
        Spearman x 100), `metric` and task-specific details.
    """
    return prepare_task(name, path, languages, **options)(encode)


def evaluate_tasks(
    encoder: EncoderLike,
    task_specs: str
    | Iterable[str]
    | dict[str, PathLike]
    | list[tuple[str, Callable[[EncodeFn], dict[str, Any]]]],
    languages: Sequence[str] | None = None,
    output: PathLike | None = None,
    plots: bool = True,
    batch_size: int = 32,
    **options: Any,
) -> dict[str, dict[str, Any]]:
    """Runs named tasks and returns (and optionally writes) the report.

    The report is `{task: {"per_language": {...}, "mean": ..., ...}}` with
    accuracies as percentages and Spearman correlations x 100 (`None` where
    undefined). With `output`, it is written as JSON there, as a CSV beside
    it (`.csv`), and with `plots=True` as PNG bar charts per task plus the
    language-by-language NTREX retrieval heatmap (`<stem>.<task>.png`).
    Every task is read and checked before the first is encoded, and the
    report is rewritten after each task, so a failure or an interruption
    keeps the tasks that finished.

    Args:
        encoder: a keras-hub `TextEmbedder` or an `encode` callable.
        task_specs: list of `"NAME=PATH"` strings or a dict `{name: path}`,
            names from `tatoeba`, `sts17`, `stsb`, `sib200`, `ntrex`; or
            the output of `prepare_tasks`.
        languages: optional list of language codes (see `language_matches`).
            Defaults to `None` (every language of every task).
        output: optional str or path of the JSON report. Defaults to `None`.
        plots: bool. Write PNG plots beside `output`. Defaults to `True`.
        batch_size: int. Encoding batch size. Defaults to `32`.
        **options: passed to `run_task`.

    Returns:
        The report dict (JSON-serialisable).
    """
    prepared = (
        task_specs
        if isinstance(task_specs, list) and task_specs and callable(task_specs[0][1])
        else prepare_tasks(task_specs, languages, **options)
    )
    encode = as_encode_fn(encoder, batch_size=batch_size)
    report = {}
    for index, (name, run) in enumerate(prepared):
        logger.info("evaluating %s", name)
        report[name] = run(encode)
        logger.info("%s mean: %s", name, report[name]["mean"])
        if output is not None:
            last = index == len(prepared) - 1
            write_report(report, output, plots=plots and last)
    return report


def write_report(
    report: Mapping[str, Mapping[str, Any]], output: PathLike, plots: bool = True
) -> list[pathlib.Path]:
    """Writes the report as JSON, CSV and (optionally) PNG plots.

    The JSON and CSV files are written first; if plotting fails (e.g.
    matplotlib is not installed) a one-line warning says so and the scores
    stay written.

    Returns:
        list of the written paths.
    """
    output = pathlib.Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    written = [output]
    csv_path = output.with_suffix(".csv")
    with open(csv_path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["task", "language", "metric", "score"])
        for task, entry in report.items():
            for lang, score in entry["per_language"].items():
                writer.writerow([task, lang, entry["metric"], score])
            writer.writerow([task, "mean", entry["metric"], entry["mean"]])
    written.append(csv_path)
    if plots:
        try:
            written.extend(plot_report(report, output.parent, output.stem))
        except Exception as error:  # a plot never costs the scores written above
            logger.warning(
                "No plots written (%s: %s); the report is in %s and %s.",
                type(error).__name__, error, output, csv_path,
            )
    return written


def plot_report(report, directory, stem="report"):
    """PNG per-language bar charts, and a heatmap for matrix entries (NTREX).

    Returns:
        list of the written PNG paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = pathlib.Path(directory)
    written = []
    for task, entry in report.items():
        names = list(entry["per_language"])
        values = [np.nan if v is None else v for v in entry["per_language"].values()]
        fig, ax = plt.subplots(figsize=(max(4.0, 0.28 * len(names) + 1.5), 3.6))
        ax.bar(range(len(names)), values, color="tab:blue")
        if entry["mean"] is not None:
            ax.axhline(
                entry["mean"],
                color="tab:red",
                linestyle="--",
                label=f"mean {entry['mean']:.1f}",
            )
            ax.legend(loc="lower right")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=90, fontsize=7)
        ax.set_ylabel(f"{entry['metric']} (x100)")
        ax.set_ylim(min(0.0, float(np.nanmin(values)) if names else 0.0), 100)
        ax.set_title(f"{task}: per-language {entry['metric']}")
        fig.tight_layout()
        path = directory / f"{stem}.{task}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
        if "matrix" in entry:
            written.append(
                _plot_heatmap(
                    plt, entry, directory / f"{stem}.{task}_heatmap.png", task
                )
            )
    return written


def _plot_heatmap(plt, entry, path, task):
    languages = entry["languages"]
    matrix = np.array(
        [[np.nan if v is None else v for v in row] for row in entry["matrix"]]
    )
    size = max(4.0, 0.22 * len(languages) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, vmin=0, vmax=100, cmap="viridis")
    ax.set_xticks(range(len(languages)))
    ax.set_yticks(range(len(languages)))
    fontsize = 8 if len(languages) <= 30 else 5
    ax.set_xticklabels(languages, rotation=90, fontsize=fontsize)
    ax.set_yticklabels(languages, fontsize=fontsize)
    ax.set_xlabel("target language")
    ax.set_ylabel("source language")
    ax.set_title(f"{task}: retrieval accuracy (source -> target)")
    if len(languages) <= 12:
        for i in range(len(languages)):
            for j in range(len(languages)):
                if not np.isnan(matrix[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{matrix[i, j]:.0f}",
                        ha="center",
                        va="center",
                        color="white",
                        fontsize=7,
                    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
