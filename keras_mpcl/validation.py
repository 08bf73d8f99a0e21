"""Argument checks shared by the library, with error messages naming the fix."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence


def is_int(value: object) -> bool:
    """Whether `value` is an int, NumPy's included; bools are not.

    Examples:

    >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value: object) -> bool:
    """Whether `value` is a real number, NumPy's included; bools are not.

    Examples:

    >>> is_number(0.05), is_number(np.float32(0.05)), is_number(2), is_number(False)
    (True, True, True, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_choice(name: str, value: object, choices: Sequence[object]) -> None:
    """Raises `ValueError` unless `value` is one of `choices`, naming them.

    Examples:

    >>> check_choice("margin", "ratio", ("ratio", "distance"))
    >>> check_choice("margin", "cosine", ("ratio", "distance"))
    Traceback (most recent call last):
    ...
    ValueError: `margin` should be one of ('ratio', 'distance'). Received: `margin` = 'cosine'
    """
    if value not in choices:
        raise ValueError(
            f"`{name}` should be one of {choices}. Received: `{name}` = {value!r}"
        )


def check_int(
    name: str, value: object, minimum: int = 1, what: str = "a positive int"
) -> None:
    """Raises `ValueError` unless `value` is an int (not a bool) >= `minimum`.

    Examples:

    >>> check_int("steps", 10)
    >>> check_int("seed", -1, minimum=0, what="a non-negative int")
    Traceback (most recent call last):
    ...
    ValueError: `seed` should be a non-negative int. Received: `seed` = -1
    """
    if not is_int(value) or value < minimum:
        raise ValueError(f"`{name}` should be {what}. Received: `{name}` = {value!r}")
