"""Argument checks shared by the library, with error messages naming the fix."""

import numpy as np


def check_choice(name, value, choices):
    """Raises `ValueError` unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"`{name}` should be one of {choices}. Received: `{name}` = {value!r}"
        )


def check_int(name, value, minimum=1, what="a positive int"):
    """Raises `ValueError` unless `value` is an int (not a bool) >= `minimum`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < minimum
    ):
        raise ValueError(f"`{name}` should be {what}. Received: `{name}` = {value!r}")
