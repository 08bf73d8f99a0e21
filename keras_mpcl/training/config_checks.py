"""How the value of each training-config key is checked: `ConfigError` and one check per kind.

Each check takes `(key, value)`, returns the value to keep (possibly
converted, e.g. `"yes"` to `True` for a boolean key) and raises a
`ConfigError` naming the key and the fix.
"""

import math

from keras_mpcl.validation import is_int
from keras_mpcl.validation import is_number


class ConfigError(ValueError):
    """A training config with an unknown key, a wrong type or a bad value."""


def fix_hint(key):
    """The sentence every config error ends with: where to fix `key`."""
    return f" Fix it in the config file or with `--set {key}=...`."


def bad_value(key, what, value):
    """The `ConfigError` for `key` whose `value` is not `what`.

    Examples:

    >>> print(bad_value("train.steps", "a positive int", 0))
    `train.steps` should be a positive int. Received: `train.steps` = 0. Fix it in the config file or with `--set train.steps=...`.
    """
    return ConfigError(
        f"`{key}` should be {what}. Received: `{key}` = {value!r}.{fix_hint(key)}"
    )


def int_at_least(minimum):
    """The check of an int >= `minimum` (bools are not ints here).

    Examples:

    >>> int_at_least(2)("data.group_size", 4)
    4
    """

    def check(key, value):
        if not is_int(value) or value < minimum:
            what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
            raise bad_value(key, what, value)
        return int(value)

    return check


def number(minimum=None, maximum=None, open_min=False):
    """The check of a finite number within the bounds (`open_min`: `> minimum`); returns a float."""

    def check(key, value):
        if not is_number(value):
            raise bad_value(key, "a number", value)
        value = float(value)
        low_ok = minimum is None or (value > minimum if open_min else value >= minimum)
        high_ok = maximum is None or value <= maximum
        if not (math.isfinite(value) and low_ok and high_ok):
            bounds = []
            if minimum is not None:
                bounds.append(f"{'>' if open_min else '>='} {minimum}")
            if maximum is not None:
                bounds.append(f"<= {maximum}")
            raise bad_value(key, "a finite number " + " and ".join(bounds), value)
        return value

    return check


_BOOL_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def boolean(key, value):
    """Checks a boolean; `yes` / `no`, `on` / `off`, `true` / `false` words are read as one."""
    # Words are read as booleans only for boolean keys (`tensorboard=yes`),
    # never by the override parser, so `anchor_language=no` stays Norwegian.
    if isinstance(value, str) and value.lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.lower()]
    if not isinstance(value, bool):
        raise bad_value(key, "true or false", value)
    return value


def bool_or_count(key, value):
    """Checks `true`, `false` or an int >= 0 (`0` is `false`).

    Examples:

    >>> bool_or_count("train.remat", 2), bool_or_count("train.remat", "yes")
    (2, True)
    """
    if is_int(value) and value >= 0:
        return int(value) or False
    try:
        return boolean(key, value)
    except ConfigError:
        raise bad_value(key, "true, false or an int >= 0", value) from None


def one_of(choices):
    """The check of a value among `choices`."""

    def check(key, value):
        if value not in choices:
            raise bad_value(key, f"one of {choices}", value)
        return value

    return check


def string(key, value):
    """Checks a string."""
    if not isinstance(value, str):
        raise bad_value(key, "a string", value)
    return value


def unset_or_one_of(choices):
    """The check of `""` or a value among `choices`."""

    # "" means "not set" because TOML has no null.
    def check(key, value):
        if value not in ("",) + tuple(choices):
            raise bad_value(key, f"\"\" (unset) or one of {choices}", value)
        return value

    return check


def language_list(key, value):
    """Checks a list of distinct language codes; `"it,pt"` is read as `["it", "pt"]`."""
    if isinstance(value, str):  # `--set data.held_out_languages=it,pt`
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise bad_value(key, "a list of language codes, e.g. [\"en\", \"de\"]", value)
    if len(set(value)) != len(value):
        raise bad_value(key, "a list of distinct language codes", value)
    return value


def languages(key, value):
    """[] (all), a list of codes, or a table {name: code in the files}."""
    if isinstance(value, dict):
        if not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in value.items()):
            raise bad_value(key, "a table {name = \"code in the files\"}", value)
        return dict(value)
    return language_list(key, value)


def fraction_or_count(key, value):
    """A float in (0, 1) (a fraction) or an int >= 1 (a count); 0 means none."""
    if is_int(value) and value >= 0:
        return int(value)
    if is_number(value) and 0 <= value < 1:
        return float(value)
    raise bad_value(key, "a fraction in [0, 1) or a count (int >= 0)", value)


def key_range(key, value):
    """Checks `[]` or `[start, stop]`, a range of group keys."""
    if value == []:
        return value
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(is_int(v) for v in value)
        or not 0 <= value[0] < value[1]
    ):
        raise bad_value(key, "[] or [start, stop] with 0 <= start < stop", value)
    return [int(v) for v in value]


def auto_or_bool(key, value):
    """Checks `"auto"`, `true` or `false`."""
    if value == "auto" or isinstance(value, bool):
        return value
    raise bad_value(key, "\"auto\", true or false", value)


def mesh_shape(key, value):
    """Checks `[]` or `[batch, model]`, a JAX device mesh."""
    if value == []:
        return value
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(is_int(v) and v >= 1 for v in value)
    ):
        raise bad_value(key, "[] or [batch, model] with positive ints", value)
    return [int(v) for v in value]


def table(key, value):
    """Checks a table (dict)."""
    if not isinstance(value, dict):
        raise bad_value(key, "a table of encoder settings", value)
    return dict(value)
