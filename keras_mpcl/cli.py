"""`keras-mpcl train | embed | evaluate`: argument parsing only.

`train` runs `keras_mpcl.training.train` on a config file (default: the
packaged main job) with `--set key=value` overrides; `embed` writes one
L2-normalised embedding per input line to a `.npy` file; `evaluate` runs
the evaluation suite (`keras_mpcl.evaluation.cli`).
"""

import argparse
import dataclasses
import logging
import os
import pathlib
import sys

EXAMPLES = """examples:
  keras-mpcl train                                   # the packaged main job
  keras-mpcl train --config recipes/configs/cpu_smoke.toml --set loss.objective=cl
  keras-mpcl embed --model runs/keras-mpcl/encoder --input sentences.txt --output emb.npy
  keras-mpcl evaluate --model runs/keras-mpcl/encoder --task ntrex=../shared/data/ntrex128 --output report.json
  keras-mpcl export --model runs/keras-mpcl/encoder --format sentence-transformers --output my-model
"""


def _add_train_arguments(parser):
    parser.add_argument(
        "--config", default=None, metavar="FILE",
        help="TOML or YAML training config (default: the packaged main job, "
        "keras_mpcl/configs/default.toml)",
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key, e.g. `--set loss.objective=cl` or "
        "`--set train.steps=200`; repeatable",
    )
    parser.add_argument("--output", default=None, metavar="DIR",
                        help="output directory (overrides `output_dir`)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config and exit")
    parser.add_argument("--list-keys", action="store_true",
                        help="list every config key with its default and exit")


def _add_embed_arguments(parser):
    parser.add_argument("--model", required=True, metavar="PRESET_OR_DIR",
                        help="keras-hub preset name / handle, or a local folder "
                        "(keras-hub preset or Hugging Face format)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="TEXT_FILE",
                        help="UTF-8 text file, one sentence per line")
    source.add_argument("--text", action="append", metavar="TEXT",
                        help="a sentence to embed; repeatable")
    parser.add_argument("--output", required=True, metavar="FILE.npy",
                        help="where to write the (lines, dim) float32 array")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="sentences per forward pass (default: 32)")
    parser.add_argument("--max-length", type=int, default=None,
                        help="maximum tokens per line (default: the checkpoint's)")


def build_parser():
    """The `keras-mpcl` argument parser with its subcommands."""
    from keras_mpcl.evaluation.cli import add_evaluate_arguments
    from keras_mpcl.version import __version__

    parser = argparse.ArgumentParser(
        prog="keras-mpcl",
        description="Multi-positive contrastive learning of multilingual sentence embeddings.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"keras-mpcl {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train_arguments(commands.add_parser(
        "train", help="train an encoder from a config; save it as a keras-hub preset"))
    _add_embed_arguments(commands.add_parser(
        "embed", help="embed texts (one per line) into a .npy file"))
    add_evaluate_arguments(commands.add_parser(
        "evaluate", help="evaluate an encoder on retrieval / STS / classification tasks"))
    _add_export_arguments(commands.add_parser(
        "export", help="write an encoder as a sentence-transformers or keras-hub folder, "
        "with a model card"))
    return parser


def _add_export_arguments(parser):
    parser.add_argument("--model", required=True, metavar="DIR",
                        help="the encoder folder (`keras-mpcl train` writes <output>/encoder)")
    parser.add_argument("--format", default="sentence-transformers",
                        choices=("sentence-transformers", "keras-hub"),
                        help="folder format (default: sentence-transformers)")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder to write")


def run_export(args):
    """Loads `--model` like every command does and writes it in `--format` to `--output`."""
    from keras_mpcl.evaluation.cli import load_encoder
    from keras_mpcl.models import export_encoder

    encoder = load_encoder(args.model)
    model = pathlib.Path(args.model)
    out = export_encoder(encoder, args.output, format=args.format,
                         trained_folder=model if model.is_dir() else None)
    print(f"Wrote a {args.format} folder with its model card to {out}")
    return 0


def run_train(args):
    from keras_mpcl.training import TrainingConfig
    from keras_mpcl.training import load_config
    from keras_mpcl.training import to_toml
    from keras_mpcl.training import train

    if args.list_keys:
        print(TrainingConfig.describe())
        return 0
    config = load_config(args.config, args.overrides)
    if args.output is not None:
        config = dataclasses.replace(config, output_dir=args.output)
    if args.print_config:
        print(to_toml(config), end="")
        return 0
    result = train(config)
    if result.worker_index != 0:  # under torchrun, the first process reports
        return 0
    if result.after is not None:
        print(
            f"Held-out retrieval accuracy: {result.before['mean']:.1%} before, "
            f"{result.after['mean']:.1%} after training "
            f"({100 * (result.after['mean'] - result.before['mean']):+.1f} points)"
        )
    print(f"Trained encoder saved to: {result.preset_dir}")
    print(f"Done in {result.seconds:.0f} s.")
    return 0


def run_embed(args):
    """Streams the input through the encoder into a `.npy` file, one row per line.

    The input is read, tokenized and encoded in chunks and the rows are
    appended to the `.npy` as they come, so memory stays flat for any number
    of lines; the file appears under its name only once complete.
    """
    import os

    import numpy as np

    from keras_mpcl.data.lines import count_lines
    from keras_mpcl.data.lines import iter_line_chunks
    from keras_mpcl.models import build_encoder
    from keras_mpcl.models.encode import TOKENIZE_CHUNK
    from keras_mpcl.models.encode import iter_encoded_chunks
    from keras_mpcl.validation import check_int

    output = pathlib.Path(args.output)
    if output.suffix != ".npy":
        raise ValueError(f"`--output` should end in `.npy`. Received: {output}")
    check_int("--batch-size", args.batch_size)
    if args.input is not None:
        total = count_lines(args.input)
        source = f"{args.input} has no lines"
        chunks = iter_line_chunks(args.input, TOKENIZE_CHUNK)
    else:
        total = len(args.text)
        source = "no `--text` given"
        chunks = iter([list(args.text)])
    if total == 0:
        raise ValueError(f"Nothing to embed: {source}.")
    encoder = build_encoder(args.model, max_length=args.max_length)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    rows, blank, dim = 0, 0, None

    def counted(chunks):
        nonlocal blank
        for chunk in chunks:
            blank += sum(not text.strip() for text in chunk)
            yield chunk

    try:
        # Rows are appended to the file as they come (a memory map would keep
        # the written pages resident), behind a header that knows the shape.
        with open(partial, "wb") as file:
            for embeddings in iter_encoded_chunks(
                encoder, counted(chunks), batch_size=args.batch_size, verbose=1, total=total
            ):
                if dim is None:
                    dim = embeddings.shape[1]
                    np.lib.format.write_array_header_1_0(
                        file, {"descr": "<f4", "fortran_order": False, "shape": (total, dim)}
                    )
                file.write(np.ascontiguousarray(embeddings, dtype="<f4").tobytes())
                rows += len(embeddings)
        if rows != total:
            raise ValueError(
                f"{args.input} had {total} lines when counted and {rows} when read: "
                "it changed during the run. Embed a file that is not being written to."
            )
        os.replace(partial, output)
    finally:
        if partial.exists():
            partial.unlink()
    note = f" ({blank} blank line(s) embedded as empty text)" if blank else ""
    print(f"Wrote {rows} x {dim} embeddings to {output}{note}")
    return 0


def _load_backend_quietly():
    """Imports TensorFlow and Keras with their C++ start-up lines kept off the terminal.

    TensorFlow prints oneDNN / CUDA / absl lines from C++ before its logging
    is configured, so `TF_CPP_MIN_LOG_LEVEL` cannot hide them: the process's
    stderr is pointed at /dev/null for the import (Python errors still
    surface, after it is restored). `--debug` keeps every line.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # CUDA's "failed call to cuInit" too
        import keras  # noqa: F401  (the backend chosen by KERAS_BACKEND)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv=None):
    """Entry point of the `keras-mpcl` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not args.debug:
        _load_backend_quietly()
    from keras_mpcl.data import CorpusFormatError
    from keras_mpcl.training import ConfigError

    try:
        if args.command == "train":
            return run_train(args)
        if args.command == "embed":
            return run_embed(args)
        if args.command == "export":
            return run_export(args)
        from keras_mpcl.evaluation.cli import run_evaluate

        run_evaluate(args)
        return 0
    except (ConfigError, CorpusFormatError, FileNotFoundError, ValueError, TypeError) as error:
        # Bad input: one line naming the problem (library errors say the fix).
        if args.debug:
            raise
        print(f"keras-mpcl {args.command}: error: {error} (--debug shows the traceback)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
