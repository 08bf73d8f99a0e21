"""Cached training across devices on CPU: one cached step == one step on the global batch.

Each check runs in a subprocess (the simulated devices must be set up before
the backend initialises) under the suite of its own backend. PyTorch has no
check: `cached_training` refuses a `torch.distributed` group, because the
project's DDP loop (`ddp_fit`) does not call a model's train step.
"""

import sys

from .test_multi_device import HERE
from .test_multi_device import _only_on
from .test_multi_device import _run


@_only_on("tensorflow")
def test_tensorflow_mirrored_strategy_gathers_the_cached_embeddings():
    checks = _run([sys.executable, str(HERE / "grad_cache_tf_mirrored_check.py")], "tensorflow")
    assert set(checks) == {"tf_cached_step", "tf_cached_dropout"}, checks


@_only_on("jax")
def test_jax_data_parallel_cached_step_sees_the_global_batch():
    checks = _run([sys.executable, str(HERE / "grad_cache_jax_data_parallel_check.py")], "jax")
    assert set(checks) == {"jax_cached_step"}, checks
