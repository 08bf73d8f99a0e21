"""In-process tests of keras_mpcl.distribution.strategies: names and device simulation."""

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
