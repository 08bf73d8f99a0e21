"""End-to-end tests of the `keras-mpcl` command line: train, embed, evaluate."""

import json

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
                     "--set", "eval.plot=false"]) == 0
    printed = capsys.readouterr().out
    preset = out / "encoder"
    assert f"Trained encoder saved to: {preset}" in printed
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
