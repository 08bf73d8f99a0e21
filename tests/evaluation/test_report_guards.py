"""Issue #11 regression tests of `evaluate_tasks`, run under every backend (they are cheap)."""

import json

import pytest

from keras_mpcl.evaluation import evaluate_tasks
from tests.evaluation.helpers import bag_of_chars
from tests.evaluation.test_report import make_fixtures


def test_every_task_is_checked_before_encoding_and_finished_tasks_are_kept(tmp_path):
    paths = make_fixtures(tmp_path)
    calls = []

    def counting(texts):
        calls.append(len(texts))
        return bag_of_chars(texts)

    # The second task matches no language: nothing is encoded at all.
    with pytest.raises(ValueError, match="Task 'stsb': no language .* matches"):
        evaluate_tasks(counting, {"tatoeba": paths["tatoeba"], "stsb": paths["stsb"]},
                       languages=["deu", "eng"])
    assert calls == []
    with pytest.raises(ValueError, match="`lines` should select at least one line.*"
                                         "start 1997, stop 1800"):
        evaluate_tasks(counting, {"ntrex": paths["ntrex"]}, ntrex_lines="1997:1800")
    assert calls == []

    # A task failing while it runs leaves the finished ones written.
    def failing_on_sts(texts):
        if "the cats" in texts:
            raise RuntimeError("interrupted")
        return bag_of_chars(texts)

    output = tmp_path / "report.json"
    with pytest.raises(RuntimeError, match="interrupted"):
        evaluate_tasks(failing_on_sts, {"tatoeba": paths["tatoeba"], "sts17": paths["sts17"]},
                       output=output, plots=False)
    assert list(json.loads(output.read_text())) == ["tatoeba"]
