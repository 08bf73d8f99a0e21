"""Multi-device correctness on CPU: one distributed step == one step on the global batch.

Each check runs in a subprocess because the simulated devices (XLA flag,
TensorFlow logical devices, a torchrun process group) must be set up before
the backend initialises. A check runs under the suite of its own backend and
is skipped under the others (the suite runs once per backend).
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import keras
import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]


def _only_on(backend):
    return pytest.mark.skipif(
        keras.backend.backend() != backend,
        reason=f"{backend}-only multi-device check; it runs in the {backend} run of the suite",
    )


# A torchrun rank sometimes aborts inside gloo with this C++ message when the
# machine is loaded (seen here once, in a run of the three suites side by side); such a
# run is retried once; any other failure fails the test.
_GLOO_ABORT = "terminate called without an active exception"


def _run(command, backend, timeout=900):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=str(REPO_ROOT))
    # The children set their own device count; keep the suite's other XLA flags.
    env["XLA_FLAGS"] = " ".join(
        flag for flag in os.environ.get("XLA_FLAGS", "").split()
        if not flag.startswith("--xla_force_host_platform_device_count"))
    for attempt in range(2):
        # A whole training run in a child process: 300 s was too little beside two
        # other suites and a training job on two cores (the JAX run timed out once).
        result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True,
                                text=True, timeout=timeout)
        output = result.stdout + result.stderr
        if result.returncode == 0 or _GLOO_ABORT not in output:
            break
    assert result.returncode == 0, output[-6000:]
    checks = {}
    # Ranks share one stdout pipe, so two reports can land on one line.
    for report in re.findall(r"CHECK (.*?)(?=CHECK |$)", result.stdout, re.MULTILINE):
        name, _, rest = report.strip().partition(" ")
        checks.setdefault(name, []).append(rest)
    return checks


@_only_on("tensorflow")
def test_tensorflow_mirrored_strategy_matches_global_batch():
    checks = _run([sys.executable, str(HERE / "tf_mirrored_check.py")], "tensorflow")
    assert set(checks) == {"tf_step", "tf_fit_step", "tf_fit"}, checks


@_only_on("jax")
def test_jax_data_parallel_matches_global_batch():
    checks = _run([sys.executable, str(HERE / "jax_data_parallel_check.py")], "jax")
    assert set(checks) == {"jax_step", "jax_fit_step", "jax_fit", "jax_mesh"}, checks


def _torchrun(script, *arguments):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    launcher = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    return launcher + ["--standalone", "--nproc_per_node=2", str(HERE / script), *arguments]


@_only_on("torch")
def test_torch_ddp_gloo_matches_global_batch():
    checks = _run(_torchrun("torch_ddp_check.py"), "torch")
    # One line per rank for every check.
    assert {name: len(lines) for name, lines in checks.items()} == {
        "torch_step": 2, "torch_fit_step": 2, "torch_fit": 2,
    }, checks


def _recipe_arguments(backend, output):
    """`train_distributed.py` arguments: the multi-device recipe on a tiny random BERT."""
    tiny = [
        "encoder.source=random", "encoder.max_length=16",
        "encoder.random.vocabulary_size=300", "encoder.random.num_layers=1",
        "encoder.random.num_heads=2", "encoder.random.hidden_dim=32",
        "encoder.random.intermediate_dim=64",
        "optimizer.random_init_learning_rate=1e-3", "train.precision=float32",
        "train.steps=2", "train.checkpoint_every=1", "train.verbose=0",
        "train.tensorboard=false", "data.max_groups=40", "data.held_out=0",
        "data.groups_per_batch=2", "eval.before_after=false",
        # Length buckets on several devices: under jax.jit each chunk's rows are
        # a multiple of the devices; TensorFlow and PyTorch cut them per replica.
        "train.length_buckets=3",
    ]
    if backend != "torch":
        tiny.append("train.simulate_cpu_devices=2")
    arguments = [
        "--config", str(REPO_ROOT / "recipes" / "configs" / f"sample_multi_gpu_{backend}.toml"),
        "--output", str(output),
    ]
    for item in tiny:
        arguments += ["--set", item]
    return arguments


@pytest.fixture(scope="module")
def train_runs(tmp_path_factory):
    """`train` on two devices against one, then the multi-device recipe: one child process.

    TensorFlow and JAX: `train_equality_check.py` on two simulated CPU
    devices; PyTorch: `torch_train_check.py` in torchrun's two processes.
    On TensorFlow the recipe is the process's second mirrored training, which
    failed until each strategy got its own collective keys
    (`keras_mpcl.compat.mirrored_strategy`). Returns the checks that held and
    the recipe's output folder.
    """
    backend = keras.backend.backend()
    out = tmp_path_factory.mktemp("train_runs")
    recipe = ["--recipe", *_recipe_arguments(backend, out / "recipe")]
    if backend == "torch":
        return _run(_torchrun("torch_train_check.py", str(out / "checks"), *recipe),
                    backend), out / "recipe"
    equality = [sys.executable, str(HERE / "train_equality_check.py"), str(out / "checks")]
    return _run(equality + recipe, backend), out / "recipe"


@_only_on("torch")
def test_train_under_torchrun_runs_its_callbacks_and_equals_one_process(train_runs):
    # Issue #12: `train` refused DDP, and the torchrun recipe ran no callbacks.
    checks, _ = train_runs
    assert {name: len(lines) for name, lines in checks.items()} == {
        "ddp_callbacks": 2, "ddp_stop": 2, "ddp_resume": 2, "ddp_cached": 2,
        "ddp_equals_one_process": 1, "recipe": 2,
    }, checks


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_multi_device_training_equals_single_device_training(backend, request):
    # Issue #11: TensorFlow replicas used to read their own consecutive batches.
    if keras.backend.backend() != backend:
        pytest.skip(f"runs in the {backend} run of the suite")
    checks, _ = request.getfixturevalue("train_runs")
    expected = {"train_equal", "no_repeats", "recipe"}
    if keras.backend.backend() == "tensorflow":
        expected.add("xla_buckets_refused")
    assert set(checks) == expected, checks


@pytest.mark.slow
def test_recipe_trains_a_tiny_bert_on_strings_on_two_devices(train_runs):
    """End to end: the multi-device recipe on its `TrainingConfig`, a tiny random BERT.

    Every backend goes through `keras_mpcl.training.train`: TensorFlow and
    JAX on two simulated CPU devices, PyTorch in torchrun's two processes
    (run by the `train_runs` child, after its checks).
    """
    import json

    backend = keras.backend.backend()
    checks, output = train_runs
    assert "recipe" in checks, checks
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["backend"] == backend
    assert metrics["replicas"] == 2 and metrics["global_batch_sentences"] == 16
    assert metrics["strategy"] == {"tensorflow": "mirrored", "jax": "data_parallel",
                                   "torch": "ddp"}[backend]
    # One loss per step (Keras epochs of one step; `ddp_fit` logs every step).
    assert len(metrics["loss"]) == 2 and all(0 < loss < 10 for loss in metrics["loss"]), metrics
    assert metrics["sentences_per_second"] > 0
    assert (output / "encoder" / "config.json").is_file()
    assert (output / "config.toml").is_file()
