"""`TrainingConfig`: the settings of one training run, from TOML/YAML plus overrides.

The keys, defaults and per-key checks are in `config_sections` and
`config_checks`, the `--set key=value` parsing in `config_overrides`; here are
the checks across keys, the derived settings and the config files.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import math
import os
import pathlib
import tomllib
from typing import TYPE_CHECKING

from keras_mpcl.training.config_checks import ConfigError
from keras_mpcl.training.config_checks import bad_value
from keras_mpcl.training.config_checks import fix_hint
from keras_mpcl.training.config_overrides import parse_override
from keras_mpcl.training.config_overrides import resolve_key
from keras_mpcl.training.config_overrides import unknown_key_message
from keras_mpcl.training.config_sections import SECTIONS
from keras_mpcl.training.config_sections import SINGLE_POSITIVE_ANCHORS
from keras_mpcl.training.config_sections import DataSection
from keras_mpcl.training.config_sections import EncoderSection
from keras_mpcl.training.config_sections import EvalSection
from keras_mpcl.training.config_sections import LossSection
from keras_mpcl.training.config_sections import OptimizerSection
from keras_mpcl.training.config_sections import TrainSection

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from keras_mpcl.typing import PathLike

DEFAULT_CONFIG = "default.toml"


@dataclasses.dataclass
class TrainingConfig:
    """Everything one training run needs, validated, with clear errors.

    A config is a TOML (or YAML) document with the tables `[data]`,
    `[encoder]`, `[loss]`, `[optimizer]`, `[train]`, `[eval]` and an
    optional top-level `output_dir`; every key has a default (see
    `describe()`), so a file only lists what differs. Values are checked on
    creation and every error names the key and the fix. Every group holds
    `data.anchor_language`, first (`""`: groups of random languages).
    `objective = "cl"` in `[loss]` turns MPCL into the single-positive
    baseline: groups of 2, the anchor language first, `anchors = "first"`;
    `"cl_symmetric"` is the same pairs in both directions (`anchors =
    "bidirectional"`, as LaBSE trains).

    Args:
        data: `DataSection`. Defaults to the packaged sample corpus.
        encoder: `EncoderSection`. Defaults to `source = "auto"`.
        loss: `LossSection`. Defaults to MPCL, temperature 0.05.
        optimizer: `OptimizerSection`. Defaults to AdamW, lr 2e-5.
        train: `TrainSection`. Defaults to 100 steps on one device.
        eval: `EvalSection`. Defaults to before/after retrieval and a plot.
        output_dir: str. Where the run writes. Defaults to `"runs/keras-mpcl"`.

    Examples:

    >>> config = TrainingConfig.from_dict({"loss": {"objective": "cl"}})
    >>> config.with_overrides(["train.steps=50", "temperature=0.1"]).loss.temperature
    0.1
    >>> config.effective()["group_size"], config.effective()["anchors"]
    (2, 'first')
    >>> TrainingConfig.from_dict({"data": {"group_size": 1}})
    Traceback (most recent call last):
    ...
    keras_mpcl.training.config_checks.ConfigError: `data.group_size` should be an int >= 2. Received: `data.group_size` = 1. Fix it in the config file or with `--set data.group_size=...`.
    """

    data: DataSection = dataclasses.field(default_factory=DataSection)
    encoder: EncoderSection = dataclasses.field(default_factory=EncoderSection)
    loss: LossSection = dataclasses.field(default_factory=LossSection)
    optimizer: OptimizerSection = dataclasses.field(default_factory=OptimizerSection)
    train: TrainSection = dataclasses.field(default_factory=TrainSection)
    eval: EvalSection = dataclasses.field(default_factory=EvalSection)
    output_dir: str = "runs/keras-mpcl"

    def __post_init__(self):
        if not isinstance(self.output_dir, str) or not self.output_dir:
            raise bad_value("output_dir", "a non-empty path", self.output_dir)
        for name, section_cls in SECTIONS.items():
            section = getattr(self, name)
            if not isinstance(section, section_cls):
                raise TypeError(
                    f"`{name}` should be a {section_cls.__name__}. Received: "
                    f"{type(section).__name__}; use `TrainingConfig.from_dict`."
                )
            for field in dataclasses.fields(section):
                key = f"{name}.{field.name}"
                value = field.metadata["check"](key, getattr(section, field.name))
                setattr(section, field.name, value)
        self._check_consistency()

    def _check_consistency(self):
        data, train, opt = self.data, self.train, self.optimizer
        if (data.batch_size == 0) == (data.groups_per_batch == 0):
            raise ConfigError(
                "Set exactly one of `data.batch_size` (sentences) and "
                "`data.groups_per_batch` (groups); the other should be 0. Received: "
                f"`data.batch_size` = {data.batch_size}, `data.groups_per_batch` = "
                f"{data.groups_per_batch}. Fix it with e.g. `--set data.groups_per_batch=0`."
            )
        group_size = self.effective()["group_size"]
        if data.batch_size and data.batch_size % group_size:
            raise ConfigError(
                f"`data.batch_size` = {data.batch_size} sentences should be a multiple of "
                f"the group size {group_size} (whole groups per batch). Fix it with "
                f"`--set data.batch_size={max(group_size, data.batch_size // group_size * group_size)}`."
            )
        if train.steps % train.checkpoint_every:
            lower = max(train.checkpoint_every, train.steps // train.checkpoint_every * train.checkpoint_every)
            raise ConfigError(
                f"`train.steps` = {train.steps} should be a multiple of "
                f"`train.checkpoint_every` = {train.checkpoint_every}: each backup ends a "
                "Keras epoch of `checkpoint_every` steps, so that resumption restarts "
                f"exactly after it. Fix it with e.g. `--set train.steps={lower}` or "
                f"`--set train.checkpoint_every={math.gcd(train.steps, train.checkpoint_every)}`."
            )
        if self.warmup_steps() >= train.steps:
            raise ConfigError(
                f"`optimizer.warmup` = {opt.warmup} gives {self.warmup_steps()} warmup "
                f"steps, not fewer than `train.steps` = {train.steps}. Fix it with e.g. "
                "`--set optimizer.warmup=0.1`."
            )
        if opt.end_learning_rate > opt.learning_rate:
            raise ConfigError(
                f"`optimizer.end_learning_rate` = {opt.end_learning_rate} should not exceed "
                f"`optimizer.learning_rate` = {opt.learning_rate}.{fix_hint('optimizer.end_learning_rate')}"
            )
        if data.held_out_range and data.held_out:
            raise ConfigError(
                "Set either `data.held_out` (a random share of groups) or "
                "`data.held_out_range` (a range of group keys), not both. Received: "
                f"`data.held_out` = {data.held_out}, `data.held_out_range` = "
                f"{data.held_out_range}. Fix it with `--set data.held_out=0`."
            )
        if data.source != "sample" and not data.path:
            raise ConfigError(
                f"`data.source` = {data.source!r} reads files: set `data.path`. "
                f"Fix it with `--set data.path=...` (or use `data.source = \"sample\"`)."
            )
        single_positive = self.loss.objective in SINGLE_POSITIVE_ANCHORS
        if single_positive and not data.anchor_language:
            raise ConfigError(
                f"`loss.objective` = {self.loss.objective!r} pairs every sentence with the "
                "anchor language: `data.anchor_language` should name it. Received: "
                f"`data.anchor_language` = \"\".{fix_hint('data.anchor_language')}"
            )
        if data.anchor_language and isinstance(data.languages, list) and data.languages:
            if data.anchor_language not in data.languages:
                raise ConfigError(
                    f"`data.anchor_language` = {data.anchor_language!r} is not among "
                    f"`data.languages` = {data.languages}; every group holds it (set it "
                    f"to \"\" for groups of random languages).{fix_hint('data.anchor_language')}"
                )
        if data.anchor_language and data.anchor_language in data.held_out_languages:
            raise ConfigError(
                f"`data.anchor_language` = {data.anchor_language!r} is held out "
                f"(`data.held_out_languages` = {data.held_out_languages}), but every "
                f"training group holds it.{fix_hint('data.anchor_language')}"
            )
        if self.encoder.source == "random" and not self.encoder.random:
            pass  # EncoderConfig defaults apply.
        if self.encoder.random:
            from keras_mpcl.models import EncoderConfig

            try:
                EncoderConfig.from_dict(self.encoder.random)
            except (ValueError, TypeError) as error:
                raise ConfigError(
                    f"`encoder.random`: {error}.{fix_hint('encoder.random.<key>')}"
                ) from error

    # ------------------------------------------------------------ derived

    def effective(self) -> dict[str, Any]:
        """The settings the run uses after `loss.objective` is applied.

        Returns:
            dict with `group_size`, `groups_per_batch`, `anchors`,
            `anchor` (the data anchor language or None) and `changed`
            (a list of "key: old -> new" notes, for the log).
        """
        data, loss = self.data, self.loss
        group_size, anchors, changed = data.group_size, loss.anchors, []
        anchor = data.anchor_language or None
        if loss.objective in SINGLE_POSITIVE_ANCHORS:
            if group_size != 2:
                changed.append(f"data.group_size: {group_size} -> 2")
                group_size = 2
            pair_anchors = SINGLE_POSITIVE_ANCHORS[loss.objective]
            if anchors != pair_anchors:
                changed.append(f"loss.anchors: {anchors!r} -> {pair_anchors!r}")
                anchors = pair_anchors
        groups_per_batch = data.groups_per_batch or max(1, data.batch_size // group_size)
        return {
            "group_size": group_size,
            "groups_per_batch": groups_per_batch,
            "anchors": anchors,
            "anchor": anchor,
            "changed": changed,
        }

    def warmup_steps(self) -> int:
        """Warmup length in steps: `optimizer.warmup` as a fraction or a count."""
        warmup = self.optimizer.warmup
        if isinstance(warmup, float):
            return int(round(warmup * self.train.steps))
        return warmup

    # ------------------------------------------------------- construction

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> TrainingConfig:
        """Builds a config from nested dicts, rejecting unknown keys."""
        if not isinstance(config, dict):
            raise ConfigError(
                f"A training config should be a table of sections. Received: "
                f"{type(config).__name__}"
            )
        unknown = sorted(set(config) - set(SECTIONS) - {"output_dir"})
        if unknown:
            raise ConfigError(unknown_key_message(unknown[0], list(SECTIONS) + ["output_dir"], ""))
        sections = {}
        for name, section_cls in SECTIONS.items():
            values = config.get(name, {})
            if not isinstance(values, dict):
                raise ConfigError(
                    f"`{name}` should be a table (`[{name}]`). Received: `{name}` = "
                    f"{values!r}. Fix it in the config file."
                )
            known = [f.name for f in dataclasses.fields(section_cls)]
            bad = sorted(set(values) - set(known))
            if bad:
                raise ConfigError(unknown_key_message(bad[0], known, f"{name}."))
            sections[name] = section_cls(**values)
        kwargs = {"output_dir": config["output_dir"]} if "output_dir" in config else {}
        return cls(**sections, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The config as nested dicts (what `from_dict` reads back)."""
        return dataclasses.asdict(self)

    def with_overrides(self, overrides: Iterable[str] | None) -> TrainingConfig:
        """A copy with `key=value` overrides applied (see `parse_override`)."""
        config = self.to_dict()
        for item in overrides or ():
            path, value = parse_override(item)
            path = resolve_key(".".join(path))
            target = config
            for part in path[:-1]:
                target = target.setdefault(part, {})
                if not isinstance(target, dict):
                    raise ConfigError(f"`{'.'.join(path)}`: {part!r} is not a table.")
            target[path[-1]] = value
        return TrainingConfig.from_dict(config)

    @staticmethod
    def describe() -> str:
        """Every key with its default and meaning, one per line."""
        lines = ["output_dir = \"runs/keras-mpcl\"  # where the run writes"]
        for name, section_cls in SECTIONS.items():
            lines.append(f"[{name}]")
            for field in dataclasses.fields(section_cls):
                default = field.default_factory() if field.default is dataclasses.MISSING else field.default
                lines.append(f"{field.name} = {_toml_value(default)}  # {field.metadata['doc']}")
        return "\n".join(lines)


# ------------------------------------------------------------------ loading


def read_config_file(path: PathLike) -> dict[str, Any]:
    """Reads a TOML (`.toml`) or YAML (`.yaml` / `.yml`, needs PyYAML) file as a dict."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Config file not found: {path}. Pass an existing `.toml` or `.yaml` file "
            "to `--config`, or leave `--config` out to use the packaged default."
        )
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            with open(path, "rb") as file:
                return tomllib.load(file)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path} is not valid TOML: {error}") from error
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as error:
            raise ConfigError(
                f"{path} is YAML but PyYAML is not installed; `pip install pyyaml` "
                "or write the config as TOML."
            ) from error
        with open(path, encoding="utf-8") as file:
            try:
                loaded = yaml.safe_load(file)
            except yaml.YAMLError as error:
                raise ConfigError(f"{path} is not valid YAML: {error}") from error
        return loaded or {}
    raise ConfigError(
        f"Unknown config format {suffix!r} of {path}; use `.toml`, `.yaml` or `.yml`."
    )


def default_config_path() -> pathlib.Path:
    """Path of the packaged default config (the main job's)."""
    resource = importlib.resources.files("keras_mpcl").joinpath("configs", DEFAULT_CONFIG)
    return pathlib.Path(str(resource))


def load_config(path: PathLike | None = None, overrides: Iterable[str] = ()) -> TrainingConfig:
    """Loads a `TrainingConfig` from a file (default: the packaged one) plus overrides.

    Args:
        path: str, path or None. A `.toml` / `.yaml` file; `None` reads
            `keras_mpcl/configs/default.toml`. Defaults to `None`.
        overrides: sequence of `"key=value"` strings, applied in order;
            keys are dotted (`loss.temperature`) or bare when unique
            (`temperature`). Defaults to `()`.

    Returns:
        A validated `TrainingConfig`.

    Examples:

    >>> config = load_config(overrides=["train.steps=20", "checkpoint_every=10"])
    >>> config.data.source, config.train.steps
    ('sample', 20)
    """
    raw = read_config_file(default_config_path() if path is None else path)
    try:
        config = TrainingConfig.from_dict(raw)
    except ConfigError as error:
        raise ConfigError(f"{path or default_config_path()}: {error}") from None
    return config.with_overrides(overrides)


# ------------------------------------------------------------------ writing


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"Cannot write {value!r} to TOML")


def _toml_key(key):
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


def to_toml(config: TrainingConfig) -> str:
    """The config as TOML text that `load_config` reads back unchanged."""
    values = config.to_dict()
    lines = [f"output_dir = {_toml_value(values.pop('output_dir'))}"]
    for name, section in values.items():
        lines.append(f"\n[{name}]")
        for key, value in section.items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def write_config(config: TrainingConfig, path: PathLike) -> pathlib.Path:
    """Writes `to_toml(config)` to `path`; returns the path."""
    path = pathlib.Path(os.fspath(path))
    path.write_text(to_toml(config), encoding="utf-8")
    return path
