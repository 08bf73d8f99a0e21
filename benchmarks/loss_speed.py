"""Forward+backward cost of the MPCL loss relative to plain in-batch InfoNCE.

For N in {256, 1024, 4096} embeddings of dimension D = 768, times one compiled
training step whose only work is the loss and its gradient (a trainable (N, D)
table fed straight into the loss, SGD update), for:

- `infonce`: the baseline, NT-Xent written plainly with `keras.ops`: the N rows
  form N/2 pairs, each row's target is its partner among the other N - 1 rows
  (same N x N logits as MPCL);
- `mpcl_*`: `MultiPositiveContrastiveLoss` with groups of 4 for each variant,
  and `anchors="first"` with pairs.

Each backend runs in its own subprocess with jit compilation on (XLA for
TensorFlow and JAX). torch runs eagerly by default; `--torch-compile` uses
Keras' `jit_compile=True`, i.e. `torch.compile` (about 35 s of compilation per
arm and size here, and slower steps than eager in our measurement). Timings of the arms are interleaved and the
median is taken; the figure reported is the ratio to the baseline measured in
the same process.

    python benchmarks/loss_speed.py [--sizes 256 1024 4096] [--backends tensorflow jax torch]
        [--repeats 15] [--torch-compile]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

RESULTS = pathlib.Path(__file__).parent / "results" / "loss_speed.json"
DIM = 768


def _measure(sizes, repeats, torch_compile):
    import keras
    import numpy as np
    from keras import ops

    from keras_mpcl.losses import MultiPositiveContrastiveLoss

    def infonce(y_true, y_pred):
        # Plain NT-Xent: rows 2k and 2k+1 are partners; y_true is unused.
        n = ops.shape(y_pred)[0]
        x = y_pred / ops.norm(y_pred, axis=1, keepdims=True)
        logits = ops.matmul(x, ops.transpose(x)) / 0.05
        logits = logits - 1e9 * ops.eye(n)
        partner = ops.reshape(ops.flip(ops.reshape(ops.arange(n), (-1, 2)), axis=1), (-1,))
        return keras.losses.sparse_categorical_crossentropy(
            partner, logits, from_logits=True
        )

    arms = {
        "infonce": (infonce, 2),
        "mpcl_supcon": (MultiPositiveContrastiveLoss(variant="supcon"), 4),
        "mpcl_independent": (MultiPositiveContrastiveLoss(variant="independent"), 4),
        "mpcl_pooled": (MultiPositiveContrastiveLoss(variant="pooled"), 4),
        "mpcl_first_pairs": (MultiPositiveContrastiveLoss(anchors="first"), 2),
    }
    jit = keras.backend.backend() != "torch" or torch_compile
    results = {}
    for n in sizes:
        rng = np.random.default_rng(0)
        table = rng.normal(size=(n, DIM)).astype("float32")
        rows = np.arange(n, dtype="int32")[:, None]
        steps = {}
        for name, (loss, group_size) in arms.items():
            ids = (np.arange(n) // group_size).astype("int32")
            inputs = keras.Input((1,), dtype="int32")
            embedding = keras.layers.Embedding(
                n, DIM, embeddings_initializer=keras.initializers.Constant(table)
            )
            outputs = ops.squeeze(embedding(inputs), axis=1)
            model = keras.Model(inputs, outputs)
            model.compile(optimizer=keras.optimizers.SGD(1e-3), loss=loss, jit_compile=jit)
            model.train_on_batch(rows, ids)  # compile
            model.train_on_batch(rows, ids)
            steps[name] = (model, ids)
        timings = {name: [] for name in arms}
        for _ in range(repeats):
            for name, (model, ids) in steps.items():
                start = time.perf_counter()
                model.train_on_batch(rows, ids)
                timings[name].append(time.perf_counter() - start)
        medians = {name: float(np.median(t)) for name, t in timings.items()}
        results[str(n)] = {
            "seconds_per_step": medians,
            "ratio_to_infonce": {
                name: medians[name] / medians["infonce"] for name in arms
            },
        }
        print(f"  N={n}: " + ", ".join(
            f"{k}={v:.2f}x" for k, v in results[str(n)]["ratio_to_infonce"].items()
        ), flush=True)
    return {"jit_compile": jit, "sizes": results}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--output", type=pathlib.Path, default=RESULTS)
    parser.add_argument("--torch-compile", action="store_true",
                        help="jit-compile the torch arms with torch.compile")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_measure(args.sizes, args.repeats, args.torch_compile)))
        return
    report = {"dim": DIM, "backends": {}}
    for backend in args.backends:
        print(f"[{backend}]", flush=True)
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        command = [sys.executable, __file__, "--worker", "--repeats", str(args.repeats),
                   "--sizes", *map(str, args.sizes)]
        if args.torch_compile:
            command.append("--torch-compile")
        proc = subprocess.run(command, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{backend} failed:\n{proc.stderr[-3000:]}")
        lines = proc.stdout.strip().splitlines()
        print("\n".join(lines[:-1]))
        report["backends"][backend] = json.loads(lines[-1])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print("\nratio of MPCL (supcon, groups of 4) to InfoNCE, forward+backward:")
    print("backend      " + "".join(f"N={n:<8}" for n in args.sizes))
    for backend, result in report["backends"].items():
        ratios = [result["sizes"][str(n)]["ratio_to_infonce"]["mpcl_supcon"] for n in args.sizes]
        print(f"{backend:<13}" + "".join(f"{r:<10.2f}" for r in ratios))
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
