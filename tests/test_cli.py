"""End-to-end tests of the `keras-mpcl` command line: train, embed, evaluate."""

import json
import pathlib

import numpy as np
import pytest

from keras_mpcl import cli

TINY_TOML = """
[data]
source = "sample"
languages = ["en", "de", "fr"]
max_groups = 24
held_out = 6
group_size = 3
groups_per_batch = 4
batch_size = 0

[encoder]
source = "random"
max_length = 12

[encoder.random]
vocabulary_size = 200
num_layers = 1
num_heads = 2
hidden_dim = 16
intermediate_dim = 32
dropout = 0.0

[optimizer]
learning_rate = 1e-2
warmup = 1

[train]
steps = 4
checkpoint_every = 2
verbose = 0
tensorboard = false
"""


def test_train_embed_evaluate(tmp_path, capsys):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML)
    out = tmp_path / "run"
    assert cli.main(["train", "--config", str(config), "--output", str(out),
                     "--set", "eval.plot=false", "--set", "train.verbose=2"]) == 0
    printed = capsys.readouterr().out
    preset = out / "encoder"
    assert f"Trained encoder saved to: {preset}" in printed
    assert "groups read:" in printed and "text collisions:" in printed  # the corpus summary
    assert "Held-out retrieval accuracy:" in printed
    assert (preset / "task.json").is_file()

    lines = tmp_path / "lines.txt"
    lines.write_text("Good morning.\n\nBonjour.\n", encoding="utf-8")
    embeddings_path = tmp_path / "emb.npy"
    assert cli.main(["embed", "--model", str(preset), "--input", str(lines),
                     "--output", str(embeddings_path)]) == 0
    assert "1 blank line(s)" in capsys.readouterr().out
    embeddings = np.load(embeddings_path)
    assert embeddings.shape == (3, 16) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings[[0, 2]], axis=1), 1.0, atol=1e-5)

    tatoeba = tmp_path / "tatoeba"
    tatoeba.mkdir()
    (tatoeba / "tatoeba.deu-eng.deu").write_text("Guten Morgen.\nDanke.\nGute Nacht.\n")
    (tatoeba / "tatoeba.deu-eng.eng").write_text("Good morning.\nThank you.\nGood night.\n")
    report = tmp_path / "report.json"
    assert cli.main(["evaluate", "--model", str(preset), "--task", f"tatoeba={tatoeba}",
                     "--output", str(report), "--no-plots"]) == 0
    result = json.loads(report.read_text())
    assert 0.0 <= result["tatoeba"]["mean"] <= 100.0  # the report is in percent


def test_train_print_config_and_errors(tmp_path, capsys):
    assert cli.main(["train", "--print-config", "--set", "objective=cl",
                     "--output", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert 'objective = "cl"' in printed and f'output_dir = "{tmp_path}"' in printed
    assert cli.main(["train", "--list-keys"]) == 0
    assert "temperature = 0.05" in capsys.readouterr().out
    assert cli.main(["train", "--set", "data.group_size=1"]) == 2
    assert "`data.group_size` should be an int >= 2" in capsys.readouterr().err
    assert cli.main(["train", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "Config file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["embed", "--model", "x", "--output", "y.npy"])  # needs --input or --text
    assert cli.main(["embed", "--model", "x", "--input", str(tmp_path / "none.txt"),
                     "--output", "y.npy"]) == 2


def test_embed_missing_model_folder_says_so(tmp_path, capsys):
    missing = tmp_path / "no" / "such" / "folder"
    assert cli.main(["embed", "--model", str(missing), "--text", "hello",
                     "--output", str(tmp_path / "e.npy")]) == 2
    assert "No encoder folder at" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    """A tiny randomly initialised keras-mpcl encoder saved with `save_to_preset`."""
    import keras

    from keras_mpcl.models import build_encoder

    keras.utils.set_random_seed(0)
    texts = ["good morning", "bonjour", "guten morgen", "thank you", "merci", "danke"]
    encoder = build_encoder({"hidden_dim": 16, "num_layers": 1, "num_heads": 2,
                             "intermediate_dim": 32, "vocabulary_size": 80},
                            texts=texts, max_length=24)
    folder = tmp_path_factory.mktemp("preset") / "encoder"
    encoder.save_to_preset(str(folder))
    return folder


def test_embed_rows_match_lines_and_stream_in_chunks(tiny_preset, tmp_path, monkeypatch, capsys):
    import importlib

    from keras_mpcl.models import build_encoder
    from keras_mpcl.models import encode

    # U+2028, U+0085, \v and \f stay inside their line; \r\n and a BOM go.
    lines = ["a\u2028b", "c\x85d", "e\vf", "g\fh", "", "bonjour", "merci\r", "x" * 300]
    path = tmp_path / "lines.txt"
    path.write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode("utf-8"))
    # Several chunks of the input, as a long file would be read.
    monkeypatch.setattr(importlib.import_module("keras_mpcl.models.encode"),
                        "TOKENIZE_CHUNK", 3)
    output = tmp_path / "emb.npy"
    assert cli.main(["embed", "--model", str(tiny_preset), "--input", str(path),
                     "--output", str(output), "--batch-size", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"Wrote {len(lines)} x 16 embeddings" in printed and "sentences/s" in printed
    assert not output.with_name("emb.npy.partial").exists()
    expected_texts = [line.removesuffix("\r") for line in lines]
    expected = encode(build_encoder(str(tiny_preset)), expected_texts, batch_size=5)
    np.testing.assert_allclose(np.load(output), expected, atol=1e-5)


def test_embed_refuses_latin1_and_empty_input_in_one_line(tiny_preset, tmp_path, capsys):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    assert cli.main(["embed", "--model", str(tiny_preset), "--input", str(latin1),
                     "--output", str(tmp_path / "e.npy")]) == 2
    error = capsys.readouterr().err
    assert "latin1.txt, line 2" in error and "UTF-8" in error
    assert not (tmp_path / "e.npy").exists() and not (tmp_path / "e.npy.partial").exists()
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert cli.main(["embed", "--model", str(tiny_preset), "--input", str(empty),
                     "--output", str(tmp_path / "e.npy")]) == 2
    assert "Nothing to embed" in capsys.readouterr().err
    assert cli.main(["embed", "--model", str(tiny_preset), "--text", "a",
                     "--output", str(tmp_path / "e.npy"), "--batch-size", "0"]) == 2
    assert "`--batch-size` should be a positive int" in capsys.readouterr().err
    with pytest.raises(ValueError, match="Nothing to embed"):
        cli.main(["--debug", "embed", "--model", str(tiny_preset), "--input", str(empty),
                  "--output", str(tmp_path / "e.npy")])


def test_evaluate_and_embed_load_a_hugging_face_folder_alike(tmp_path):
    """`evaluate`, `embed` and Python all load through `build_encoder`, at one length."""
    from keras_mpcl.evaluation.cli import load_encoder
    from keras_mpcl.models import HFBertTokenizer
    from keras_mpcl.models import build_encoder
    from tests.models.hf_checkpoints import make_tiny_bert_checkpoint

    folder = make_tiny_bert_checkpoint(tmp_path / "st", max_seq_length=40)
    for source in (folder, folder + "_hf"):  # sentence-transformers and plain HF
        encoder = load_encoder(source)
        assert isinstance(encoder.preprocessor.tokenizer, HFBertTokenizer)
        in_python = build_encoder(source)
        assert encoder.preprocessor.sequence_length == in_python.preprocessor.sequence_length
    assert build_encoder(folder).preprocessor.sequence_length == 40  # the checkpoint's


def test_evaluate_languages_take_commas_and_a_failed_plot_keeps_the_report(
    tmp_path, monkeypatch, caplog
):
    import argparse

    from keras_mpcl.evaluation import report as report_module
    from keras_mpcl.evaluation.cli import add_evaluate_arguments
    from keras_mpcl.evaluation.cli import run_evaluate
    from tests.evaluation.helpers import bag_of_chars
    from tests.evaluation.test_report import make_fixtures

    def no_matplotlib(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'matplotlib'")

    monkeypatch.setattr(report_module, "plot_report", no_matplotlib)
    paths = make_fixtures(tmp_path)
    output = tmp_path / "report.json"
    args = add_evaluate_arguments(argparse.ArgumentParser()).parse_args(
        ["--model", "unused", "--task", f"ntrex={paths['ntrex']}", "--ntrex-lines", "1:3",
         "--languages", "deu,eng", "--output", str(output)]
    )
    report = run_evaluate(args, encoder=bag_of_chars)
    assert report["ntrex"]["languages"] == ["deu", "eng"]
    assert json.loads(output.read_text()) == report
    assert output.with_suffix(".csv").is_file()
    assert "No plots written (ModuleNotFoundError" in caplog.text


def _run_console_script(args, tmp_path):
    import os
    import subprocess
    import sys

    script = pathlib.Path(sys.executable).with_name("keras-mpcl")
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run([str(script), *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)


def test_help_loads_no_backend_and_commands_print_no_native_log_lines(tmp_path):
    import subprocess
    import sys

    # `--help` answers without TensorFlow or Keras (it took 5 s to load them).
    code = ("import sys; sys.argv = ['keras-mpcl', '--help']\n"
            "from keras_mpcl import cli\n"
            "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules)\n"
            "print('loaded:', heavy)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=120)
    assert "usage: keras-mpcl" in shown.stdout and "loaded: []" in shown.stdout, shown
    # A command's error is its one line: no absl / oneDNN / CUDA start-up lines.
    result = _run_console_script(["embed", "--model", str(tmp_path / "missing"),
                                  "--text", "hi", "--output", "e.npy"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if line.startswith("keras-mpcl embed")
    ], result.stderr
