"""Where a MiniLM-L6 training step spends its time: one arm of train_throughput.py, profiled.

Builds the same step as `benchmarks/train_throughput.py` (same batch, loss,
optimizer, precision and dropout settings), runs two warm-up steps, times
`--steps` steps, then:

- torch arms (`st`, `torch`): `torch.profiler` over `--steps` steps, the
  top operators by self CPU time.
- `tensorflow_xla` / `jax` with `--trace DIR`: a TensorBoard / Perfetto trace
  of the compiled step (`tf.profiler` / `jax.profiler`).

    KERAS_BACKEND=torch python benchmarks/profile_train_step.py --arm torch [--precision bf16]
    python benchmarks/profile_train_step.py --arm st
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import train_throughput as tt


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arm", choices=list(tt.ARMS), required=True)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--dropout", choices=["on", "off"], default="on")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--trace", help="folder for a tf / jax profiler trace")
    args = parser.parse_args()
    backend, jit_compile, remat, buckets = tt.ARMS[args.arm]
    if os.environ.get("KERAS_BACKEND", backend) != backend:
        sys.exit(f"--arm {args.arm} needs KERAS_BACKEND={backend}")
    os.environ["KERAS_BACKEND"] = backend
    folder = tt._minilm_path()
    token_ids, _ = tt._tokenize(folder, "64")
    dropout = args.dropout == "on"
    if args.arm == "st":
        step, _, info = tt._st_step(folder, token_ids, args.precision, dropout, args.threads)
    else:
        step, _, info = tt._keras_step(folder, token_ids, args.precision, dropout,
                                       args.threads, jit_compile, remat, buckets)
    print(info)
    step()
    step()
    full = _median_time(step, args.steps)
    print(f"full step: {full:.2f} s ({2 * tt.PAIRS / full:.1f} sentences/s)")
    if backend == "torch":
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.steps):
                step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    elif args.trace and backend == "tensorflow":
        import tensorflow as tf

        tf.profiler.experimental.start(args.trace)
        for _ in range(args.steps):
            step()
        tf.profiler.experimental.stop()
        print(f"trace written to {args.trace}")
    elif args.trace and backend == "jax":
        import jax

        with jax.profiler.trace(args.trace):
            for _ in range(args.steps):
                step()
        print(f"trace written to {args.trace}")


if __name__ == "__main__":
    main()
