"""The recipe configs parse, and the paper's data selection reads NTREX-128 as intended."""

import pathlib

import pytest

from keras_mpcl.training import load_config
from keras_mpcl.training import data as run_data_lib

# NumPy / tf.data / Python only: scripts/test.sh runs these once.
pytestmark = pytest.mark.backend_independent

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "recipes" / "configs"
XNLI = ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]


# The configs of `recipes/train_mpcl.py` (recipes/distributed/ has its own format).
TRAINING_CONFIGS = ("cpu_smoke.toml", "paper_gpu.toml", "paper_tpu.toml", "sample_minilm.toml")


def test_every_recipe_config_loads():
    for name in TRAINING_CONFIGS:
        config = load_config(CONFIGS / name)
        assert config.train.steps % config.train.checkpoint_every == 0, name
    paper = load_config(CONFIGS / "paper_gpu.toml")
    assert (paper.optimizer.learning_rate, paper.loss.temperature, paper.encoder.max_length) == (
        1e-5, 0.05, 64
    )
    assert paper.data.batch_size == 128
    assert paper.with_overrides(["objective=cl"]).effective()["groups_per_batch"] == 64


def test_paper_data_holds_out_italian_and_the_last_lines(shared_data):
    config = load_config(
        CONFIGS / "paper_gpu.toml", [f"data.path={shared_data / 'ntrex128'}"]
    )
    groups = run_data_lib.read_groups(config.data)
    run_data = run_data_lib.split_groups(groups, config.data)
    assert sorted(run_data.train_languages) == XNLI
    # Lines 0-1799 train; a few repeated sentences are merged into one group.
    assert 1790 <= len(run_data.train) <= 1800
    assert len(run_data.train) + len(run_data.held_out) == len(groups)
    held_out = run_data.held_out_texts()
    assert sorted(held_out) == sorted(XNLI + ["it"])
    assert len(held_out["it"]) == 197
