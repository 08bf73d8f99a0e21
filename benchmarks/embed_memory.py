"""Peak memory of `keras-mpcl embed` against the number of input lines: it should stay flat.

A tiny randomly initialised encoder (saved with `save_to_preset`) embeds
files of short lines of growing length, each in a fresh `keras-mpcl embed`
process; the peak RSS of each (`wait4`'s `ru_maxrss`) is reported as a ratio
to the smallest file's, with the time per line. The input is read, tokenized
and encoded in chunks and appended to the `.npy`, so the peak
should not grow with the number of lines.

    python benchmarks/embed_memory.py [--lines 10000 100000 1000000]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

RESULTS = pathlib.Path(__file__).parent / "results" / "embed_memory.json"
WORDS = ("the cat sleeps on a warm mat while dogs run in the park and birds sing "
         "le chat dort sur un tapis chaud pendant que les chiens courent").split()


def _tiny_preset(folder):
    import keras

    from keras_mpcl.models import build_encoder

    keras.utils.set_random_seed(0)
    encoder = build_encoder({"hidden_dim": 32, "num_layers": 1, "num_heads": 2,
                             "intermediate_dim": 64, "vocabulary_size": 200},
                            texts=[" ".join(WORDS)] * 4, max_length=32)
    encoder.save_to_preset(str(folder))


def _write_lines(path, count):
    with open(path, "w", encoding="utf-8") as file:
        for i in range(count):
            start = i % len(WORDS)
            file.write(" ".join(WORDS[start : start + 3 + i % 9]) + f" {i}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="embed_memory_"))
    _tiny_preset(work / "encoder")
    script = pathlib.Path(sys.executable).parent / "keras-mpcl"
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "keras_mpcl.cli"]
    runs = {}
    for count in args.lines:
        lines = work / f"lines_{count}.txt"
        _write_lines(lines, count)
        output = work / f"emb_{count}.npy"
        start = time.perf_counter()
        proc = subprocess.Popen(launcher + ["embed", "--model", str(work / "encoder"),
                                            "--input", str(lines), "--output", str(output),
                                            "--batch-size", "256"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"embed failed on {count} lines")
        import numpy as np

        rows = np.load(output, mmap_mode="r").shape[0]
        assert rows == count, (rows, count)
        runs[count] = {"peak_rss_mb": usage.ru_maxrss / 1024, "seconds": seconds,
                       "output_mb": output.stat().st_size / 2**20}
        lines.unlink()
        output.unlink()
        print(f"{count:>9} lines: peak RSS {runs[count]['peak_rss_mb']:.0f} MB, "
              f"{seconds:.1f} s, .npy {runs[count]['output_mb']:.0f} MB", flush=True)
    base = runs[args.lines[0]]["peak_rss_mb"]
    for count, run in runs.items():
        run["peak_rss_ratio"] = run["peak_rss_mb"] / base
        print(f"{count:>9} lines: peak RSS {run['peak_rss_ratio']:.2f}x that of "
              f"{args.lines[0]} lines")
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
                                  "runs": runs}, indent=2) + "\n")
    print(f"Written to {output}")


if __name__ == "__main__":
    main()
