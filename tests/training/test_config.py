"""Tests of `TrainingConfig`: loading, overrides, type coercion and every error."""

import dataclasses

import pytest

from keras_mpcl.training import ConfigError
from keras_mpcl.training import TrainingConfig
from keras_mpcl.training import load_config
from keras_mpcl.training import to_toml
from keras_mpcl.training.config import read_config_file
from keras_mpcl.training.config_overrides import parse_override
from keras_mpcl.training.config_sections import SECTIONS

# NumPy / tf.data / Python only: scripts/test.sh runs these once.
pytestmark = pytest.mark.backend_independent


def test_packaged_default_is_the_main_job():
    config = load_config()
    assert config.data.source == "sample"
    assert config.encoder.source == "auto"
    assert config.loss.objective == "mpcl"
    assert config.train.steps % config.train.checkpoint_every == 0
    assert config.eval.before_after and config.eval.plot


def test_toml_round_trip(tmp_path):
    config = load_config(overrides=["data.languages=[\"en\", \"de\"]", "loss.temperature=0.1"])
    path = tmp_path / "config.toml"
    path.write_text(to_toml(config))
    assert load_config(path) == config


def test_yaml_file(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "config.yaml"
    path.write_text("loss:\n  objective: cl\ntrain:\n  steps: 40\n  checkpoint_every: 20\n")
    config = load_config(path)
    assert (config.loss.objective, config.train.steps) == ("cl", 40)


COERCIONS = [
    ("optimizer.learning_rate=1e-5", "optimizer", "learning_rate", 1e-5),
    ("learning_rate=3", "optimizer", "learning_rate", 3.0),  # int -> float
    ("train.steps=80", "train", "steps", 80),
    ("tensorboard=false", "train", "tensorboard", False),
    ("train.remat=2", "train", "remat", 2),
    ("train.remat=0", "train", "remat", False),
    ("train.remat=yes", "train", "remat", True),
    ("tensorboard=yes", "train", "tensorboard", True),
    ("objective=cl", "loss", "objective", "cl"),
    ("encoder.source=/tmp/some folder", "encoder", "source", "/tmp/some folder"),
    ("held_out_languages=it,pt", "data", "held_out_languages", ["it", "pt"]),
    ("data.languages=[\"en\", \"fr\"]", "data", "languages", ["en", "fr"]),
    ("data.languages=[en,fr]", "data", "languages", ["en", "fr"]),  # bare words, no quoting
    ("data.anchor_language=no", "data", "anchor_language", "no"),  # Norwegian, not False
    ("data.languages={en = \"eng\", de = \"deu\"}", "data", "languages", {"en": "eng", "de": "deu"}),
    ("jit_compile=false", "train", "jit_compile", False),
    ("warmup=0.2", "optimizer", "warmup", 0.2),
    ("warmup=5", "optimizer", "warmup", 5),
    ("encoder.random.hidden_dim=64", "encoder", "random", None),
]


def test_overrides_are_coerced():
    # One test for all cases: the autouse Keras-session fixture costs seconds each.
    for item, section, key, value in COERCIONS:
        config = load_config(overrides=["train.steps=100", item])
        got = getattr(getattr(config, section), key)
        if value is None:
            assert got["hidden_dim"] == 64 and got["num_layers"] == 2, item  # merged
        else:
            assert got == value and type(got) is type(value), (item, got)


def test_override_output_dir():
    assert load_config(overrides=["output_dir=/tmp/x"]).output_dir == "/tmp/x"


def test_baseline_flag_gives_anchored_pairs():
    config = load_config(overrides=["objective=cl"])
    effective = config.effective()
    assert effective["group_size"] == 2
    assert effective["anchors"] == "first"
    assert effective["anchor"] == config.data.anchor_language == "en"
    assert effective["changed"]  # the log says what the flag changed
    symmetric = load_config(overrides=["objective=cl_symmetric"]).effective()
    assert (symmetric["anchors"], symmetric["anchor"], symmetric["group_size"]) == (
        "bidirectional", "en", 2)


def test_anchor_language_applies_to_mpcl_too():
    mpcl = load_config().effective()
    assert (mpcl["anchors"], mpcl["anchor"], mpcl["group_size"]) == ("bidirectional", "en", 4)
    random_groups = load_config(overrides=['data.anchor_language=""']).effective()
    assert random_groups["anchor"] is None
    with pytest.raises(ConfigError, match="`data.anchor_language` should name it"):
        load_config(overrides=["objective=cl", 'data.anchor_language=""'])
    with pytest.raises(ConfigError, match="every training group holds it"):
        load_config(overrides=['data.held_out_languages=["en"]'])


def test_batch_size_in_sentences():
    config = load_config(overrides=["groups_per_batch=0", "data.batch_size=64"])
    assert config.effective()["groups_per_batch"] == 16
    # The baseline keeps the sentences per batch: 32 pairs.
    assert config.with_overrides(["objective=cl"]).effective()["groups_per_batch"] == 32


def test_describe_lists_every_key():
    text = TrainingConfig.describe()
    for name, section in SECTIONS.items():
        assert f"[{name}]" in text
        for field in dataclasses.fields(section):
            assert f"\n{field.name} = " in text


ERRORS = [
    (["train.remat=-1"], "`train.remat` should be true, false or an int >= 0. Received: `train.remat` = -1"),
    (["data.group_size=1"], "`data.group_size` should be an int >= 2. Received: `data.group_size` = 1"),
    (["data.grup_size=3"], "Unknown config key `data.grup_size`. Did you mean `data.group_size`?"),
    (["lerning_rate=1"], "Did you mean `learning_rate`?"),
    (["batch_size=8"], "`batch_size` is ambiguous: it exists in ['data', 'eval']"),
    (["source=jsonl"], "ambiguous"),
    (["loss.temperature=0"], "`loss.temperature` should be a finite number > 0.0"),
    (["loss.temperature=abc"], "`loss.temperature` should be a number. Received: `loss.temperature` = 'abc'"),
    (["loss.objective=triplet"], "`loss.objective` should be one of ('mpcl', 'cl', 'cl_symmetric')"),
    (["train.tensorboard=3"], "`train.tensorboard` should be true or false"),
    (["train.jit_compile=maybe"], "`train.jit_compile` should be \"auto\", true or false"),
    (["train.precision=float16"], "`train.precision` should be one of"),
    (["data.batch_size=64"], "Set exactly one of `data.batch_size`"),
    (["data.groups_per_batch=0", "data.batch_size=30"], "should be a multiple of the group size 4"),
    (["train.steps=70"], "`train.steps` = 70 should be a multiple of `train.checkpoint_every` = 20"),
    (["optimizer.warmup=60"], "warmup steps, not fewer than `train.steps`"),
    (["optimizer.warmup=1.5"], "`optimizer.warmup` should be a fraction in [0, 1) or a count"),
    (["optimizer.end_learning_rate=1"], "should not exceed `optimizer.learning_rate`"),
    (["data.held_out_range=[1800, 1997]"], "Set either `data.held_out`"),
    (["data.held_out_range=[5, 2]", "held_out=0"], "`data.held_out_range` should be [] or [start, stop]"),
    (["data.source=jsonl"], "reads files: set `data.path`"),
    (["data.source=csv"], "`data.source` should be one of"),
    (["data.languages=[\"en\", \"en\"]"], "distinct language codes"),
    (["objective=cl", "data.languages=[\"de\", \"fr\"]"], "`data.anchor_language` = 'en' is not among"),
    (["objective=cl", "held_out_languages=en"], "is held out"),
    (["encoder.random.hidden_dim=30", "encoder.random.num_heads=4"], "`encoder.random`: `hidden_dim` should be divisible"),
    (["encoder.random.depth=3"], "Unknown encoder config keys ['depth']"),
    (["encoder.pooling=avg"], "`encoder.pooling` should be \"\" (unset) or one of"),
    (["output_dir=\"\""], "`output_dir` should be a non-empty path"),
    (["no_equals_sign"], "An override should be `key=value`"),
    (["data..group_size=3"], "Malformed config key"),
]


def test_errors_name_the_key_and_the_fix():
    for overrides, message in ERRORS:
        with pytest.raises(ConfigError) as info:
            load_config(overrides=overrides)
        text = str(info.value)
        assert message in text, (overrides, text)
        # Value errors say how to fix them; unknown keys list the known ones.
        if text.startswith(("Unknown", "Config key", "An override", "Malformed")):
            assert "Known keys" in text or "e.g." in text, text
        else:
            assert "--set" in text or "Fix it" in text, text


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Config file not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(bad)
    other = tmp_path / "config.ini"
    other.write_text("")
    with pytest.raises(ConfigError, match="Unknown config format '.ini'"):
        read_config_file(other)
    section = tmp_path / "section.toml"
    section.write_text("[dataa]\nsource = \"sample\"\n")
    with pytest.raises(ConfigError, match=r"section.toml: Unknown config key `dataa`. Did you mean `data`"):
        load_config(section)
    scalar = tmp_path / "scalar.toml"
    scalar.write_text("loss = 3\n")
    with pytest.raises(ConfigError, match=r"`loss` should be a table"):
        load_config(scalar)


def test_parse_override_keeps_bare_words():
    assert parse_override("encoder.source=hf://sentence-transformers/LaBSE") == (
        ["encoder", "source"], "hf://sentence-transformers/LaBSE"
    )
