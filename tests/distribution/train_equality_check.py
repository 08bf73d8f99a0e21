"""`train()` on 2 simulated CPU replicas x 4 groups == 1 device x 8 groups (issue #11).

Run in a subprocess (the simulated devices must exist before the backend
starts) by `test_multi_device.py`, under TensorFlow and JAX. Prints
`CHECK <name> ...` lines for each check that holds.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_mpcl import distribution  # noqa: E402
from keras_mpcl.training import ConfigError  # noqa: E402
from keras_mpcl.training import train  # noqa: E402
from keras_mpcl.training import data as run_data_lib  # noqa: E402
from distribution.recipe_check import run_recipe_if_asked  # noqa: E402
from training.tiny import tiny_config  # noqa: E402

OUT = sys.argv[1]
REPLICAS = 2
distribution.simulate_cpu_devices(REPLICAS)
# Dropout 0: the two runs draw their masks differently; 6 steps of 8 groups cross the
# end of the 40 training groups.
# jit_compile=auto: jax.jit (an eager JAX run took 150 s of the suite); no XLA on TensorFlow CPU.
common = ["data.max_groups=48", "data.held_out=8", "encoder.random.dropout=0.0",
          "train.steps=6", "train.checkpoint_every=3", "train.jit_compile=auto"]
single = train(tiny_config(f"{OUT}/single", common + ["data.groups_per_batch=8",
                                                      "train.strategy=none"]))
multi_config = tiny_config(f"{OUT}/multi", common + ["data.groups_per_batch=4",
                                                     "train.strategy=auto"])
multi = train(multi_config)
assert multi.num_replicas == REPLICAS, multi.num_replicas
np.testing.assert_allclose(multi.history["loss"], single.history["loss"], rtol=1e-4, atol=1e-4)
print("CHECK train_equal", single.history["loss"], multi.history["loss"], flush=True)

if keras.backend.backend() == "tensorflow":
    # Length buckets under XLA on several TensorFlow replicas: refused before any step.
    try:
        train(tiny_config(f"{OUT}/xla_buckets", common + [
            "data.groups_per_batch=4", "train.strategy=auto", "train.length_buckets=2",
            "train.jit_compile=true"]))
    except ConfigError as error:
        assert "train.jit_compile=false" in str(error), error
        print("CHECK xla_buckets_refused", flush=True)

# No group and no text twice in one global step, across epoch boundaries.
setup = distribution.configure("auto")
run_data = run_data_lib.split_groups(run_data_lib.read_groups(multi_config.data),
                                     multi_config.data)


def dataset_fn(spec):
    return run_data_lib.training_dataset(run_data, multi_config, spec=spec)


dataset = setup.distribute_dataset(dataset_fn)
for step, batch in zip(range(12), dataset):
    if setup.backend == "tensorflow":
        parts = setup.engine.experimental_local_results(batch)
        assert len(parts) == REPLICAS
        texts = np.concatenate([np.asarray(p[0]) for p in parts])
        ids = np.concatenate([np.asarray(p[1]) for p in parts])
    else:  # JAX: the global batch, which DataParallel splits
        texts, ids = (np.asarray(t) for t in batch)
    real = ids >= 0
    group_ids = ids[real]
    assert len(set(group_ids.tolist())) * 3 >= len(group_ids), ids  # group_size 3
    firsts = [g for i, g in enumerate(group_ids) if i == 0 or group_ids[i - 1] != g]
    assert len(firsts) == len(set(firsts)), (step, ids)  # one contiguous block per group
    assert len(set(texts[real].tolist())) == real.sum(), (step, texts)
print("CHECK no_repeats 12 steps", flush=True)

run_recipe_if_asked(sys.argv)  # on the same two devices
