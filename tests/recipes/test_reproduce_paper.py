"""Plumbing of recipes/reproduce_paper.py on tiny settings (tiny random encoder)."""

import importlib.util
import json
import math

import numpy as np
import pytest
from conftest import REPO_ROOT
from keras import ops

SCRIPT = REPO_ROOT / "recipes" / "reproduce_paper.py"


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("reproduce_paper", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_schedule_keras_and_python_agree(recipe):
    schedule = recipe.WarmupLinearDecay(1e-3, 2, 10)
    keras_values = [float(ops.convert_to_numpy(schedule(step))) for step in range(11)]
    python_values = [1e-3 * schedule.factor(step) for step in range(11)]
    np.testing.assert_allclose(keras_values, python_values, rtol=1e-6)
    assert keras_values[1] == pytest.approx(1e-3)  # peak at the end of warm-up
    assert keras_values[10] == 0.0


def test_split_pairs_separates_seen_and_unseen(recipe):
    result = {"languages": ["a", "b", "u"],
              "matrix": [[math.nan, 1.0, 0.0], [0.5, math.nan, 0.0], [0.2, 0.2, math.nan]]}
    seen, unseen = recipe.split_pairs(result, ["a", "b"])
    assert seen == pytest.approx(0.75)
    assert unseen == pytest.approx(0.1)


def test_summary_and_tables(recipe, tmp_path):
    runs = [{"arm": "cl", "seed": s, "train_seconds": 1.0, "losses": [2.0, 1.0],
             "metrics": {"ntrex_seen": v}} for s, v in [(0, 0.5), (1, 0.7)]]
    summary = recipe.summarize(runs)
    assert summary["cl"]["ntrex_seen"]["mean"] == pytest.approx(0.6)
    assert summary["cl"]["ntrex_seen"]["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    args = recipe.parse_args(["--output", str(tmp_path)])
    recipe.write_tables(summary, args, tmp_path, 4)
    table = (tmp_path / "results.md").read_text()
    assert "| cl | 2 | 60.0 ± 14.1 | — |" in table
    assert json.loads((tmp_path / "results.json").read_text())["best_group_size"] == 4


def test_rejects_batch_not_divisible_by_group_size(recipe):
    with pytest.raises(SystemExit):
        recipe.parse_args(["--batch", "20", "--group-sizes", "3"])


@pytest.mark.shared_data
@pytest.mark.one_backend
def test_tiny_end_to_end_and_resume(recipe, shared_data, tmp_path):
    argv = ["--data-dir", str(shared_data), "--output", str(tmp_path), "--encoder", "tiny",
            "--arms", "cl", "supcon", "--group-sizes", "3", "--seeds", "0",
            "--steps", "2", "--batch", "6", "--max-length", "8", "--eval-seen", "en", "de",
            "--eval-ntrex", "6", "--eval-sib", "6", "--sib-train", "14",
            "--sts17-pairs", "4", "--stsb-pairs", "4", "--dev-lines", "4"]
    summary = recipe.main(argv)
    assert sorted(summary) == ["cl", "supcon-g3"]
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert len(runs) == 2
    for run in runs:
        assert len(run["losses"]) == 2 and all(np.isfinite(run["losses"]))
        for key, _ in recipe.METRICS:
            value = run["metrics"][key]
            assert -1.0 <= value <= 1.0, (key, value)
    assert "dev_ntrex" in runs[1]["metrics"]  # supcon runs are scored on the dev slice
    for name in ("results.md", "results.json", "results.csv", "results.png", "loss.png"):
        assert (tmp_path / name).stat().st_size > 0
    recipe.main(argv)  # a second call resumes: nothing is trained again
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 2


@pytest.mark.shared_data
def test_mpcl_groups_hold_english_unless_random(recipe, shared_data):
    train, _ = recipe.load_training_groups(shared_data, 4)
    english = set(train.texts("en"))

    def groups_with_english(mode):
        args = recipe.parse_args(["--batch", "24", "--mpcl-groups", mode])
        texts, ids = next(iter(recipe.batches(train, recipe.mpcl_arm("supcon", 3), args, 0)))
        texts = [t.decode() for t in ops.convert_to_numpy(texts)]
        ids = ops.convert_to_numpy(ids)
        assert (ids >= 0).all() and len(set(ids.tolist())) == 8
        return sum(texts[g] in english for g in range(0, 24, 3))  # first member of each group

    assert groups_with_english("with-english") == 8
    assert groups_with_english("random") < 8
