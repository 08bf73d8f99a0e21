"""In-process tests of keras_mpcl.distribution.collectives: one replica, options, imports."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_mpcl.distribution import collectives
from keras_mpcl.losses import MultiPositiveContrastiveLoss
from keras_mpcl.losses import multi_positive_contrastive_loss

IDS = np.array([0, 0, 1, 1, 1, -1, 2, 2], "int32")
EMBEDDINGS = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")


def test_unique_group_ids_never_collide_and_keep_padding():
    ids = np.array([0, 0, 1, 2, -1], "int32")
    per_replica = [
        keras.ops.convert_to_numpy(collectives.unique_group_ids(ids, 3, r)) for r in range(3)
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
    assert not collectives.should_gather(option)


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
    ids, all_ids, embeddings, rows = collectives.gather_replica_batch(IDS, EMBEDDINGS)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(all_ids), IDS)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(rows), np.arange(8))
    assert embeddings is EMBEDDINGS


@pytest.mark.one_backend
def test_the_loss_imports_only_the_collectives():
    # Issue #12: a pure loss imported device set-up and a DDP training loop.
    # argv[0] = "keras-mpcl" stops `keras_mpcl/__init__` from importing every subpackage.
    code = (
        "import sys; sys.argv = ['keras-mpcl']; import keras_mpcl.losses; "
        "print(sorted(m for m in sys.modules if m.startswith('keras_mpcl.distribution')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = result.stdout.strip().splitlines()[-1]
    assert loaded == "['keras_mpcl.distribution', 'keras_mpcl.distribution.collectives']"
