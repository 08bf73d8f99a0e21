#!/usr/bin/env bash
# Installs keras-mpcl with all three backends into a virtual environment and runs
# the test suite once per Keras backend. Exits non-zero if any backend fails.
#
#   bash scripts/test.sh                 # whole suite, tensorflow + jax + torch
#   BACKENDS=jax bash scripts/test.sh -k loss   # extra arguments go to pytest
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
BACKENDS=${BACKENDS:-"tensorflow jax torch"}

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || exit 1
fi
"$VENV/bin/python" -m pip install -q --upgrade pip || exit 1
"$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[jax,torch,test]" || exit 1

summary=()
status=0
for backend in $BACKENDS; do
  echo "=== pytest with KERAS_BACKEND=$backend ==="
  log=$(mktemp)
  KERAS_BACKEND=$backend "$VENV/bin/python" -m pytest -q "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  summary+=("$backend: $(grep -E '(passed|failed|error|no tests ran).* in [0-9.]+s' "$log" | tail -n 1) (exit $rc)")
  [ "$rc" -eq 0 ] || status=1
  rm -f "$log"
done

echo "=== summary ==="
printf '%s\n' "${summary[@]}"
exit $status
