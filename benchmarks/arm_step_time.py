"""Seconds per training step of each arm of the MPCL study, interleaved in one process.

The study (`recipes/mpcl_study.py`) compares arms at equal steps of 128
sentences. Equal steps are equal time only if the arms' steps cost the same;
they need not: an MPCL batch of 32 groups holds 32 English anchors and 96
non-English sentences, a CL batch 64 and 64, and an English-vocabulary
encoder splits non-English text into more tokens (longer padded rows). This
script measures it: each round trains every arm for `--steps` steps with the
study's exact settings (`keras_mpcl.training.train`, length buckets,
float32) and records the median time of a step after `--warmup` steps; the
rounds interleave the arms, so a change of machine load hits every arm alike.
The ratio of each arm's median to CL's is the figure; the mean number of
tokens per batch (the padded width summed over the buckets is not exposed,
so the count of non-padding tokens is given) explains it.

    KERAS_BACKEND=tensorflow python benchmarks/arm_step_time.py --data xnli15 --rounds 3

Writes `benchmarks/results/arm_step_time_<data>.json`.
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "recipes"))

import mpcl_study  # noqa: E402  (the study's arms and data settings)


def _step_timer(warmup):
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_train_batch_begin(self, batch, logs=None):
            self.begin = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.seconds.append(time.perf_counter() - self.begin)

        def measured(self):
            return self.seconds[warmup:]

    return StepTimer()


def _tokens_per_batch(config, batches=20):
    """Mean count of non-padding tokens in the arm's first `batches` batches."""
    from keras_mpcl.models import build_encoder
    from keras_mpcl.training import data as run_data_lib

    run_data = run_data_lib.split_groups(run_data_lib.read_groups(config.data), config.data)
    dataset = run_data_lib.training_dataset(run_data, config)
    preprocessor = build_encoder(config.encoder.source, max_length=64).preprocessor
    counts = []
    for texts, _ in dataset.take(batches):
        counts.append(int(preprocessor(texts)["padding_mask"].numpy().sum()))
    return statistics.mean(counts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["xnli15", "ntrex"], default="xnli15")
    parser.add_argument("--arms", nargs="+", default=[
        "cl", "cl_symmetric", "mpcl_independent_bidirectional", "mpcl_supcon_bidirectional"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)

    import keras

    from keras_mpcl.models import offline_minilm_path
    from keras_mpcl.training import load_config
    from keras_mpcl.training import train

    def config_of(arm, seed):
        overrides = mpcl_study._data_overrides(args.data) + mpcl_study.ARMS[arm] + [
            f"encoder.source={offline_minilm_path()}", "encoder.max_length=64",
            f"train.steps={args.steps}", f"train.checkpoint_every={args.steps}",
            f"train.seed={seed}", "train.precision=float32", "train.jit_compile=false",
            "train.length_buckets=4", "train.verbose=0", "train.tensorboard=false",
            "optimizer.learning_rate=2e-5", "data.batch_size=128", "data.groups_per_batch=0",
            "eval.before_after=false", "eval.plot=false", "data.anchor_language=en",
        ]
        return load_config(mpcl_study.CONFIG, overrides)

    medians = {arm: [] for arm in args.arms}
    with tempfile.TemporaryDirectory() as scratch:
        for round_index in range(args.rounds):
            for arm in args.arms:
                timer = _step_timer(args.warmup)
                keras.utils.clear_session()
                train(config_of(arm, round_index), pathlib.Path(scratch) / f"{arm}{round_index}",
                      callbacks=[timer])
                medians[arm].append(statistics.median(timer.measured()))
                print(f"round {round_index} {arm}: {medians[arm][-1]:.3f} s/step", flush=True)
    tokens = {arm: _tokens_per_batch(config_of(arm, 0)) for arm in args.arms}
    baseline = statistics.median(medians["cl"]) if "cl" in medians else None
    rows = {}
    for arm in args.arms:
        seconds = statistics.median(medians[arm])
        rows[arm] = {"seconds_per_step_rounds": medians[arm], "seconds_per_step": seconds,
                     "ratio_to_cl": seconds / baseline if baseline else None,
                     "tokens_per_batch": tokens[arm]}
    print(f"\n| arm | s/step (median of {args.rounds} rounds) | ratio to cl | tokens per batch |")
    print("|---|---|---|---|")
    for arm, row in rows.items():
        ratio = f"{row['ratio_to_cl']:.3f}x" if row["ratio_to_cl"] else "-"
        print(f"| {arm} | {row['seconds_per_step']:.3f} | {ratio} | {row['tokens_per_batch']:.0f} |")
    output = pathlib.Path(args.output or ROOT / "benchmarks" / "results" /
                          f"arm_step_time_{args.data}.json")
    output.write_text(json.dumps({"backend": keras.backend.backend(), "data": args.data,
                                  "steps": args.steps, "warmup": args.warmup,
                                  "load_average": os.getloadavg(), "arms": rows},
                                 indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
