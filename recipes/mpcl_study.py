"""MPCL against single-positive CL with the trainer's config keys: a resumable study.

Every arm is `keras_mpcl.training.train` on `recipes/configs/paper_gpu.toml`
with the offline all-MiniLM-L6-v2 and `--set`-style overrides (so each design
choice is a config key a user can set), one fresh process per run, trained
on XNLI-15 (`../shared/data/xnli15`, 9,986 groups in the 15 XNLI languages) or
on NTREX-128 lines 0-1799. Each run is then evaluated on data it never saw:

- NTREX-128 held-out lines 1800-1996, X-English retrieval (mean of both
  directions, %), for the 14 training languages (seen) and Italian,
  Portuguese, Dutch and Polish (unseen: never trained on);
- multilingual STS-B (first `--sts-pairs` pairs per language; Spearman x 100),
  seen languages (de, es, fr, ru, zh, en) and unseen (it, nl, pl, pt).

Runs train into `runs/mpcl_study/` (encoders, logs; not committed) and write
`<out>/<data>/<arm>/seed<k>/result.json`; finished runs are skipped,
so the script resumes after an interruption. `--report` gathers every finished
run into `<out>/<data>/results.md` / `results.json` (mean and std over seeds)
and a plot.

    KERAS_BACKEND=tensorflow python recipes/mpcl_study.py --data xnli15 \
        --arms cl mpcl_supcon --seeds 0 1 2 --steps 150
"""

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("KERAS_MPCL_SHARED_DATA", ROOT.parent / "shared" / "data"))
CONFIG = ROOT / "recipes" / "configs" / "paper_gpu.toml"
SEEN = ["ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]
UNSEEN = ["it", "pt", "nl", "pl"]
NTREX_CODES = {"en": "eng", "ar": "arb", "bg": "bul", "de": "deu", "el": "ell", "es": "spa",
               "fr": "fra", "hi": "hin", "ru": "rus", "sw": "swa", "th": "tha", "tr": "tur",
               "ur": "urd", "vi": "vie", "zh": "zho-CN", "it": "ita", "pt": "por", "nl": "nld",
               "pl": "pol"}
STS_SEEN = ["en", "de", "es", "fr", "ru", "zh"]
STS_UNSEEN = ["it", "nl", "pl", "pt"]

# Every arm: 128 sentences per step; English is the anchor language in every group.
ARMS = {
    "untrained": None,
    "cl": ["loss.objective=cl"],
    "cl_symmetric": ["loss.objective=cl_symmetric"],
    "mpcl_supcon": ["loss.variant=supcon", "loss.anchors=all"],
    "mpcl_independent_first": ["loss.variant=independent", "loss.anchors=first"],
    "mpcl_independent_bidirectional": ["loss.variant=independent", "loss.anchors=bidirectional"],
    "mpcl_supcon_bidirectional": ["loss.variant=supcon", "loss.anchors=bidirectional"],
}


def _data_overrides(data):
    if data == "xnli15":
        languages = "[" + ", ".join(f'"{code}"' for code in ["en"] + SEEN) + "]"
        return ["data.source=aligned_dir", f"data.path={SHARED / 'xnli15'}",
                'data.pattern="xnli15.{lang}.txt"', f"data.languages={languages}",
                "data.held_out_languages=[]", "data.held_out_range=[]", "data.held_out=0"]
    table = "{" + ", ".join(f'{k} = "{NTREX_CODES[k]}"' for k in ["en"] + SEEN) + "}"
    return ["data.source=ntrex", f"data.path={SHARED / 'ntrex128'}",
            f"data.languages={table}", "data.held_out_languages=[]",
            "data.held_out_range=[1800, 1997]", "data.held_out=0"]


SIB_CODES = {"en": "eng_Latn", "ar": "arb_Arab", "bg": "bul_Cyrl", "de": "deu_Latn",
             "el": "ell_Grek", "es": "spa_Latn", "fr": "fra_Latn", "hi": "hin_Deva",
             "ru": "rus_Cyrl", "sw": "swh_Latn", "th": "tha_Thai", "tr": "tur_Latn",
             "ur": "urd_Arab", "vi": "vie_Latn", "zh": "zho_Hans", "it": "ita_Latn",
             "pt": "por_Latn", "nl": "nld_Latn", "pl": "pol_Latn"}


def _retrieval(queries, documents):
    """Mean of both directions' top-1 accuracy (%) of aligned, L2-normalised rows."""
    similarity = queries @ documents.T
    positions = np.arange(len(queries))
    forward = (similarity.argmax(axis=1) == positions).mean()
    backward = (similarity.argmax(axis=0) == positions).mean()
    return float(50.0 * (forward + backward))


def _ntrex_embeddings(encode):
    from keras_mpcl.evaluation import read_ntrex

    texts = read_ntrex(SHARED / "ntrex128", languages=[NTREX_CODES[k] for k in NTREX_CODES])
    return {lang: encode(texts[code]) for lang, code in NTREX_CODES.items()}


def _x_english(embeddings):
    retrieval = {lang: _retrieval(embeddings[lang], embeddings["en"]) for lang in SEEN + UNSEEN}
    return retrieval, {"retrieval_seen": statistics.mean(retrieval[k] for k in SEEN),
                       "retrieval_unseen": statistics.mean(retrieval[k] for k in UNSEEN)}


def _evaluate(encoder, sts_pairs):
    """Every held-out score of one encoder (see the module docstring)."""
    from keras_mpcl.evaluation import LabelledTexts
    from keras_mpcl.evaluation import as_encode_fn
    from keras_mpcl.evaluation import classification_transfer
    from keras_mpcl.evaluation import read_sib200
    from keras_mpcl.evaluation import read_sts17
    from keras_mpcl.evaluation import sts
    from keras_mpcl.evaluation.sts import read_stsb_multi_mt

    encode = as_encode_fn(encoder, batch_size=64)
    metrics = {}
    ntrex = _ntrex_embeddings(encode)
    metrics["retrieval_x_en"], means = _x_english(ntrex)
    metrics.update(means)
    # X-Y: every ordered pair of non-English languages, both seen / at least one unseen.
    pairs = {f"{a}-{b}": _retrieval(ntrex[a], ntrex[b])
             for a in SEEN + UNSEEN for b in SEEN + UNSEEN if a < b}
    metrics["retrieval_x_y"] = pairs
    metrics["retrieval_xy_seen"] = statistics.mean(
        v for k, v in pairs.items() if all(lang in SEEN for lang in k.split("-")))
    metrics["retrieval_xy_unseen"] = statistics.mean(
        v for k, v in pairs.items() if any(lang in UNSEEN for lang in k.split("-")))

    sib_test = read_sib200(SHARED / "sib200", "test", languages=list(SIB_CODES.values()))
    sib_train = read_sib200(SHARED / "sib200", "train", languages=["eng_Latn"])["eng_Latn"]
    order = {lang: np.argsort(sib_test[code].ids) for lang, code in SIB_CODES.items()}
    sib = {lang: encode([sib_test[SIB_CODES[lang]].texts[i] for i in order[lang]])
           for lang in SIB_CODES}
    sib_retrieval = {lang: _retrieval(sib[lang], sib["en"]) for lang in SEEN + UNSEEN}
    metrics["sib_retrieval"] = sib_retrieval
    metrics["sib_retrieval_seen"] = statistics.mean(sib_retrieval[k] for k in SEEN)
    metrics["sib_retrieval_unseen"] = statistics.mean(sib_retrieval[k] for k in UNSEEN)
    topics = classification_transfer(
        encode, LabelledTexts(sib_train.texts, sib_train.labels),
        {lang: sib_test[SIB_CODES[lang]] for lang in SEEN + UNSEEN})["per_language"]
    metrics["sib_topic"] = {lang: 100.0 * value for lang, value in topics.items()}
    metrics["sib_topic_seen"] = statistics.mean(metrics["sib_topic"][k] for k in SEEN)
    metrics["sib_topic_unseen"] = statistics.mean(metrics["sib_topic"][k] for k in UNSEEN)

    stsb = read_stsb_multi_mt(SHARED / "stsb_multi_mt", languages=STS_SEEN + STS_UNSEEN)
    sts_scores = {}
    for lang, (first, second, gold) in stsb.items():
        result = sts(encode, first[:sts_pairs], second[:sts_pairs], gold[:sts_pairs])
        sts_scores[lang] = 100.0 * result["spearman"]
    metrics["stsb"] = sts_scores
    metrics["stsb_seen"] = statistics.mean(sts_scores[lang] for lang in STS_SEEN)
    metrics["stsb_unseen"] = statistics.mean(sts_scores[lang] for lang in STS_UNSEEN)
    # Every STS17 track pairs languages trained on (ar, en, es, tr): seen only.
    sts17 = {track: 100.0 * sts(encode, *pairs_and_gold)["spearman"]
             for track, pairs_and_gold in read_sts17(SHARED / "sts17").items()}
    metrics["sts17"] = sts17
    metrics["sts17_seen"] = statistics.mean(sts17.values())
    return metrics


def _learning_curve(steps_per_epoch):
    """A Keras callback: NTREX X-English retrieval after every epoch of `steps_per_epoch` steps.

    Its `train_seconds` leave out the time spent evaluating, so curves against
    seconds compare arms at equal training time.
    """
    import keras

    from keras_mpcl.evaluation import as_encode_fn

    class LearningCurve(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.records = []

        def on_train_begin(self, logs=None):
            self.start, self.evaluating = time.perf_counter(), 0.0

        def on_epoch_end(self, epoch, logs=None):
            begin = time.perf_counter()
            _, means = _x_english(_ntrex_embeddings(as_encode_fn(self.model, batch_size=64)))
            self.records.append({"step": (epoch + 1) * steps_per_epoch,
                                 "train_seconds": begin - self.start - self.evaluating,
                                 "loss": float((logs or {}).get("loss", float("nan"))),
                                 **means})
            self.evaluating += time.perf_counter() - begin
            print(f"curve: {self.records[-1]}", flush=True)

    return LearningCurve()


def run_one(args):
    """Trains and evaluates one (arm, seed) in this process; writes result.json."""
    from keras_mpcl.models import build_encoder
    from keras_mpcl.models import offline_minilm_path
    from keras_mpcl.training import load_config
    from keras_mpcl.training import train

    out = _run_folder(args.out, args.data, args.steps, args.run, args.seed)
    run_dir = ROOT / "runs" / "mpcl_study" / args.data / f"steps{args.steps}" / args.run
    run_dir = run_dir / f"seed{args.seed}"
    # A run cut off before its result.json starts again: its learning curve must be whole.
    shutil.rmtree(run_dir, ignore_errors=True)
    start = time.perf_counter()
    curve = []
    if ARMS[args.run] is None:
        encoder, steps, train_seconds = build_encoder(offline_minilm_path(), max_length=64), 0, 0.0
    else:
        every = args.steps // args.curve_points
        callback = _learning_curve(every)
        overrides = _data_overrides(args.data) + ARMS[args.run] + [
            f"encoder.source={offline_minilm_path()}", "encoder.max_length=64",
            f"train.steps={args.steps}", f"train.checkpoint_every={every}",
            f"train.seed={args.seed}", "train.precision=float32", "train.jit_compile=false",
            "train.length_buckets=4", "train.verbose=2", "train.tensorboard=false",
            f"optimizer.learning_rate={args.learning_rate}", "data.batch_size=128",
            "data.groups_per_batch=0", "eval.before_after=false", "eval.plot=false",
            "data.anchor_language=en",
        ]
        result = train(load_config(CONFIG, overrides), run_dir, callbacks=[callback])
        encoder, steps, curve = result.encoder, args.steps, callback.records
        train_seconds = curve[-1]["train_seconds"]
    metrics = _evaluate(encoder, args.sts_pairs)
    metrics.update(arm=args.run, seed=args.seed, data=args.data, steps=steps,
                   train_seconds=train_seconds, seconds=time.perf_counter() - start, curve=curve,
                   learning_rate=args.learning_rate, overrides=ARMS[args.run])
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"{args.run} seed {args.seed}: retrieval seen {metrics['retrieval_seen']:.2f} "
          f"unseen {metrics['retrieval_unseen']:.2f}, STS-B seen {metrics['stsb_seen']:.1f} "
          f"unseen {metrics['stsb_unseen']:.1f}", flush=True)


METRICS = {  # result key: table column
    "retrieval_seen": "NTREX X-en seen", "retrieval_unseen": "X-en unseen",
    "retrieval_xy_seen": "NTREX X-Y seen", "retrieval_xy_unseen": "X-Y unseen",
    "sib_retrieval_seen": "SIB X-en seen", "sib_retrieval_unseen": "SIB X-en unseen",
    "sib_topic_seen": "SIB topic seen", "sib_topic_unseen": "SIB topic unseen",
    "stsb_seen": "STS-B seen", "stsb_unseen": "STS-B unseen", "sts17_seen": "STS17",
}


def _run_folder(out, data, steps, arm, seed):
    return pathlib.Path(out) / data / f"steps{steps}" / arm / f"seed{seed}"


def _mean_std(values):
    return [statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0]


def report(out, data, steps):
    """Mean ± std over seeds of every finished run: results.md / .json / .png, curves.png."""
    folder = pathlib.Path(out) / data / f"steps{steps}"
    rows = {}
    for path in sorted(folder.glob("*/seed*/result.json")):
        result = json.loads(path.read_text())
        rows.setdefault(result["arm"], []).append(result)
    summary = {}
    for arm in [a for a in ARMS if a in rows]:
        results = rows[arm]
        summary[arm] = {"seeds": sorted(r["seed"] for r in results), "steps": results[0]["steps"],
                        "train_seconds": _mean_std([r["train_seconds"] for r in results])}
        for key in METRICS:  # runs from before a metric was added lack it
            values = [r[key] for r in results if key in r]
            if values:
                summary[arm][key] = _mean_std(values)
    if not summary:
        print(f"No finished runs under {folder}")
        return
    lines = ["| arm | seeds | " + " | ".join(METRICS.values()) + " | train s |",
             "|---|---|" + "---|" * len(METRICS) + "---|"]
    for arm, s in summary.items():
        spread = len(s["seeds"]) > 1  # no spread to show for one seed
        cells = " | ".join(
            (f"{s[k][0]:.2f}" + (f" ± {s[k][1]:.2f}" if spread else "")) if k in s else "-"
            for k in METRICS)
        lines.append(f"| {arm} | {len(s['seeds'])} | {cells} | {s['train_seconds'][0]:.0f} |")
    (folder / "results.md").write_text("\n".join(lines) + "\n")
    (folder / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\n".join(lines))
    try:
        _plot(folder, summary, rows)
    except Exception as error:  # the tables above are the result; a plot is extra
        print(f"No plot written ({type(error).__name__}: {error})")


def _plot(folder, summary, rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in METRICS if any(k in s for s in summary.values())]
    columns = 4
    fig, axes = plt.subplots((len(keys) + columns - 1) // columns, columns,
                             figsize=(4 * columns, 3 * ((len(keys) + columns - 1) // columns)),
                             squeeze=False)
    for ax, key in zip(axes.flat, keys):
        names = [a for a in summary if key in summary[a]]
        values = [summary[a][key][0] for a in names]
        ax.barh(names, values, xerr=[summary[a][key][1] for a in names], color="tab:blue")
        ax.set_xlim(min(values) - 2, max(values) + 1)  # the differences are small
        ax.set_title(METRICS[key])
        ax.invert_yaxis()
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(folder / "results.png", dpi=100)
    plt.close(fig)

    curves = {arm: [r["curve"] for r in results if r.get("curve")]
              for arm, results in rows.items()}
    curves = {arm: c for arm, c in curves.items() if c}
    if not curves:
        return
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharey="row")
    for arm, runs in curves.items():
        points = min(len(run) for run in runs)
        for row, key in enumerate(["retrieval_seen", "retrieval_unseen"]):
            score = np.mean([[p[key] for p in run[:points]] for run in runs], axis=0)
            steps = [p["step"] for p in runs[0][:points]]
            seconds = np.mean([[p["train_seconds"] for p in run[:points]] for run in runs], axis=0)
            axes[row, 0].plot(steps, score, marker="o", label=f"{arm} ({len(runs)} seeds)")
            axes[row, 1].plot(seconds, score, marker="o", label=arm)
            axes[row, 0].set_ylabel(f"NTREX {METRICS[key]} (%)")
    axes[1, 0].set_xlabel("training steps")
    axes[1, 1].set_xlabel("training seconds (evaluation excluded)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "curves.png", dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=("xnli15", "ntrex"), default="xnli15")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--curve-points", type=int, default=4,
                        help="evaluations during training (learning curve); divides --steps")
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--sts-pairs", type=int, default=300)
    parser.add_argument("--out", default=str(ROOT / "recipes" / "results" / "mpcl_study"))
    parser.add_argument("--report", action="store_true", help="only gather finished runs")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.report and args.steps % args.curve_points:
        parser.error(f"--curve-points ({args.curve_points}) should divide --steps ({args.steps})")
    if args.run:
        return run_one(args)
    if not args.report:
        for seed in args.seeds:
            for arm in args.arms:
                if arm == "untrained" and seed != args.seeds[0]:
                    continue
                done = _run_folder(args.out, args.data, args.steps, arm, seed) / "result.json"
                if done.exists():
                    print(f"{arm} seed {seed}: done, skipped", flush=True)
                    continue
                command = [sys.executable, __file__, "--run", arm, "--seed", str(seed),
                           "--data", args.data, "--steps", str(args.steps),
                           "--curve-points", str(args.curve_points),
                           "--learning-rate", str(args.learning_rate),
                           "--sts-pairs", str(args.sts_pairs), "--out", args.out]
                subprocess.run(command, check=True)
                report(args.out, args.data, args.steps)
    report(args.out, args.data, args.steps)


if __name__ == "__main__":
    main()
