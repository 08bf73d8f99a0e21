"""Shared test set-up: quiet logs, a fresh Keras session per test, shared-data paths."""

import gc
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The suite compiles hundreds of tiny XLA programs (JAX's jit, TensorFlow's
# jit_compile) that run in microseconds; LLVM's optimisation passes are most of
# their compile time (the JAX GradCache tests: 130 s -> 76 s without them).
# Child processes inherit the flags. Set before any backend starts.
FAST_COMPILE_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE_XLA_FLAGS}".strip()

import keras  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# CI and the developers' machines have the shared data beside the repository.
SHARED_DATA = pathlib.Path(
    os.environ.get("KERAS_MPCL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")
)


@pytest.fixture(autouse=True, scope="module")
def _freeze_long_lived_objects():
    """Collects once per test module, then moves what is alive out of the collector's sight.

    With TensorFlow, keras-hub and a backend imported a full collection walks
    ~700,000 objects, about a second; per test (`clear_session`'s default) it
    was 40% of the suite's time. So tests clear the Keras session without
    collecting, Python's own generational collector runs as usual, and a full
    collection runs here, at module boundaries, where what a finished module
    left behind is garbage. Frozen objects are never collected.
    """
    gc.collect()
    gc.freeze()
    yield


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    keras.config.set_dtype_policy("float32")
    keras.utils.clear_session(free_memory=False)  # see _freeze_long_lived_objects
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def shared_data():
    """Path to ../shared/data; skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"shared data not found at {SHARED_DATA} (set KERAS_MPCL_SHARED_DATA "
            "or run from a checkout that has ../shared/data, as CI does)"
        )
    return SHARED_DATA


ONCE_MARKERS = ("backend_independent", "one_backend")


def pytest_collection_modifyitems(config, items):
    """Runs `backend_independent` and `one_backend` tests under one backend only.

    `KERAS_MPCL_ONCE_MARKERS` lists (comma-separated) the once-only markers whose
    tests this run keeps; unset, a run keeps them all. scripts/test.sh hands each
    marker to one backend, so that the three side-by-side runs end close together.
    """
    wanted = os.environ.get("KERAS_MPCL_ONCE_MARKERS")
    if wanted is None:
        return
    kept_markers = {m.strip() for m in wanted.split(",") if m.strip()}
    unknown = kept_markers - set(ONCE_MARKERS)
    if unknown:
        raise pytest.UsageError(
            f"KERAS_MPCL_ONCE_MARKERS names {sorted(unknown)}; the once-only markers "
            f"are {list(ONCE_MARKERS)}."
        )
    dropped = set(ONCE_MARKERS) - kept_markers
    keep = [item for item in items if not any(m in item.keywords for m in dropped)]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep
