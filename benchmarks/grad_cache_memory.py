"""Peak memory and throughput of cached (GradCache) training against a plain step of 128 sentences.

all-MiniLM-L6-v2 (the offline folder, `keras_mpcl.models.offline_minilm_path()`)
trains on batches of groups of 4 translations (English, German, French,
Spanish from the packaged sample groups, repeated with other languages when
the batch needs more groups), padded to `--length` tokens (64), with
`MultiPositiveContrastiveLoss`, AdamW and the checkpoint's dropout (0.1), on
the backend `KERAS_BACKEND` names. Arms:

- `uncached 128`, the baseline: the plain Keras step on 128 sentences;
- `cached N`, for each of `--sizes` (128, 512, 2048): `cached_training(encoder,
  mini_batch_size=--mini-batch-size)` (32) on N sentences per step.

Each arm runs in its own subprocess, one after the other: load the model,
tokenize (not timed), `--warmup` steps (compilation), then timed steps of
`train_on_batch` on the token ids: as many as it takes to train on at least
`--timed-sentences` sentences (512: four steps of 128, one of 512 or 2048).
Peak memory is the subprocess's resident-set high-water mark (`ru_maxrss`
at its end: imports and model included); throughput is sentences per second
over the timed steps, by wall time and by the process's CPU time (less
sensitive to other jobs on a shared machine). All are reported as ratios to
the baseline measured in the same run. Every arm uses `--threads` threads (torch intra-op, TensorFlow
intra-op with inter-op 1, the XLA CPU pool, OMP/MKL): on a machine shared with
other jobs, one thread avoids the waits of threads descheduled mid-operation,
which penalise the many small operations of small mini-batches.

    KERAS_BACKEND=jax python benchmarks/grad_cache_memory.py [--sizes 128 512 2048]
        [--mini-batch-size 32] [--timed-sentences 512] [--warmup 1] [--length 64]
        [--threads <all cores>]

Writes `benchmarks/results/grad_cache_memory_<backend>.json`.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

RESULTS = pathlib.Path(__file__).parent / "results"
LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl")
GROUP_SIZE = 4


def _groups_of_texts(rows):
    """`rows` texts in groups of 4 and their group ids, from the packaged sample."""
    from keras_mpcl.data import TranslationGroups

    sample = TranslationGroups.sample()
    columns = {language: sample.texts(language) for language in LANGUAGES}
    texts, ids = [], []
    for group in range(rows // GROUP_SIZE):
        # Beyond the sample's size, later rounds take the next languages.
        start = group // len(sample)
        languages = [LANGUAGES[(start + k) % len(LANGUAGES)] for k in range(GROUP_SIZE)]
        texts += [columns[language][group % len(sample)] for language in languages]
        ids += [group] * GROUP_SIZE
    return texts, ids


def _set_threads(threads):
    import keras

    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(threads)
    import tensorflow as tf  # keras-hub's preprocessing, and the TensorFlow backend

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _worker(rows, mini_batch_size, steps, warmup, length, threads):
    import resource

    import keras
    import numpy as np

    _set_threads(threads)
    from keras_mpcl.losses import MultiPositiveContrastiveLoss
    from keras_mpcl.models import build_encoder
    from keras_mpcl.models import offline_minilm_path
    from keras_mpcl.training import cached_training

    keras.utils.set_random_seed(0)
    encoder = build_encoder(offline_minilm_path(), max_length=length)
    texts, ids = _groups_of_texts(rows)
    x = {name: np.asarray(value) for name, value in encoder.preprocessor(texts).items()}
    encoder.preprocessor = None  # the step is timed on token ids, not on strings
    encoder.compile(optimizer=keras.optimizers.AdamW(2e-5), loss=MultiPositiveContrastiveLoss())
    if mini_batch_size:
        cached_training(encoder, mini_batch_size)
    y = np.asarray(ids, "int32")
    loaded_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for _ in range(warmup):
        encoder.train_on_batch(x, y)
    start, cpu_start = time.perf_counter(), time.process_time()
    losses = [float(encoder.train_on_batch(x, y)) for _ in range(steps)]
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    # The high-water mark of this process: imports, model and training.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds_per_step": seconds / steps,
                      "sentences_per_second": rows * steps / seconds,
                      "sentences_per_cpu_second": rows * steps / cpu_seconds,
                      "peak_rss_mb": peak_mb, "peak_rss_mb_before_training": loaded_mb,
                      "losses": losses}))


def _run_arm(args, rows, mini_batch_size):
    steps = -(-args.timed_sentences // rows)
    command = [sys.executable, __file__, "--worker", str(rows), str(mini_batch_size),
               "--steps", str(steps), "--warmup", str(args.warmup),
               "--length", str(args.length), "--threads", str(args.threads)]
    threads = str(args.threads)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS=threads,
               MKL_NUM_THREADS=threads,
               XLA_FLAGS=(os.environ.get("XLA_FLAGS", "")
                          + f" --xla_cpu_multi_thread_eigen={str(args.threads > 1).lower()}"
                          + f" intra_op_parallelism_threads={threads}").strip())
    start = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, env=env)
    if process.returncode:
        raise SystemExit(f"arm rows={rows} mini_batch_size={mini_batch_size} failed:\n"
                         f"{process.stderr[-3000:]}")
    result = json.loads(process.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - start
    result["timed_steps"] = steps
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs=2, type=int, metavar=("ROWS", "MINI_BATCH_SIZE"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 512, 2048])
    parser.add_argument("--baseline", type=int, default=128)
    parser.add_argument("--mini-batch-size", type=int, default=32)
    parser.add_argument("--timed-sentences", type=int, default=512)
    parser.add_argument("--steps", type=int, default=1, help=argparse.SUPPRESS)  # worker
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker, args.steps, args.warmup, args.length, args.threads)
        return
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    arms = [("uncached", args.baseline, 0)] + [
        ("cached", rows, args.mini_batch_size) for rows in args.sizes
    ]
    load_before = os.getloadavg()
    runs = []
    for mode, rows, mini_batch_size in arms:
        result = _run_arm(args, rows, mini_batch_size)
        runs.append(dict(result, mode=mode, rows=rows, mini_batch_size=mini_batch_size or None))
        print(f"{mode} {rows}: {result}", flush=True)
    baseline = runs[0]
    for run in runs:
        run["peak_rss_vs_baseline"] = run["peak_rss_mb"] / baseline["peak_rss_mb"]
        for measure in ("sentences_per_second", "sentences_per_cpu_second"):
            run[f"{measure}_vs_baseline"] = run[measure] / baseline[measure]
    print(f"\n{backend}: all-MiniLM-L6-v2, {args.length} tokens, {args.threads} thread(s), "
          f">= {args.timed_sentences} timed sentences per arm after {args.warmup} warm-up "
          "step(s)")
    print("| arm | sentences/step | peak RSS (MB) | peak vs uncached 128 | sentences/s "
          "| vs uncached 128 | sentences/CPU-s | vs uncached 128 |")
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        arm = run["mode"] + (f", M = {run['mini_batch_size']}" if run["mini_batch_size"] else "")
        print(f"| {arm} | {run['rows']} | {run['peak_rss_mb']:,.0f} "
              f"| {run['peak_rss_vs_baseline']:.2f}x | {run['sentences_per_second']:.1f} "
              f"| {run['sentences_per_second_vs_baseline']:.2f}x "
              f"| {run['sentences_per_cpu_second']:.1f} "
              f"| {run['sentences_per_cpu_second_vs_baseline']:.2f}x |")
    RESULTS.mkdir(exist_ok=True)
    output = RESULTS / f"grad_cache_memory_{backend}.json"
    output.write_text(json.dumps({
        "backend": backend, "model": "all-MiniLM-L6-v2", "length": args.length,
        "timed_sentences": args.timed_sentences, "warmup": args.warmup,
        "threads": args.threads, "group_size": GROUP_SIZE,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "runs": runs,
    }, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
