"""Peak memory and speed of chunked bitext mining against a full-matrix baseline.

Each measurement runs in its own subprocess so that its peak resident set size
(RSS high-water mark, `getrusage(RUSAGE_SELF).ru_maxrss`) is its own. Mining is
`keras_mpcl.evaluation.mining.mine` (ratio margin, k=4, both directions, one
pass over 64 MiB similarity tiles). The baseline builds the whole float32
similarity matrix, takes the top-k of its rows and columns with
`np.argpartition`, then runs the same margin scoring and greedy selection. The
full matrix at 100,000 x 100,000 would take 40 GB, so speed is compared at
20,000 x 20,000 (1.6 GB matrix), where both fit, in the same run on the same
inputs. faiss (`IndexFlatIP`) is measured when importable. Children run with
`KERAS_BACKEND=numpy`; `rss_before_mining_mib` is the process after imports and
data generation, so the mining's own share is the difference.

    python benchmarks/mining_memory.py            # 100k chunked + 20k comparison
    python benchmarks/mining_memory.py --large 30000 --compare 5000   # quicker

Writes benchmarks/results/mining_memory.json.
"""

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import time

DIM = 384
K = 4
RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "mining_memory.json"


def _embeddings(n, seed=0):
    """Unit-norm sources and noisy, shuffled "translations" of them."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, DIM), dtype="float32")
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    perm = rng.permutation(n)
    y = x[perm] + 0.7 * rng.standard_normal((n, DIM), dtype="float32") / np.sqrt(DIM)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    gold_target_of_source = np.empty(n, dtype="int64")
    gold_target_of_source[perm] = np.arange(n)
    return x, y, gold_target_of_source


def _full_matrix_neighbours(x, y, k):
    import numpy as np

    sim = x @ y.T
    fi = np.argpartition(sim, sim.shape[1] - k, axis=1)[:, -k:]
    fs = np.take_along_axis(sim, fi, axis=1)
    bi = np.argpartition(sim, sim.shape[0] - k, axis=0)[-k:, :].T
    bs = np.take_along_axis(sim.T, bi, axis=1)
    return fs, fi, bs, bi


def _child(mode, n):
    """Runs one measurement; prints a JSON line."""
    import numpy as np

    from keras_mpcl.evaluation import mining

    x, y, gold = _embeddings(n)
    rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.perf_counter(), time.process_time()
    if mode == "full":
        src, trg, _ = mining.mine_from_neighbours(*_full_matrix_neighbours(x, y, K))
    else:
        backend = "faiss" if mode == "faiss" else "numpy"
        src, trg, _ = mining.mine(x, y, k=K, backend=backend)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    correct = int(np.sum(gold[src] == trg))
    print(
        json.dumps(
            {
                "mode": mode,
                "n": n,
                "dim": DIM,
                "k": K,
                "wall_s": round(wall, 3),
                "cpu_s": round(cpu, 3),
                "peak_rss_mib": round(peak_kib / 1024, 1),
                "rss_before_mining_mib": round(rss_before_kib / 1024, 1),
                "embeddings_mib": round(2 * x.nbytes / 2**20, 1),
                "mined_pairs": int(len(src)),
                "correct_pairs": correct,
                "pairs_sha": _digest(src, trg),
            }
        )
    )


def _digest(src, trg):
    import hashlib

    import numpy as np

    # The set of mined pairs, independent of the order of equal-score pairs.
    order = np.argsort(src, kind="stable")
    return hashlib.sha1(np.stack([src[order], trg[order]]).tobytes()).hexdigest()[:12]


def _measure(mode, n):
    # Mining is pure NumPy; the numpy Keras backend keeps TensorFlow (about
    # 500 MiB of RSS) out of the measured process, since importing
    # `keras_mpcl` imports Keras.
    env = dict(os.environ, KERAS_BACKEND="numpy", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(n)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} n={n} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--compare", type=int, default=20_000)
    parser.add_argument(
        "--child", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    import importlib.util

    has_faiss = importlib.util.find_spec("faiss") is not None
    runs = {
        "chunked_large": _measure("chunked", args.large),
        "chunked_compare": _measure("chunked", args.compare),
        "full_compare": _measure("full", args.compare),
    }
    if has_faiss:
        runs["faiss_compare"] = _measure("faiss", args.compare)
    chunked, full = runs["chunked_compare"], runs["full_compare"]
    summary = {
        "large_n": args.large,
        "compare_n": args.compare,
        "chunked_large_peak_rss_mib": runs["chunked_large"]["peak_rss_mib"],
        "chunked_large_under_2gb": runs["chunked_large"]["peak_rss_mib"] < 2048,
        "speed_ratio_full_over_chunked_wall": round(
            full["wall_s"] / chunked["wall_s"], 3
        ),
        "speed_ratio_full_over_chunked_cpu": round(full["cpu_s"] / chunked["cpu_s"], 3),
        "memory_ratio_full_over_chunked": round(
            full["peak_rss_mib"] / chunked["peak_rss_mib"], 3
        ),
        "chunked_and_full_mine_identical_pairs": chunked["pairs_sha"]
        == full["pairs_sha"],
    }
    if has_faiss:
        faiss_run = runs["faiss_compare"]
        summary["speed_ratio_full_over_faiss_wall"] = round(
            full["wall_s"] / faiss_run["wall_s"], 3
        )
        summary["speed_ratio_chunked_over_faiss_wall"] = round(
            chunked["wall_s"] / faiss_run["wall_s"], 3
        )
    report = {
        "command": " ".join(
            ["python", "benchmarks/mining_memory.py"] + (argv or sys.argv[1:])
        ),
        "summary": summary,
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
