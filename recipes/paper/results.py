"""The runs so far (`runs.jsonl`) summarised: tables, plots, the best group size."""

import json
import logging
import math

import numpy as np

from .settings import METRICS

logger = logging.getLogger("reproduce_paper")


def read_runs(path, key):
    runs = []
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                run = json.loads(line)
                if run.get("settings") == key:
                    runs.append(run)
    return runs


def summarize(runs):
    """Mean, sample standard deviation and count of each metric per arm."""
    by_arm = {}
    for run in runs:
        by_arm.setdefault(run["arm"], []).append(run)
    summary = {}
    for arm, items in by_arm.items():
        row = {"seeds": sorted(r["seed"] for r in items)}
        for key, _ in METRICS + (("dev_ntrex", ""),):
            values = [r["metrics"][key] for r in items
                      if key in r["metrics"] and not math.isnan(r["metrics"][key])]
            if values:
                row[key] = {"mean": float(np.mean(values)),
                            "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                            "n": len(values)}
        row["train_seconds"] = float(np.mean([r["train_seconds"] for r in items]))
        summary[arm] = row
    return summary


def arm_order(summary):
    first = ["untrained", "cl", "st-mnrl"]
    rest = sorted(a for a in summary if a not in first)
    return [a for a in first if a in summary] + rest


def write_tables(summary, args, out, best_group_size):
    order = arm_order(summary)
    head = "| arm | seeds | " + " | ".join(label for _, label in METRICS) + " |"
    lines = [head, "|" + "---|" * (len(METRICS) + 2)]
    csv_lines = ["arm,seeds," + ",".join(f"{k}_mean,{k}_std" for k, _ in METRICS)]
    for arm in order:
        row = summary[arm]
        cells, csv_cells = [], []
        for key, _ in METRICS:
            if key in row:
                m, s = 100 * row[key]["mean"], 100 * row[key]["std"]
                cells.append(f"{m:.1f}" if arm == "untrained" else f"{m:.1f} ± {s:.1f}")
                csv_cells.append(f"{m:.3f},{s:.3f}")
            else:
                cells.append("—")
                csv_cells.append(",")
        lines.append(f"| {arm} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
        csv_lines.append(f"{arm},{len(row['seeds'])}," + ",".join(csv_cells))
    note = (
        f"\nScores x100, mean ± sample std over seeds. Retrieval: top-1 accuracy, "
        f"many-to-many; seen = pairs of training languages, unseen = pairs with "
        f"it/pt/nl/pl on one side. SIB cls.: accuracy of a logistic regression "
        f"trained on English. STS: Spearman x100. Settings: {args.steps} steps, "
        f"{args.batch} sentences per batch, max length {args.max_length}, lr {args.lr}, "
        f"temperature {args.temperature}. Best group size (dev NTREX retrieval): "
        f"{best_group_size}.\n"
    )
    (out / "results.md").write_text("\n".join(lines) + "\n" + note)
    (out / "results.csv").write_text("\n".join(csv_lines) + "\n")
    payload = {"settings": {k: str(v) for k, v in vars(args).items()},
               "best_group_size": best_group_size, "arms": summary}
    (out / "results.json").write_text(json.dumps(payload, indent=2, sort_keys=True))


def write_plots(summary, runs, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = arm_order(summary)
    fig, axes = plt.subplots(3, 3, figsize=(14, 10))
    for ax, (key, label) in zip(axes.flat, METRICS):
        means = [100 * summary[a][key]["mean"] if key in summary[a] else np.nan for a in order]
        stds = [100 * summary[a][key]["std"] if key in summary[a] else 0 for a in order]
        colors = ["grey" if a == "untrained" else "tab:orange" if a in ("cl", "st-mnrl")
                  else "tab:blue" for a in order]
        ax.bar(range(len(order)), means, yerr=stds, color=colors, capsize=3)
        ax.set_xticks(range(len(order)), order, rotation=45, ha="right", fontsize=8)
        ax.set_title(label, fontsize=10)
        finite = [m for m in means if not np.isnan(m)]
        if finite:
            ax.set_ylim(min(finite) - 5, max(finite) + 5)
    fig.suptitle("MPCL (blue) vs single-positive CL / sentence-transformers (orange), "
                 "untrained MiniLM (grey); mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(out / "results.png", dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    for arm in order:
        curves = [r["losses"] for r in runs if r["arm"] == arm and r.get("losses")]
        if curves:
            length = min(len(c) for c in curves)
            ax.plot(np.mean([c[:length] for c in curves], axis=0), label=arm)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (mean over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=90)
    plt.close(fig)


def best_group_size_from(runs, group_sizes, seeds):
    """Group size of the supcon arm with the best mean dev retrieval over `seeds`."""
    scores = {}
    for g in group_sizes:
        values = [r["metrics"].get("dev_ntrex") for r in runs
                  if r["arm"] == f"supcon-g{g}" and r["seed"] in seeds]
        values = [v for v in values if v is not None]
        if len(values) < len(seeds):
            return None
        scores[g] = float(np.mean(values))
    logger.info("dev NTREX retrieval of supcon by group size: %s", scores)
    return max(scores, key=scores.get)
