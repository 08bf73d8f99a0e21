"""Deterministic splits of a corpus by group key: which rows go to which split."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

from keras_mpcl.validation import is_int

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


def split_sizes(fractions: dict[str, float] | dict[str, int], total: int) -> list[int]:
    """Group counts of each split: `fractions` as given (ints) or rounded (floats).

    Args:
        fractions: mapping from a split name to its fraction of the groups
            (floats summing to 1) or its number of groups (ints summing to
            at most `total`).
        total: int. Number of groups.

    Returns:
        list of int, one per split, in the given order.

    Examples:

    >>> split_sizes({"train": 0.8, "test": 0.2}, 11), split_sizes({"a": 3, "b": 2}, 11)
    ([9, 2], [3, 2])
    """
    if not isinstance(fractions, dict) or not fractions:
        raise TypeError(
            "`fractions` should be a non-empty dict {name: fraction or count}. "
            f"Received: {fractions!r}"
        )
    values = list(fractions.values())
    if all(is_int(v) for v in values):
        if min(values) < 1 or sum(values) > total:
            raise ValueError(
                "Split sizes should be positive and sum to at most the "
                f"number of groups ({total}). Received: {fractions}"
            )
        return values
    if min(values) <= 0 or abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(
            "Split fractions should be positive and sum to 1. "
            f"Received: {fractions} (sum {sum(values)})"
        )
    bounds = np.round(np.cumsum(values) * total).astype(int)
    return np.diff(np.concatenate([[0], bounds])).tolist()


def split_rows(
    keys: Sequence[Any], fractions: dict[str, float] | dict[str, int], seed: int = 0
) -> dict[str, np.ndarray]:
    """Sorted row positions of each split, from a hash of `(seed, key)`.

    Rows are ordered by the hash, so a group's split does not depend on the
    file order, and cut into consecutive parts of `split_sizes`.

    Args:
        keys: the group keys, one per row.
        fractions: see `split_sizes`.
        seed: int. Defaults to `0`.

    Returns:
        dict from split name to a sorted int64 array of rows.

    Examples:

    >>> rows = split_rows(range(10), {"train": 0.7, "test": 0.3})
    >>> [len(r) for r in rows.values()], np.sort(np.concatenate(list(rows.values()))).tolist()
    ([7, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """
    sizes = split_sizes(fractions, len(keys))
    scores = [
        hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest() for key in keys
    ]
    order = sorted(range(len(keys)), key=lambda r: (scores[r], r))
    result, start = {}, 0
    for name, size in zip(fractions, sizes):
        rows = np.sort(np.asarray(order[start : start + size], dtype=np.int64))
        start += size
        if rows.size == 0:
            raise ValueError(
                f"Split {name!r} would be empty with {len(keys)} groups; "
                "use larger fractions or more data"
            )
        result[name] = rows
    return result
