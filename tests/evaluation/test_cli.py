import argparse
import json

import pytest

from keras_mpcl.evaluation.cli import add_evaluate_arguments
from keras_mpcl.evaluation.cli import main
from keras_mpcl.evaluation.cli import run_evaluate
from tests.evaluation.helpers import bag_of_chars
from tests.evaluation.test_report import make_fixtures


def _parse(argv):
    return add_evaluate_arguments(argparse.ArgumentParser()).parse_args(argv)


def test_run_evaluate_with_a_fake_encoder(tmp_path, capsys):
    paths = make_fixtures(tmp_path)
    output = tmp_path / "report.json"
    args = _parse(
        [
            "--model",
            "unused",
            "--task",
            f"tatoeba={paths['tatoeba']}",
            "--task",
            f"ntrex={paths['ntrex']}",
            "--ntrex-lines",
            "1:3",
            "--languages",
            "deu",
            "eng",
            "--output",
            str(output),
        ]
    )
    report = run_evaluate(args, encoder=bag_of_chars)
    assert json.loads(output.read_text()) == report
    assert report["tatoeba"]["per_language"] == {"deu": 100.0}
    assert report["ntrex"]["languages"] == ["deu", "eng"]
    assert (tmp_path / "report.ntrex_heatmap.png").is_file()
    assert '"output"' in capsys.readouterr().out


def test_cli_end_to_end_with_a_saved_preset(tiny_text_embedder, tmp_path):
    preset = tmp_path / "preset"
    tiny_text_embedder.save_to_preset(str(preset))
    paths = make_fixtures(tmp_path)
    output = tmp_path / "out" / "report.json"
    assert (
        main(
            [
                "--model",
                str(preset),
                "--task",
                f"sts17={paths['sts17']}",
                "--output",
                str(output),
                "--no-plots",
            ]
        )
        == 0
    )
    report = json.loads(output.read_text())
    assert list(report["sts17"]["per_language"]) == ["en-en"]
    assert -100.0 <= report["sts17"]["mean"] <= 100.0
    assert output.with_suffix(".csv").is_file()
    assert not (output.parent / "report.sts17.png").exists()


# Once (under TensorFlow): the scores follow from the embeddings, whose equality
# to sentence-transformers' every backend checks in tests/models/test_encode.py.
@pytest.mark.one_backend
def test_evaluate_agrees_with_sentence_transformers(shared_data, tmp_path):
    """`evaluate` on the offline MiniLM equals an independent sentence-transformers run."""
    from sentence_transformers import SentenceTransformer

    from keras_mpcl.evaluation import evaluate_tasks
    from keras_mpcl.evaluation.cli import load_encoder
    from keras_mpcl.models import offline_minilm_path

    folder = offline_minilm_path()
    task = {"ntrex": shared_data / "ntrex128"}
    languages = ["eng", "fra", "rus"]
    ours = evaluate_tasks(load_encoder(folder), task, languages=languages,
                          ntrex_lines=(1800, 1860))["ntrex"]
    model = SentenceTransformer(folder, device="cpu")
    theirs = evaluate_tasks(lambda texts: model.encode(list(texts), batch_size=32), task,
                            languages=languages, ntrex_lines=(1800, 1860))["ntrex"]
    assert set(ours["per_language"]) == set(languages)
    for language in languages:
        assert abs(ours["per_language"][language] - theirs["per_language"][language]) <= 0.5
