"""Toy data shared by the multi-device check scripts: per-replica batches of whole groups."""

import numpy as np

FEATURES = 8
EMBEDDING = 6


def replica_batches(num_replicas, groups=(2, 3), group_size=3, seed=0):
    """One `(x, ids)` batch per replica; ids restart at 0 on every replica.

    `groups` cycles over replicas so their row counts differ; the last row of
    replica 0 is padding (-1).
    """
    rng = np.random.default_rng(seed)
    batches = []
    for r in range(num_replicas):
        count = groups[r % len(groups)]
        ids = np.repeat(np.arange(count), group_size).astype("int32")
        if r == 0:
            ids[-1] = -1
        # Members of a group share a centre, so the loss is not flat.
        centres = rng.normal(size=(count, FEATURES))
        x = centres[np.maximum(ids, 0)] + 0.3 * rng.normal(size=(len(ids), FEATURES))
        batches.append((x.astype("float32"), ids))
    return batches


def global_batch(batches):
    """The concatenated batch with ids made unique as the loss does (id*R + r)."""
    num_replicas = len(batches)
    xs, ids = [], []
    for r, (x, i) in enumerate(batches):
        xs.append(x)
        ids.append(np.where(i == -1, -1, i * num_replicas + r).astype("int32"))
    return np.concatenate(xs), np.concatenate(ids)


def report(name, **values):
    """One parseable line per check, for the pytest wrapper."""
    print(f"CHECK {name} " + " ".join(f"{k}={v}" for k, v in values.items()), flush=True)
