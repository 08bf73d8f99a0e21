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
import statistics
import subprocess
import sys
import time

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


def _evaluate(encoder, sts_pairs):
    from keras_mpcl.evaluation import as_encode_fn
    from keras_mpcl.evaluation import read_ntrex
    from keras_mpcl.evaluation import sts
    from keras_mpcl.evaluation.sts import read_stsb_multi_mt

    encode = as_encode_fn(encoder, batch_size=64)
    codes = {lang: NTREX_CODES[lang] for lang in ["en"] + SEEN + UNSEEN}
    texts = read_ntrex(SHARED / "ntrex128", languages=list(codes.values()))
    english = encode(texts["eng"])
    retrieval = {}
    for lang in SEEN + UNSEEN:
        other = encode(texts[codes[lang]])
        similarity = other @ english.T
        forward = float((similarity.argmax(axis=1) == range(len(english))).mean())
        backward = float((similarity.argmax(axis=0) == range(len(english))).mean())
        retrieval[lang] = 50.0 * (forward + backward)
    stsb = read_stsb_multi_mt(SHARED / "stsb_multi_mt", languages=STS_SEEN + STS_UNSEEN)
    sts_scores = {}
    for lang, (first, second, gold) in stsb.items():
        result = sts(encode, first[:sts_pairs], second[:sts_pairs], gold[:sts_pairs])
        sts_scores[lang] = 100.0 * result["spearman"]
    return {
        "retrieval_x_en": retrieval,
        "retrieval_seen": statistics.mean(retrieval[lang] for lang in SEEN),
        "retrieval_unseen": statistics.mean(retrieval[lang] for lang in UNSEEN),
        "stsb": sts_scores,
        "stsb_seen": statistics.mean(sts_scores[lang] for lang in STS_SEEN),
        "stsb_unseen": statistics.mean(sts_scores[lang] for lang in STS_UNSEEN),
    }


def run_one(args):
    """Trains and evaluates one (arm, seed) in this process; writes result.json."""
    from keras_mpcl.models import build_encoder
    from keras_mpcl.models import offline_minilm_path
    from keras_mpcl.training import load_config
    from keras_mpcl.training import train

    out = pathlib.Path(args.out) / args.data / args.run / f"seed{args.seed}"
    run_dir = ROOT / "runs" / "mpcl_study" / args.data / args.run / f"seed{args.seed}"
    start = time.perf_counter()
    if ARMS[args.run] is None:
        encoder, steps, train_seconds = build_encoder(offline_minilm_path(), max_length=64), 0, 0.0
    else:
        overrides = _data_overrides(args.data) + ARMS[args.run] + [
            f"encoder.source={offline_minilm_path()}", "encoder.max_length=64",
            f"train.steps={args.steps}", f"train.checkpoint_every={args.steps}",
            f"train.seed={args.seed}", "train.precision=float32", "train.jit_compile=false",
            "train.length_buckets=4", "train.verbose=2", "train.tensorboard=false",
            f"optimizer.learning_rate={args.learning_rate}", "data.batch_size=128",
            "data.groups_per_batch=0", "eval.before_after=false", "eval.plot=false",
            "data.anchor_language=en",
        ]
        result = train(load_config(CONFIG, overrides), run_dir)
        encoder, steps, train_seconds = result.encoder, args.steps, result.seconds
    metrics = _evaluate(encoder, args.sts_pairs)
    metrics.update(arm=args.run, seed=args.seed, data=args.data, steps=steps,
                   train_seconds=train_seconds, seconds=time.perf_counter() - start,
                   learning_rate=args.learning_rate, overrides=ARMS[args.run])
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"{args.run} seed {args.seed}: retrieval seen {metrics['retrieval_seen']:.2f} "
          f"unseen {metrics['retrieval_unseen']:.2f}, STS-B seen {metrics['stsb_seen']:.1f} "
          f"unseen {metrics['stsb_unseen']:.1f}", flush=True)


def report(out, data):
    """Mean ± std over seeds of every finished run: results.md, results.json, results.png."""
    folder = pathlib.Path(out) / data
    rows = {}
    for path in sorted(folder.glob("*/seed*/result.json")):
        result = json.loads(path.read_text())
        rows.setdefault(result["arm"], []).append(result)
    keys = ["retrieval_seen", "retrieval_unseen", "stsb_seen", "stsb_unseen", "train_seconds"]
    summary = {}
    for arm in [a for a in ARMS if a in rows]:
        results = rows[arm]
        summary[arm] = {"seeds": sorted(r["seed"] for r in results),
                        "steps": results[0]["steps"]}
        for key in keys:
            values = [r[key] for r in results]
            summary[arm][key] = [statistics.mean(values),
                                 statistics.stdev(values) if len(values) > 1 else 0.0]
    lines = [f"| arm | seeds | steps | NTREX X-en seen | unseen | STS-B seen | unseen | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for arm, s in summary.items():
        spread = len(s["seeds"]) > 1  # no spread to show for one seed
        cells = " | ".join(f"{s[k][0]:.2f}" + (f" ± {s[k][1]:.2f}" if spread else "")
                           for k in keys[:4])
        lines.append(f"| {arm} | {len(s['seeds'])} | {s['steps']} | {cells} | "
                     f"{s['train_seconds'][0]:.0f} |")
    (folder / "results.md").write_text("\n".join(lines) + "\n")
    (folder / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\n".join(lines))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 4, figsize=(16, 4))
        names = list(summary)
        for ax, key in zip(axes, keys[:4]):
            values = [summary[a][key][0] for a in names]
            ax.barh(names, values, xerr=[summary[a][key][1] for a in names], color="tab:blue")
            ax.set_xlim(min(values) - 2, max(values) + 1)  # the differences are small
            ax.set_title(key.replace("_", " "))
            ax.invert_yaxis()
        fig.tight_layout()
        fig.savefig(folder / "results.png", dpi=110)
    except Exception as error:  # the tables above are the result; a plot is extra
        print(f"No plot written ({type(error).__name__}: {error})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=("xnli15", "ntrex"), default="xnli15")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--sts-pairs", type=int, default=300)
    parser.add_argument("--out", default=str(ROOT / "recipes" / "results" / "mpcl_study"))
    parser.add_argument("--report", action="store_true", help="only gather finished runs")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        return run_one(args)
    if not args.report:
        for seed in args.seeds:
            for arm in args.arms:
                if arm == "untrained" and seed != args.seeds[0]:
                    continue
                done = pathlib.Path(args.out) / args.data / arm / f"seed{seed}" / "result.json"
                if done.exists():
                    print(f"{arm} seed {seed}: done, skipped", flush=True)
                    continue
                command = [sys.executable, __file__, "--run", arm, "--seed", str(seed),
                           "--data", args.data, "--steps", str(args.steps),
                           "--learning-rate", str(args.learning_rate),
                           "--sts-pairs", str(args.sts_pairs), "--out", args.out]
                subprocess.run(command, check=True)
                report(args.out, args.data)
    report(args.out, args.data)


if __name__ == "__main__":
    main()
