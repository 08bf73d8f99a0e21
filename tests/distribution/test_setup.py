"""In-process tests of keras_mpcl.distribution.setup: `configure`, `DistributionSetup`."""

import keras
import pytest

from keras_mpcl import distribution
from keras_mpcl.distribution.setup import DistributionSetup
from keras_mpcl.distribution.setup import configure
from keras_mpcl.distribution.setup import shard_info


def test_configure_none_is_a_plain_scope():
    setup = configure("none")
    assert (setup.strategy, setup.num_replicas, setup.engine) == ("none", 1, None)
    assert shard_info(setup) == (1, 0)
    assert setup.shard_spec() == distribution.ShardSpec(1, 0, 1)
    with setup.scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert model.built
    assert setup.distribute_dataset(lambda spec: spec) == distribution.ShardSpec(1, 0, 1)


def test_configure_auto_on_one_cpu_device_is_none():
    assert configure("auto").strategy == "none"


def test_configure_rejects_unknown_strategy():
    with pytest.raises(ValueError, match="`strategy` should be one of"):
        configure("horovod")


def test_configure_rejects_another_backends_strategy():
    other = {"tensorflow": "ddp", "jax": "mirrored", "torch": "tpu"}[keras.backend.backend()]
    with pytest.raises(ValueError, match="not available on the"):
        configure(other)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torchrun environment is PyTorch's")
def test_ddp_without_torchrun_environment_says_how_to_launch(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="torchrun --nproc_per_node"):
        configure("ddp")


def test_shard_info_reads_the_given_setup_else_the_environment():
    setup = DistributionSetup(keras.backend.backend(), "none", num_replicas=4,
                              num_workers=4, worker_index=2)
    assert shard_info(setup) == (4, 2)
    # Issue #12: no "current" setup is remembered between calls.
    assert shard_info() == (1, 0)


def test_consecutive_configure_close_cycles_do_not_leak():
    # Issue #12: `configure` kept its setup in a module global that `close` never reset.
    for _ in range(2):
        setup = configure("none")
        assert shard_info(setup) == (1, 0)
        setup.close()
        assert shard_info() == (1, 0)
        if keras.backend.backend() == "jax":
            assert keras.distribution.distribution() is None
    assert not hasattr(distribution.setup, "_CURRENT")


def test_package_re_exports_the_public_names():
    assert sorted(distribution.__all__) == sorted(distribution._EXPORTS)
    for name in distribution.__all__:
        assert getattr(distribution, name) is not None, name
    assert distribution.configure is configure
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        distribution.no_such_name  # noqa: B018


def test_ddp_fit_refuses_the_arguments_it_does_not_support_by_name():
    # Issue #11: arguments `ddp_fit` cannot honour are refused, never dropped.
    setup = DistributionSetup(backend="torch", strategy="ddp", num_replicas=2,
                              num_workers=2, worker_index=0)
    callback = keras.callbacks.CSVLogger("log.csv")
    with pytest.raises(ValueError, match="does not support `class_weight`, `shuffle`"):
        setup.fit(None, lambda spec: None, steps_per_epoch=1, shuffle=True, class_weight={})
    # Callbacks are supported (issue #12): only the validation data is named.
    with pytest.raises(ValueError, match="does not support `validation_data` \\(it takes"):
        setup.fit(None, lambda spec: None, steps_per_epoch=1, callbacks=[callback],
                  validation_data=([], []), shuffle=False, verbose=0)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="DDP is PyTorch's")
def test_ddp_fit_runs_the_callbacks():
    # Issue #12: under DDP `fit` refused callbacks. One process, no process group:
    # the same `ddp_fit` as under torchrun (tests/distribution/torch_train_check.py).
    import numpy as np
    import tensorflow as tf

    from keras_mpcl.losses import MultiPositiveContrastiveLoss

    class Epochs(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.ends = []

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append((epoch, sorted(logs)))

    ids = np.array([0, 0, 1, 1, 2, 2], "int32")
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=MultiPositiveContrastiveLoss())
    setup = DistributionSetup(backend="torch", strategy="ddp", num_replicas=1,
                              num_workers=1, worker_index=0)
    callback = Epochs()
    history = setup.fit(model, lambda spec: tf.data.Dataset.from_tensors((x, ids)).repeat(),
                        epochs=2, steps_per_epoch=3, callbacks=[callback], verbose=0,
                        shuffle=False)
    assert callback.ends == [(0, ["loss"]), (1, ["loss"])]
    assert len(history["loss"]) == 2
