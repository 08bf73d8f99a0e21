"""Argument checks shared by the library, with error messages naming the fix."""

import numbers

import numpy as np


def is_int(value):
    """Whether `value` is an int, NumPy's included; bools are not.

    Examples:

    >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value):
    """Whether `value` is a real number, NumPy's included; bools are not.

    Examples:

    >>> is_number(0.05), is_number(np.float32(0.05)), is_number(2), is_number(False)
    (True, True, True, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_choice(name, value, choices):
    """Raises `ValueError` unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"`{name}` should be one of {choices}. Received: `{name}` = {value!r}"
        )


def check_int(name, value, minimum=1, what="a positive int"):
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
