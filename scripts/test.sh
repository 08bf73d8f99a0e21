#!/usr/bin/env bash
# Installs keras-mpcl with all three backends into a virtual environment and runs
# the test suite once per Keras backend, the three backends side by side.
# Three suites share two cores, so the PyTorch suite runs with one OpenMP thread
# and the TensorFlow suite with one intra-op thread: their idle worker threads
# spin and took CPU from the others (whole suite 14:16 -> 12:53 -> 12:31). JAX
# keeps its threads: it ends last and then has a core to itself (single-threaded
# XLA took 13:04; one thread for every backend, measured earlier, 23 min).
# Tests marked `backend_independent` (pure Python / NumPy / tf.data logic) run
# once, under TensorFlow, and `one_backend` tests (end-to-end plumbing) once,
# under PyTorch, so that the three runs end close together. Exits non-zero if
# any backend fails.
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
# uv installs the same pinned set in about 37 s where pip took about 75 s of a
# fresh-clone CI run; pip stays the fallback (no uv, or uv cannot resolve here).
# uv reads its own settings, so pip's find-links (the local CPU torch wheel) are
# handed on. --compile-bytecode as pip does: with PYTHONDONTWRITEBYTECODE set (as on
# the CI machine) every process would otherwise compile what it imports (14 s -> 34 s
# of CPU to import the backends).
install_with_uv() {
  "$VENV/bin/python" -m pip install -q uv || return 1
  local links=${UV_FIND_LINKS:-${PIP_FIND_LINKS:-$("$VENV/bin/python" -m pip config get global.find-links 2>/dev/null)}}
  if [ -n "$links" ]; then export UV_FIND_LINKS=$links; fi
  "$VENV/bin/python" -m uv pip install --python "$VENV/bin/python" -q --compile-bytecode \
    -c constraints.txt -e ".[jax,torch,test]"
}
if ! install_with_uv; then
  echo "uv install failed; installing with pip" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip || exit 1
  "$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[jax,torch,test]" || exit 1
fi

logs=$(mktemp -d)
pids=()
for backend in $BACKENDS; do
  case $backend in
    tensorflow) once=backend_independent ;;
    torch) once=one_backend ;;
    *) once= ;;
  esac
  threads=()  # see the top of this file
  case $backend in
    torch) threads=(OMP_NUM_THREADS=1) ;;
    tensorflow) threads=(TF_NUM_INTRAOP_THREADS=1) ;;
  esac
  env "${threads[@]}" KERAS_BACKEND=$backend KERAS_MPCL_ONCE_MARKERS=$once \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider --durations=25 "$@" >"$logs/$backend.log" 2>&1 &
  pids+=($!)
done

summary=()
status=0
i=0
for backend in $BACKENDS; do
  wait "${pids[$i]}"
  rc=$?
  i=$((i + 1))
  echo "=== pytest with KERAS_BACKEND=$backend (exit $rc) ==="
  cat "$logs/$backend.log"
  summary+=("$backend: $(grep -E '(passed|failed|error|no tests ran).* in [0-9.]+s' "$logs/$backend.log" | tail -n 1) (exit $rc)")
  [ "$rc" -eq 0 ] || status=1
done
rm -rf "$logs"

echo "=== summary ==="
printf '%s\n' "${summary[@]}"
exit $status
