"""In-process tests of keras_mpcl.distribution.strategies: names and device simulation."""

import os

import keras
import pytest

from keras_mpcl.distribution import strategies


def test_simulate_cpu_devices_validates_count():
    with pytest.raises(ValueError, match="`count` should be a positive int"):
        strategies.simulate_cpu_devices(0)


@pytest.mark.parametrize(
    "backend, names",
    [
        ("tensorflow", {"data_parallel": "mirrored", "tpu": "tpu", "multi_worker": "multi_worker"}),
        ("jax", {"data_parallel": "data_parallel", "tpu": "data_parallel"}),
        ("torch", {"data_parallel": "ddp", "ddp": "ddp", "multi_worker": "ddp"}),
    ],
)
def test_resolve_strategy_maps_names_to_each_backends_engine(backend, names):
    for name, resolved in names.items():
        assert strategies.resolve_strategy(name, backend) == resolved
    assert strategies.resolve_strategy("none", backend) == "none"


def test_simulated_jax_devices_get_a_long_collective_timeout(monkeypatch):
    # The JAX multi-device check once aborted: one simulated device reached an all-reduce
    # 40 s (XLA's default) after the other on two busy cores.
    if keras.backend.backend() != "jax":
        pytest.skip("sets JAX's XLA_FLAGS")
    import jax

    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/unused")
    strategies.simulate_cpu_devices(jax.device_count())
    flags = os.environ["XLA_FLAGS"].split()
    assert flags[0] == "--xla_dump_to=/tmp/unused"
    assert "--xla_cpu_collective_call_terminate_timeout_seconds=3600" in flags
    assert f"--xla_force_host_platform_device_count={jax.device_count()}" in flags
