"""In-process tests of keras_mpcl.distribution: one replica, options, errors."""

import keras
import numpy as np
import pytest

from keras_mpcl import distribution
from keras_mpcl.losses import MultiPositiveContrastiveLoss
from keras_mpcl.losses import multi_positive_contrastive_loss

IDS = np.array([0, 0, 1, 1, 1, -1, 2, 2], "int32")
EMBEDDINGS = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")


def test_configure_none_is_a_plain_scope():
    setup = distribution.configure("none")
    assert (setup.strategy, setup.num_replicas, setup.engine) == ("none", 1, None)
    assert distribution.shard_info() == (1, 0)
    assert setup.shard_spec() == distribution.ShardSpec(1, 0, 1)
    with setup.scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert model.built
    assert setup.distribute_dataset(lambda spec: spec) == distribution.ShardSpec(1, 0, 1)


def test_configure_auto_on_one_cpu_device_is_none():
    assert distribution.configure("auto").strategy == "none"


def test_configure_rejects_unknown_strategy():
    with pytest.raises(ValueError, match="`strategy` should be one of"):
        distribution.configure("horovod")


def test_configure_rejects_another_backends_strategy():
    other = {"tensorflow": "ddp", "jax": "mirrored", "torch": "tpu"}[keras.backend.backend()]
    with pytest.raises(ValueError, match="not available on the"):
        distribution.configure(other)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torchrun environment is PyTorch's")
def test_ddp_without_torchrun_environment_says_how_to_launch(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="torchrun --nproc_per_node"):
        distribution.configure("ddp")


def test_unique_group_ids_never_collide_and_keep_padding():
    ids = np.array([0, 0, 1, 2, -1], "int32")
    per_replica = [
        keras.ops.convert_to_numpy(distribution.unique_group_ids(ids, 3, r)) for r in range(3)
    ]
    real = [set(p[p >= 0].tolist()) for p in per_replica]
    assert all(not (real[a] & real[b]) for a in range(3) for b in range(a + 1, 3))
    assert all(p[-1] == -1 for p in per_replica)
    # Members of one group keep one id.
    assert all(p[0] == p[1] for p in per_replica)


@pytest.mark.parametrize("option", [True, False, "auto"])
def test_one_replica_gathering_changes_nothing(option):
    expected = MultiPositiveContrastiveLoss(gather_across_replicas=False)(IDS, EMBEDDINGS)
    value = MultiPositiveContrastiveLoss(gather_across_replicas=option)(IDS, EMBEDDINGS)
    assert float(value) == float(expected)
    per_anchor = multi_positive_contrastive_loss(IDS, EMBEDDINGS, gather_across_replicas=option)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(per_anchor),
        keras.ops.convert_to_numpy(multi_positive_contrastive_loss(IDS, EMBEDDINGS)),
    )
    assert not distribution.should_gather(option)


@pytest.mark.parametrize("bad", ["yes", 1, None, "Auto"])
def test_gather_option_is_validated(bad):
    with pytest.raises(ValueError, match="`gather_across_replicas` should be True, False or 'auto'"):
        MultiPositiveContrastiveLoss(gather_across_replicas=bad)


@pytest.mark.parametrize("option", [True, False, "auto"])
def test_gather_option_round_trips_through_config(option):
    loss = MultiPositiveContrastiveLoss(gather_across_replicas=option)
    assert loss.get_config()["gather_across_replicas"] == option
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert restored.gather_across_replicas == option


def test_gather_replica_batch_with_one_replica_is_identity():
    ids, all_ids, embeddings, rows = distribution.gather_replica_batch(IDS, EMBEDDINGS)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(all_ids), IDS)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(rows), np.arange(8))
    assert embeddings is EMBEDDINGS


def test_simulate_cpu_devices_validates_count():
    with pytest.raises(ValueError, match="`count` should be a positive int"):
        distribution.simulate_cpu_devices(0)


def test_ddp_fit_is_torch_only_and_validates_steps():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    kwargs = dict(loss=MultiPositiveContrastiveLoss(), optimizer=keras.optimizers.SGD(0.1))
    if keras.backend.backend() != "torch":
        with pytest.raises(RuntimeError, match="use `model.fit`"):
            distribution.ddp_fit(model, [(EMBEDDINGS, IDS)], steps=1, **kwargs)
        return
    with pytest.raises(ValueError, match="`steps` should be a positive int"):
        distribution.ddp_fit(model, [(EMBEDDINGS, IDS)], steps=0, **kwargs)
    history = distribution.ddp_fit(model, [(EMBEDDINGS, IDS)], steps=3, verbose=0, **kwargs)
    assert len(history["loss"]) == 3 and history["loss"][-1] < history["loss"][0]


def test_ddp_fit_refuses_callbacks_instead_of_dropping_them():
    # Issue #11: checkpoints, resumption, CSV and TensorBoard silently did not run.
    from keras_mpcl.distribution import DistributionSetup

    setup = DistributionSetup(backend="torch", strategy="ddp", num_replicas=2,
                              num_workers=2, worker_index=0)
    callback = keras.callbacks.CSVLogger("log.csv")
    with pytest.raises(ValueError, match="does not support `callbacks`.*no Keras callbacks"):
        setup.fit(None, lambda spec: None, steps_per_epoch=1, callbacks=[callback])
    with pytest.raises(ValueError, match="does not support `class_weight`, `shuffle`"):
        setup.fit(None, lambda spec: None, steps_per_epoch=1, shuffle=True, class_weight={})
