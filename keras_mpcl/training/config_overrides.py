"""`--set key=value` overrides: dotted or bare keys, values read as TOML."""

import dataclasses
import difflib
import tomllib

from keras_mpcl.training.config_checks import ConfigError
from keras_mpcl.training.config_sections import SECTIONS


def unknown_key_message(key, known, prefix):
    """The error for an unknown key: the closest known key and the known keys."""
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" Did you mean `{prefix}{close[0]}`?" if close else ""
    return (
        f"Unknown config key `{prefix}{key}`.{hint} Known keys"
        f"{' in [' + prefix[:-1] + ']' if prefix else ''}: {', '.join(known)}"
    )


def resolve_key(key):
    """Splits a dotted key; a bare field name is looked up in every section.

    Examples:

    >>> resolve_key("temperature"), resolve_key("encoder.random.hidden_dim")
    (['loss', 'temperature'], ['encoder', 'random', 'hidden_dim'])
    """
    parts = [p.strip() for p in key.split(".")]
    if not all(parts):
        raise ConfigError(f"Malformed config key {key!r}; use e.g. `loss.temperature`.")
    if len(parts) > 1 or parts[0] == "output_dir":
        return parts
    owners = [
        name for name, cls in SECTIONS.items()
        if parts[0] in {f.name for f in dataclasses.fields(cls)}
    ]
    if len(owners) == 1:
        return [owners[0], parts[0]]
    if owners:
        raise ConfigError(
            f"Config key `{key}` is ambiguous: it exists in {owners}. Write it in "
            f"full, e.g. `--set {owners[0]}.{key}=...`."
        )
    known = sorted({f.name for cls in SECTIONS.values() for f in dataclasses.fields(cls)})
    raise ConfigError(unknown_key_message(key, known, ""))


def parse_override(item):
    """Parses `key=value`; the value is read as a TOML value, else as a string.

    Examples:

    >>> parse_override("optimizer.learning_rate=1e-5")
    (['optimizer', 'learning_rate'], 1e-05)
    >>> parse_override("loss.objective=cl"), parse_override("data.languages=[\\"en\\", \\"de\\"]")
    ((['loss', 'objective'], 'cl'), (['data', 'languages'], ['en', 'de']))
    >>> parse_override("data.languages=[en, de]"), parse_override("data.anchor_language=no")
    ((['data', 'languages'], ['en', 'de']), (['data', 'anchor_language'], 'no'))
    """
    key, sep, raw = str(item).partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"An override should be `key=value`, e.g. `--set loss.temperature=0.1`. "
            f"Received: {item!r}"
        )
    return key.strip().split("."), _parse_value(raw.strip())


def _parse_value(raw):
    # As in the config file, only TOML's `true` / `false` are booleans:
    # `anchor_language=no` is Norwegian. Beyond TOML, a bare word is a string
    # (`objective=cl`, `source=/path`), and so is each bare word of an array
    # (`languages=[en, de]`), which spares quoting in the shell.
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    if raw.startswith("[") and raw.endswith("]"):
        inner = raw[1:-1].strip()
        return [_parse_value(item.strip()) for item in inner.split(",")] if inner else []
    return raw
