"""Benchmark: peak memory and throughput of streaming line-aligned corpora.

Generates two synthetic 8-language line-aligned corpora (50,000 and 5,000,000
lines by default) in a temporary folder, deleted afterwards. For each, a fresh
child process (so that each peak is its own) builds a
`StreamingTranslationGroups` (one chunked scan of the files) and runs
`group_dataset` alone, without a model. It records:

- the peak resident memory (`ru_maxrss`) of the child after imports, after the
  scan and after the batches: streaming should keep it flat as the corpus
  grows 100x;
- batches per second of `group_dataset` (64 groups x 4 rows, shuffled
  windows, random members, collision guard) and, as the baseline measured in
  the same child, of plain `tf.data.TextLineDataset`s zipped and batched by 64
  lines (reading alone), in alternating rounds (medians reported); their
  ratio is the cost of grouping and sampling.

A third child reads the small corpus into memory (`TranslationGroups`) for
comparison. Figures are printed and written to
`benchmarks/results/data_pipeline.json`.

    python benchmarks/data_pipeline.py                  # 50k and 5M lines
    python benchmarks/data_pipeline.py --lines 50000 500000 --batches 500
"""

import argparse
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "sv")
WORD_BYTES = 24  # random letters and spaces per line
DIGITS = 8  # zero-padded line number: keeps every text unique
CHUNK_LINES = 250_000
GROUPS_PER_BATCH = 64
GROUP_SIZE = 4
ROUNDS = 3
# Batches skipped at the start of each timed round: more than one default
# streaming shuffle window (10,000 groups = 157 batches of 64), so that rounds
# measure the steady state and not a window read during warm-up.
WARMUP = 200
RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "data_pipeline.json"


def generate(folder, num_lines, seed=0):
    """Writes one file per language; every 97th line of a language is blank."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    width = 3 + WORD_BYTES + 1 + DIGITS + 1
    files = {}
    for k, lang in enumerate(LANGUAGES):
        path = folder / f"corpus.{lang}.txt"
        files[lang] = path
        with open(path, "wb") as file:
            for start in range(0, num_lines, CHUNK_LINES):
                index = np.arange(start, min(start + CHUNK_LINES, num_lines))
                rows = np.empty((index.size, width), dtype=np.uint8)
                rows[:, 0:2] = np.frombuffer(lang.encode(), dtype=np.uint8)
                rows[:, 2] = ord(" ")
                words = letters[rng.integers(0, 26, (index.size, WORD_BYTES))]
                words[:, 5::6] = ord(" ")
                rows[:, 3 : 3 + WORD_BYTES] = words
                rows[:, 3 + WORD_BYTES] = ord(" ")
                powers = 10 ** np.arange(DIGITS - 1, -1, -1)
                rows[:, 4 + WORD_BYTES : -1] = (index[:, None] // powers) % 10 + ord(
                    "0"
                )
                rows[:, -1] = ord("\n")
                rows[(index + k) % 97 == 0, :-1] = ord(" ")
                file.write(rows.tobytes())
    return files


def _peak_mib():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(folder, num_batches, in_memory):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    from keras_mpcl.data import StreamingTranslationGroups
    from keras_mpcl.data import TranslationGroups
    from keras_mpcl.data import group_dataset

    files = {lang: pathlib.Path(folder) / f"corpus.{lang}.txt" for lang in LANGUAGES}
    result = {"peak_mib_after_imports": _peak_mib()}
    start = time.perf_counter()
    if in_memory:
        groups = TranslationGroups.from_aligned_files(files)
    else:
        groups = StreamingTranslationGroups(files, verbose=False)
    result["read_seconds"] = time.perf_counter() - start
    result["peak_mib_after_read"] = _peak_mib()

    def timed(iterator, count):
        start = time.perf_counter()
        for _ in range(count):
            next(iterator)
        return count / (time.perf_counter() - start)

    # Baseline: the same files read and batched by tf.data alone.
    lines = tf.data.Dataset.zip(
        tuple(tf.data.TextLineDataset(str(files[lang])) for lang in LANGUAGES)
    )
    baseline = lines.map(lambda *t: tf.stack(t)).repeat().batch(GROUPS_PER_BATCH)
    dataset = group_dataset(
        groups,
        groups_per_batch=GROUPS_PER_BATCH,
        group_size=GROUP_SIZE,
        seed=0,
        epochs=None,
    )
    datasets = {"baseline": baseline.prefetch(tf.data.AUTOTUNE), "pipeline": dataset}
    # The machine is shared: alternate short rounds and keep the medians, so
    # that load changes hit both sides alike. Each round uses a fresh iterator,
    # deleted after it, so that no prefetching runs behind the other's timing.
    rates = {name: [] for name in datasets}
    for _ in range(ROUNDS):
        for name, data in datasets.items():
            iterator = iter(data)
            timed(iterator, WARMUP)
            rates[name].append(timed(iterator, max(1, num_batches // ROUNDS)))
            del iterator
    result["baseline_batches_per_second"] = float(np.median(rates["baseline"]))
    result["pipeline_batches_per_second"] = float(np.median(rates["pipeline"]))
    result["pipeline_vs_baseline_per_round"] = [
        p / b for p, b in zip(rates["pipeline"], rates["baseline"])
    ]
    result["peak_mib_after_batches"] = _peak_mib()
    result["groups"] = len(groups)
    print(json.dumps(result))


def run_child(folder, num_batches, in_memory=False):
    command = [
        sys.executable,
        __file__,
        "--child",
        str(folder),
        "--batches",
        str(num_batches),
    ]
    if in_memory:
        command.append("--in-memory")
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[50_000, 5_000_000])
    parser.add_argument(
        "--batches",
        type=int,
        default=3000,
        help=f"batches timed per mode, over {ROUNDS} rounds",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--in-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.batches, args.in_memory)
        return

    runs = []
    root = pathlib.Path(tempfile.mkdtemp(prefix="keras_mpcl_bench_"))
    try:
        for num_lines in sorted(args.lines):
            folder = root / str(num_lines)
            folder.mkdir()
            start = time.perf_counter()
            files = generate(folder, num_lines)
            seconds = time.perf_counter() - start
            size = sum(p.stat().st_size for p in files.values()) / 2**20
            print(
                f"generated {num_lines:,} lines x {len(LANGUAGES)} languages "
                f"({size:,.0f} MiB) in {seconds:.1f} s",
                flush=True,
            )
            modes = [False, True] if num_lines == min(args.lines) else [False]
            for in_memory in modes:
                result = run_child(folder, args.batches, in_memory)
                result.update(
                    lines=num_lines,
                    mode="in memory" if in_memory else "streaming",
                    corpus_mib=size,
                    generate_seconds=seconds,
                )
                result["pipeline_vs_baseline"] = float(
                    np.median(result["pipeline_vs_baseline_per_round"])
                )
                runs.append(result)
                print(
                    f"{num_lines:>10,} lines {result['mode']:>10}: peak RSS "
                    f"{result['peak_mib_after_imports']:.0f} MiB after imports, "
                    f"{result['peak_mib_after_read']:.0f} after reading "
                    f"({result['read_seconds']:.1f} s), "
                    f"{result['peak_mib_after_batches']:.0f} after {args.batches} "
                    f"batches; {result['pipeline_batches_per_second']:.0f} batches/s "
                    f"= {result['pipeline_vs_baseline']:.2f}x the reading baseline "
                    f"({result['baseline_batches_per_second']:.0f} batches/s)",
                    flush=True,
                )
            shutil.rmtree(folder)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    streaming = [r for r in runs if r["mode"] == "streaming"]
    small, large = streaming[0], streaming[-1]
    summary = {
        "command": "python benchmarks/data_pipeline.py " + " ".join(sys.argv[1:]),
        "groups_per_batch": GROUPS_PER_BATCH,
        "group_size": GROUP_SIZE,
        "languages": len(LANGUAGES),
        "batches_timed": args.batches,
        "cpu_count": os.cpu_count(),
        "peak_rss_ratio_largest_vs_smallest_streaming": (
            large["peak_mib_after_batches"] / small["peak_mib_after_batches"]
        ),
        "runs": runs,
    }
    print(
        f"peak RSS {large['lines']:,} vs {small['lines']:,} lines (streaming): "
        f"{summary['peak_rss_ratio_largest_vs_smallest_streaming']:.3f}x"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
