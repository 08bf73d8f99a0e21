"""Train a multilingual sentence encoder with MPCL (or the CL baseline) from a config.

A thin script over `keras_mpcl.training`, the same as `keras-mpcl train`:

    python recipes/train_mpcl.py --config recipes/configs/cpu_smoke.toml
    python recipes/train_mpcl.py --config recipes/configs/paper_gpu.toml --set loss.objective=cl
    KERAS_BACKEND=jax python recipes/train_mpcl.py --config recipes/configs/paper_tpu.toml

Options: `--config FILE` (TOML or YAML; default: the packaged main job),
`--set key=value` (repeatable; `--set objective=cl` for the single-positive
baseline), `--output DIR`, `--print-config`, `--list-keys`. Re-running an
interrupted command resumes it from its last backup.
"""

import sys

from keras_mpcl.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["train", *sys.argv[1:]]))
