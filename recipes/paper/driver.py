"""`main`: every arm and seed in turn, each recorded as soon as it is evaluated."""

import json
import logging
import sys

from . import results
from . import trainers
from .eval_sets import load_eval_sets
from .scoring import evaluate
from .settings import cl_arm
from .settings import mpcl_arm
from .settings import parse_args
from .settings import settings_key
from .settings import st_arm

logger = logging.getLogger("reproduce_paper")


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        stream=sys.stdout)
    for name in ("keras_mpcl.evaluation", "keras_mpcl.data", "keras_mpcl.training"):
        logging.getLogger(name).setLevel(logging.WARNING)
    args.output.mkdir(parents=True, exist_ok=True)
    runs_path = args.output / "runs.jsonl"
    key = settings_key(args)
    logger.info("settings %s: %s", key, vars(args))
    sets = load_eval_sets(args)
    wanted = set(args.arms)

    def want(name):
        return "all" in wanted or name in wanted

    def done(arm, seed):
        return any(r["arm"] == arm and r["seed"] == seed
                   for r in results.read_runs(runs_path, key))

    def record(run):
        with runs_path.open("a") as f:
            f.write(json.dumps(run) + "\n")
        runs = results.read_runs(runs_path, key)
        best = args.best_group_size or results.best_group_size_from(
            runs, args.group_sizes, args.seeds[:1])
        summary = results.summarize(runs)
        results.write_tables(summary, args, args.output, best)
        results.write_plots(summary, runs, args.output)

    if want("untrained") and not done("untrained", 0):
        logger.info("evaluating the untrained encoder")
        metrics, details = evaluate(trainers.untrained_encoder(args), sets, True)
        record({"arm": "untrained", "seed": 0, "settings": key, "metrics": metrics,
                "details": details, "train_seconds": 0.0, "losses": []})
        logger.info("untrained: %s", metrics)

    def run(arm, seed):
        if done(arm.name, seed):
            logger.info("%s seed %d: already in %s, skipped", arm.name, seed, runs_path)
            return
        if arm.trainer == "sentence_transformers" and args.encoder == "tiny":
            logger.warning("%s seed %d: skipped, sentence-transformers needs a Hugging "
                           "Face folder, not the tiny random encoder", arm.name, seed)
            return
        logger.info("%s seed %d: training %d steps of %d sentences", arm.name, seed,
                    args.steps, args.batch)
        if arm.trainer == "keras":
            encode_fn, losses, train_seconds = trainers.train_keras(arm, args, seed)
        else:
            encode_fn, losses, train_seconds = trainers.train_sentence_transformers(args, seed)
        with_dev = arm.variant == "supcon" and arm.anchors == "all"
        metrics, details = evaluate(encode_fn, sets, with_dev)
        record({"arm": arm.name, "seed": seed, "settings": key, "metrics": metrics,
                "details": details, "train_seconds": train_seconds, "losses": losses,
                "group_size": arm.group_size, "variant": arm.variant})
        logger.info("%s seed %d: train %.0fs, eval %.0fs (%d sentences), loss %.3f -> %.3f, %s",
                    arm.name, seed, train_seconds, details["eval_seconds"],
                    details["sentences_encoded"], losses[0], losses[-1],
                    {k: round(v, 4) for k, v in metrics.items()})

    # Seed-major, so that every arm has results early and partial runs stay
    # balanced. The best group size is chosen once, on the dev retrieval of
    # the first seed's supcon runs, and stored so that a resumed job keeps it.
    best_path = args.output / f"best_group_size.{key}.json"
    best = args.best_group_size
    if best is None and best_path.is_file():
        best = json.loads(best_path.read_text())["best_group_size"]
    for seed in args.seeds:
        if want("cl"):
            run(cl_arm(), seed)
        if want("supcon"):
            for g in args.group_sizes:
                run(mpcl_arm("supcon", g), seed)
        if want("st-mnrl"):
            run(st_arm(), seed)
        if not want("variants"):
            continue
        if best is None:
            best = results.best_group_size_from(
                results.read_runs(runs_path, key), args.group_sizes, [seed])
            if best is None:
                logger.warning("variants skipped: no best group size (run the supcon "
                               "arms first, or pass --best-group-size)")
                continue
            best_path.write_text(json.dumps({"best_group_size": best, "chosen_on_seed": seed}))
            logger.info("best group size (dev NTREX retrieval, seed %d): %d", seed, best)
        if best not in args.group_sizes:  # supcon at B belongs to the comparison
            run(mpcl_arm("supcon", best), seed)
        for variant in ("independent", "pooled"):
            run(mpcl_arm(variant, best), seed)
    runs = results.read_runs(runs_path, key)
    logger.info("done: %d runs in %s; table in %s", len(runs), runs_path,
                args.output / "results.md")
    return results.summarize(runs)
