"""`keras-mpcl evaluate`: argument parsing and the run, for `keras_mpcl.cli`."""

import argparse
import json
import logging
import pathlib

from keras_mpcl.evaluation.report import TASKS


def load_encoder(model):
    """Loads an encoder the way every keras-mpcl command does: `build_encoder`.

    A folder may be one written by `save_to_preset` or a Hugging Face /
    sentence-transformers folder (tokenized exactly as Hugging Face does).
    Preset names need network access to Kaggle / Hugging Face.
    """
    from keras_mpcl.models import build_encoder

    path = pathlib.Path(model)
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"`--model` should be a preset name or a preset directory. Received "
            f"the file {model!r}"
        )
    return build_encoder(str(path) if path.is_dir() else model)


def parse_languages(values):
    """`--languages` values, each either one code or a comma-separated list.

    Examples:

    >>> parse_languages(["deu,fra", "ita", " rus , "])
    ['deu', 'fra', 'ita', 'rus']
    >>> parse_languages(None) is None
    True
    """
    if values is None:
        return None
    return [code.strip() for value in values for code in value.split(",") if code.strip()]


def add_evaluate_arguments(parser):
    """Adds the `evaluate` options to an `argparse` parser; returns it."""
    parser.add_argument(
        "--model",
        required=True,
        help="keras-hub preset name or a preset directory "
        "(save_to_preset or Hugging Face format)",
    )
    parser.add_argument(
        "--task",
        action="append",
        required=True,
        metavar="NAME=PATH",
        help=f"task and its data folder; NAME in {', '.join(TASKS)}; repeatable",
    )
    parser.add_argument(
        "--languages",
        nargs="+",
        default=None,
        help="language codes to keep, space- or comma-separated, e.g. `deu fra` "
        "or `deu,fra` (dataset codes: deu, deu_Latn, de; default all)",
    )
    parser.add_argument("--output", required=True, help="path of the JSON report")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sib200-train-language", default="eng_Latn")
    parser.add_argument(
        "--sib200-classifier", choices=("logistic", "knn"), default="logistic"
    )
    parser.add_argument(
        "--ntrex-lines",
        default="1800:1997",
        help="0-based START:STOP line range of NTREX to evaluate "
        "(default: the held-out lines 1800:1997)",
    )
    return parser


def run_evaluate(args, encoder=None):
    """Runs `evaluate` from parsed arguments; prints and returns the report.

    Args:
        args: `argparse.Namespace` from a parser set up by
            `add_evaluate_arguments`.
        encoder: optional already-built encoder or `encode` callable used
            instead of loading `args.model`. Defaults to `None`.
    """
    from keras_mpcl.evaluation.report import evaluate_tasks
    from keras_mpcl.evaluation.report import prepare_tasks

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # Every task's data and language selection is checked before the model loads.
    tasks = prepare_tasks(
        args.task,
        languages=parse_languages(args.languages),
        sib200_train_language=args.sib200_train_language,
        sib200_classifier=args.sib200_classifier,
        ntrex_lines=args.ntrex_lines,
    )
    if encoder is None:
        encoder = load_encoder(args.model)
    report = evaluate_tasks(
        encoder, tasks, output=args.output, plots=not args.no_plots, batch_size=args.batch_size
    )
    summary = {task: entry["mean"] for task, entry in report.items()}
    print(json.dumps({"output": str(args.output), "mean": summary}, indent=2))
    return report


def main(argv=None):
    """Stand-alone entry point: `python -m keras_mpcl.evaluation.cli ...`."""
    parser = add_evaluate_arguments(
        argparse.ArgumentParser(prog="keras-mpcl evaluate", description=__doc__)
    )
    run_evaluate(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
