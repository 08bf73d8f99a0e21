"""`TrainingConfig`: the settings of one training run, from TOML/YAML plus overrides."""

import dataclasses
import difflib
import importlib.resources
import math
import os
import pathlib
import tomllib
import typing

OBJECTIVES = ("mpcl", "cl", "cl_symmetric")
# `loss.objective` -> the `anchors` of its single-positive pairs.
SINGLE_POSITIVE_ANCHORS = {"cl": "first", "cl_symmetric": "bidirectional"}
DATA_SOURCES = ("sample", "jsonl", "aligned_dir", "ntrex")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
SAMPLINGS = ("random", "fixed")
DEVICES = ("auto", "cpu")
DEFAULT_CONFIG = "default.toml"


class ConfigError(ValueError):
    """A training config with an unknown key, a wrong type or a bad value."""


def _fix(key):
    return f" Fix it in the config file or with `--set {key}=...`."


def _bad(key, what, value):
    return ConfigError(
        f"`{key}` should be {what}. Received: `{key}` = {value!r}.{_fix(key)}"
    )


# --------------------------------------------------------------- value checks


def _int(minimum):
    def check(key, value):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
            raise _bad(key, what, value)
        return value

    return check


def _float(minimum=None, maximum=None, open_min=False):
    def check(key, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(key, "a number", value)
        value = float(value)
        low_ok = minimum is None or (value > minimum if open_min else value >= minimum)
        high_ok = maximum is None or value <= maximum
        if not (math.isfinite(value) and low_ok and high_ok):
            bounds = []
            if minimum is not None:
                bounds.append(f"{'>' if open_min else '>='} {minimum}")
            if maximum is not None:
                bounds.append(f"<= {maximum}")
            raise _bad(key, "a finite number " + " and ".join(bounds), value)
        return value

    return check


_BOOL_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def _bool(key, value):
    # Words are read as booleans only for boolean keys (`tensorboard=yes`),
    # never by the override parser, so `anchor_language=no` stays Norwegian.
    if isinstance(value, str) and value.lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.lower()]
    if not isinstance(value, bool):
        raise _bad(key, "true or false", value)
    return value


def _choice(choices):
    def check(key, value):
        if value not in choices:
            raise _bad(key, f"one of {choices}", value)
        return value

    return check


def _str(key, value):
    if not isinstance(value, str):
        raise _bad(key, "a string", value)
    return value


def _optional_choice(choices):
    # "" means "not set" because TOML has no null.
    def check(key, value):
        if value not in ("",) + tuple(choices):
            raise _bad(key, f"\"\" (unset) or one of {choices}", value)
        return value

    return check


def _language_list(key, value):
    if isinstance(value, str):  # `--set data.held_out_languages=it,pt`
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _bad(key, "a list of language codes, e.g. [\"en\", \"de\"]", value)
    if len(set(value)) != len(value):
        raise _bad(key, "a list of distinct language codes", value)
    return value


def _languages(key, value):
    """[] (all), a list of codes, or a table {name: code in the files}."""
    if isinstance(value, dict):
        if not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in value.items()):
            raise _bad(key, "a table {name = \"code in the files\"}", value)
        return dict(value)
    return _language_list(key, value)


def _fraction_or_count(key, value):
    """A float in (0, 1) (a fraction) or an int >= 1 (a count); 0 means none."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(key, "a fraction in [0, 1) or a count (int >= 0)", value)
    if isinstance(value, float) and not 0 <= value < 1:
        raise _bad(key, "a fraction in [0, 1) or a count (int >= 0)", value)
    if isinstance(value, int) and value < 0:
        raise _bad(key, "a fraction in [0, 1) or a count (int >= 0)", value)
    return value


def _key_range(key, value):
    if value == []:
        return value
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or not 0 <= value[0] < value[1]
    ):
        raise _bad(key, "[] or [start, stop] with 0 <= start < stop", value)
    return value


def _jit(key, value):
    if value == "auto" or isinstance(value, bool):
        return value
    raise _bad(key, "\"auto\", true or false", value)


def _mesh_shape(key, value):
    if value == []:
        return value
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise _bad(key, "[] or [batch, model] with positive ints", value)
    return value


def _table(key, value):
    if not isinstance(value, dict):
        raise _bad(key, "a table of encoder settings", value)
    return dict(value)


def _field(default, check, doc):
    factory = (lambda: type(default)(default)) if isinstance(default, (list, dict)) else None
    metadata = {"check": check, "doc": doc}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# ------------------------------------------------------------------- sections


@dataclasses.dataclass
class DataSection:
    """`[data]`: the corpus, its train / held-out split and the batches."""

    source: str = _field("sample", _choice(DATA_SOURCES),
                         "sample (packaged), jsonl, aligned_dir or ntrex")
    path: str = _field("", _str, "file or folder of the corpus (relative to the working directory)")
    pattern: str = _field("*.{lang}.txt", _str, "aligned_dir file pattern with {lang}")
    languages: typing.Any = _field([], _languages,
                                   "[] (all), a list, or a table {name = code}")
    held_out_languages: list = _field([], _language_list,
                                      "languages not trained on, only evaluated")
    held_out: typing.Any = _field(0.25, _fraction_or_count,
                                  "fraction or count of groups held out for evaluation")
    held_out_range: list = _field([], _key_range,
                                  "[start, stop) of group keys held out instead (NTREX: [1800, 1997])")
    max_groups: int = _field(0, _int(0), "read at most this many groups (0 = all)")
    split_seed: int = _field(0, _int(0), "seed of the train / held-out split")
    group_size: int = _field(4, _int(2), "rows per group (MPCL: members per group)")
    groups_per_batch: int = _field(0, _int(0), "groups per batch (0: from batch_size)")
    batch_size: int = _field(32, _int(0), "sentences per batch (0: from groups_per_batch)")
    sampling: str = _field("random", _choice(SAMPLINGS), "member sampling of group_dataset")
    anchor_language: str = _field(
        "en", _str, "in every group and first, for every objective (\"\" = none: random "
        "languages; `cl` needs one)")


@dataclasses.dataclass
class EncoderSection:
    """`[encoder]`: what to train."""

    source: str = _field("auto", _str,
                         "auto, random, a keras-hub preset / hf:// handle, or a local folder")
    max_length: int = _field(64, _int(3), "maximum tokens per sentence")
    pooling: str = _field("", _optional_choice(("mean", "cls", "max")), "\"\" keeps the checkpoint's")
    projection_dim: int = _field(0, _int(0), "projection head size (0 = none)")
    random: dict = _field({}, _table, "EncoderConfig fields of a randomly initialised encoder")


@dataclasses.dataclass
class LossSection:
    """`[loss]`: MPCL or the single-positive baseline."""

    objective: str = _field("mpcl", _choice(OBJECTIVES),
                            "mpcl; cl: pairs, anchor language first, anchors='first'; "
                            "cl_symmetric: the same pairs both ways, anchors='bidirectional'")
    temperature: float = _field(0.05, _float(0.0, open_min=True), "softmax temperature")
    variant: str = _field("supcon", _choice(("supcon", "independent", "pooled")), "MPCL variant")
    anchors: str = _field("all", _choice(("all", "first", "bidirectional")),
                          "which rows are anchors (MultiPositiveContrastiveLoss)")
    margin: float = _field(0.0, _float(0.0), "additive margin on positives")
    gather_across_replicas: typing.Any = _field(
        "auto", _jit, "share negatives across replicas: auto, true or false")


@dataclasses.dataclass
class OptimizerSection:
    """`[optimizer]`: AdamW with linear warmup then linear decay."""

    learning_rate: float = _field(2e-5, _float(0.0, open_min=True), "peak learning rate")
    random_init_learning_rate: float = _field(
        0.0, _float(0.0), "peak learning rate of a randomly initialised encoder (0 = learning_rate)")
    end_learning_rate: float = _field(0.0, _float(0.0), "learning rate after the last step")
    warmup: typing.Any = _field(0.1, _fraction_or_count, "warmup: fraction of steps or a count")
    weight_decay: float = _field(0.01, _float(0.0), "AdamW decoupled weight decay")
    clipnorm: float = _field(1.0, _float(0.0), "global gradient norm clip (0 = off)")


@dataclasses.dataclass
class TrainSection:
    """`[train]`: length, checkpoints, hardware options."""

    steps: int = _field(100, _int(1), "optimizer steps in total")
    checkpoint_every: int = _field(25, _int(1), "steps between backups (a Keras epoch)")
    seed: int = _field(0, _int(0), "seed of initialisation, data order and dropout")
    precision: str = _field("float32", _choice(PRECISIONS), "dtype policy")
    jit_compile: typing.Any = _field("auto", _jit, "auto (Keras': jax.jit; XLA on TF with an accelerator; eager torch), true, false")
    device: str = _field("auto", _choice(DEVICES), "auto, or cpu to hide accelerators")
    strategy: str = _field("none", _str, "keras_mpcl.distribution.configure strategy")
    simulate_cpu_devices: int = _field(
        0, _int(0), "split the CPU into N devices (TensorFlow / JAX dry runs; 0 = off)")
    mesh_shape: list = _field([], _mesh_shape, "JAX [batch, model] device mesh ([] = all devices on batch)")
    tpu: str = _field("", _str, "TensorFlow TPU name or address (\"local\" on a TPU VM; \"\" = TPU_NAME)")
    communication: str = _field("auto", _choice(("auto", "ring", "nccl")),
                                "MultiWorkerMirroredStrategy collectives")
    verbose: int = _field(1, _choice((0, 1, 2)), "Keras progress: 0 silent, 1 bar, 2 one line per epoch")
    tensorboard: bool = _field(True, _bool, "write TensorBoard logs")
    remat: bool = _field(False, _bool, "recompute transformer layers in the backward pass: less memory, more compute")
    length_buckets: int = _field(1, _int(1), "encode each batch in N chunks of similar length (less padding work; jit_compile=false on TF/JAX)")


@dataclasses.dataclass
class EvalSection:
    """`[eval]`: held-out retrieval before / after training and during it."""

    before_after: bool = _field(True, _bool, "held-out retrieval before and after training")
    plot: bool = _field(True, _bool, "write retrieval_before_after.png")
    every_steps: int = _field(0, _int(0), "also evaluate every N steps during fit (0 = off)")
    batch_size: int = _field(64, _int(1), "encoding batch size")


SECTIONS = {
    "data": DataSection,
    "encoder": EncoderSection,
    "loss": LossSection,
    "optimizer": OptimizerSection,
    "train": TrainSection,
    "eval": EvalSection,
}


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
    keras_mpcl.training.config.ConfigError: `data.group_size` should be an int >= 2. Received: `data.group_size` = 1. Fix it in the config file or with `--set data.group_size=...`.
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
            raise _bad("output_dir", "a non-empty path", self.output_dir)
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
                f"`optimizer.learning_rate` = {opt.learning_rate}.{_fix('optimizer.end_learning_rate')}"
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
                f"`data.anchor_language` = \"\".{_fix('data.anchor_language')}"
            )
        if data.anchor_language and isinstance(data.languages, list) and data.languages:
            if data.anchor_language not in data.languages:
                raise ConfigError(
                    f"`data.anchor_language` = {data.anchor_language!r} is not among "
                    f"`data.languages` = {data.languages}; every group holds it (set it "
                    f"to \"\" for groups of random languages).{_fix('data.anchor_language')}"
                )
        if data.anchor_language and data.anchor_language in data.held_out_languages:
            raise ConfigError(
                f"`data.anchor_language` = {data.anchor_language!r} is held out "
                f"(`data.held_out_languages` = {data.held_out_languages}), but every "
                f"training group holds it.{_fix('data.anchor_language')}"
            )
        if self.encoder.source == "random" and not self.encoder.random:
            pass  # EncoderConfig defaults apply.
        if self.encoder.random:
            from keras_mpcl.models import EncoderConfig

            try:
                EncoderConfig.from_dict(self.encoder.random)
            except (ValueError, TypeError) as error:
                raise ConfigError(
                    f"`encoder.random`: {error}.{_fix('encoder.random.<key>')}"
                ) from error

    # ------------------------------------------------------------ derived

    def effective(self):
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

    def warmup_steps(self):
        """Warmup length in steps: `optimizer.warmup` as a fraction or a count."""
        warmup = self.optimizer.warmup
        if isinstance(warmup, float):
            return int(round(warmup * self.train.steps))
        return warmup

    # ------------------------------------------------------- construction

    @classmethod
    def from_dict(cls, config):
        """Builds a config from nested dicts, rejecting unknown keys."""
        if not isinstance(config, dict):
            raise ConfigError(
                f"A training config should be a table of sections. Received: "
                f"{type(config).__name__}"
            )
        unknown = sorted(set(config) - set(SECTIONS) - {"output_dir"})
        if unknown:
            raise ConfigError(_unknown_message(unknown[0], list(SECTIONS) + ["output_dir"], ""))
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
                raise ConfigError(_unknown_message(bad[0], known, f"{name}."))
            sections[name] = section_cls(**values)
        kwargs = {"output_dir": config["output_dir"]} if "output_dir" in config else {}
        return cls(**sections, **kwargs)

    def to_dict(self):
        """The config as nested dicts (what `from_dict` reads back)."""
        return dataclasses.asdict(self)

    def with_overrides(self, overrides):
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
    def describe():
        """Every key with its default and meaning, one per line."""
        lines = ["output_dir = \"runs/keras-mpcl\"  # where the run writes"]
        for name, section_cls in SECTIONS.items():
            lines.append(f"[{name}]")
            for field in dataclasses.fields(section_cls):
                default = field.default_factory() if field.default is dataclasses.MISSING else field.default
                lines.append(f"{field.name} = {_toml_value(default)}  # {field.metadata['doc']}")
        return "\n".join(lines)


def _unknown_message(key, known, prefix):
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
    raise ConfigError(_unknown_message(key, known, ""))


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


# ------------------------------------------------------------------ loading


def read_config_file(path):
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


def default_config_path():
    """Path of the packaged default config (the main job's)."""
    resource = importlib.resources.files("keras_mpcl").joinpath("configs", DEFAULT_CONFIG)
    return pathlib.Path(str(resource))


def load_config(path=None, overrides=()):
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


def to_toml(config):
    """The config as TOML text that `load_config` reads back unchanged."""
    values = config.to_dict()
    lines = [f"output_dir = {_toml_value(values.pop('output_dir'))}"]
    for name, section in values.items():
        lines.append(f"\n[{name}]")
        for key, value in section.items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def write_config(config, path):
    """Writes `to_toml(config)` to `path`; returns the path."""
    path = pathlib.Path(os.fspath(path))
    path.write_text(to_toml(config), encoding="utf-8")
    return path
