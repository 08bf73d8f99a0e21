"""Plumbing of recipes/paper (`python recipes/reproduce_paper.py`) on tiny settings."""

import json
import math
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT
from keras import ops

from keras_mpcl.training import data as run_data_lib

TINY_RUN = ["--encoder", "tiny", "--group-sizes", "3", "--steps", "2", "--batch", "6",
            "--max-length", "8", "--eval-seen", "en", "de", "--eval-ntrex", "6",
            "--eval-sib", "6", "--sib-train", "14", "--sts17-pairs", "4", "--stsb-pairs", "4",
            "--dev-lines", "4"]


@pytest.fixture(scope="module")
def recipe():
    sys.path.insert(0, str(REPO_ROOT / "recipes"))
    try:
        import paper
    finally:
        sys.path.remove(str(REPO_ROOT / "recipes"))
    return paper


def test_the_recipe_has_no_schedule_and_no_training_loop_of_its_own():
    # Issue #12: the recipe had its own WarmupLinearDecay and its own `fit` loop.
    sources = "\n".join(p.read_text() for p in (REPO_ROOT / "recipes" / "paper").glob("*.py"))
    assert "LearningRateSchedule" not in sources and ".fit(" not in sources
    assert "from keras_mpcl.training import train" in sources


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
def test_tiny_end_to_end_resume_and_a_fresh_encoder_per_run(recipe, shared_data, tmp_path):
    def run(arms, folder):
        argv = ["--data-dir", str(shared_data), "--output", str(tmp_path / folder),
                "--arms", *arms, "--seeds", "0", *TINY_RUN]
        return argv, recipe.main(argv)

    argv, summary = run(["supcon", "cl"], "both")
    assert sorted(summary) == ["cl", "supcon-g3"]
    lines = (tmp_path / "both" / "runs.jsonl").read_text().splitlines()
    runs = {r["arm"]: r for r in map(json.loads, lines)}
    assert len(lines) == 2 and sorted(runs) == ["cl", "supcon-g3"]
    for run_result in runs.values():
        assert len(run_result["losses"]) == 2 and all(np.isfinite(run_result["losses"]))
        for key, _ in recipe.METRICS:
            value = run_result["metrics"][key]
            assert -1.0 <= value <= 1.0, (key, value)
    assert "dev_ntrex" in runs["supcon-g3"]["metrics"]  # supcon runs are scored on the dev slice
    for name in ("results.md", "results.json", "results.csv", "results.png", "loss.png"):
        assert (tmp_path / "both" / name).stat().st_size > 0
    recipe.main(argv)  # a second call resumes: nothing is trained again
    assert len((tmp_path / "both" / "runs.jsonl").read_text().splitlines()) == 2

    # Issue #12: one compiled model per loss was reused across runs, so a run's
    # dropout masks (and numbers) depended on the runs before it in the process.
    run(["cl"], "alone")
    alone = json.loads((tmp_path / "alone" / "runs.jsonl").read_text().splitlines()[0])
    assert runs["cl"]["losses"] == alone["losses"]
    assert runs["cl"]["metrics"] == alone["metrics"]


@pytest.mark.shared_data
def test_mpcl_groups_hold_english_unless_random(recipe, shared_data):
    def groups_with_english(mode):
        args = recipe.parse_args(["--data-dir", str(shared_data), "--batch", "24",
                                  "--mpcl-groups", mode, "--dev-lines", "4"])
        config = recipe.run_config(args, recipe.settings.mpcl_arm("supcon", 3), seed=0)
        run_data = run_data_lib.split_groups(run_data_lib.read_groups(config.data), config.data)
        english = set(run_data.train.texts("en"))
        texts, ids = next(iter(run_data_lib.training_dataset(run_data, config)))
        texts = [t.decode() for t in ops.convert_to_numpy(texts)]
        ids = ops.convert_to_numpy(ids)
        assert (ids >= 0).all() and len(set(ids.tolist())) == 8
        assert max(int(k) for k in run_data.train.keys) < 1796  # the dev tail and evaluation lines stay out
        return sum(texts[g] in english for g in range(0, 24, 3))  # first member of each group

    assert groups_with_english("with-english") == 8
    assert groups_with_english("random") < 8
