"""Issue #13: trained encoders exported for sentence-transformers and keras-hub, with a model card.

Round trips on every backend: train a few steps (a tiny BERT in Hugging Face
format; a tiny random XLM-RoBERTa), `keras-mpcl export`, load the folder with
sentence-transformers, and compare with `keras-mpcl embed` on the same texts.
The offline MiniLM makes the same trip once (its model card's facts), as its
export runs the same code as the tiny BERT's.
"""

import json

import numpy as np
import pytest

from keras_mpcl import cli
from keras_mpcl.models import export_encoder
from keras_mpcl.models import offline_minilm_path
from keras_mpcl.training import train
from tests.models.hf_checkpoints import make_tiny_bert_checkpoint
from tests.training.tiny import tiny_config

TEXTS = ["Café crème, s'il vous plaît.", "naïve résumé façade", "Привет, как дела?",
         "这是一个测试。", "مرحبا بالعالم", "Grüße aus Köln!", "Hello world"]


def _round_trip(tmp_path, overrides, evaluate):
    result = train(tiny_config(tmp_path / "train", overrides + [
        "train.steps=2", "train.checkpoint_every=1", f"eval.before_after={evaluate}",
        f"eval.plot={evaluate}"]))
    trained = result.preset_dir
    card = (trained / "README.md").read_text()
    assert card.startswith("---\nlanguage:\n- en\n") and "library_name: keras-mpcl" in card
    for usage in ("build_encoder(", "TextEmbedder.from_preset(", "SentenceTransformer("):
        assert usage in card, usage  # keras-mpcl, keras-hub and sentence-transformers
    if evaluate == "true":
        assert "| **mean** |" in card
        assert "![held-out retrieval](retrieval_before_after.png)" in card
        assert (trained / "retrieval_before_after.png").is_file()

    out = tmp_path / "st"
    assert cli.main(["export", "--model", str(trained), "--output", str(out)]) == 0
    exported_card = (out / "README.md").read_text()
    assert "library_name: sentence-transformers" in exported_card
    assert "SentenceTransformer(" in exported_card
    if evaluate == "true":
        assert (out / "retrieval_before_after.png").is_file()

    lines = tmp_path / "texts.txt"
    lines.write_text("".join(f"{t}\n" for t in TEXTS), encoding="utf-8")
    assert cli.main(["embed", "--model", str(trained), "--input", str(lines),
                     "--output", str(tmp_path / "e.npy")]) == 0
    ours = np.load(tmp_path / "e.npy")

    from sentence_transformers import SentenceTransformer

    theirs = SentenceTransformer(str(out), device="cpu").encode(TEXTS)
    cosine = np.sum(ours * theirs, axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    assert cosine.min() >= 0.9999, cosine
    return result, card


def test_tiny_bert_trains_exports_and_loads_in_sentence_transformers(tmp_path):
    source = make_tiny_bert_checkpoint(tmp_path / "tiny_bert")
    _, card = _round_trip(tmp_path, [f"encoder.source={source}", "encoder.max_length=32"],
                          evaluate="false")
    assert "base_model:" in card


@pytest.mark.one_backend
def test_minilm_trains_exports_and_loads_in_sentence_transformers(tmp_path):
    result, card = _round_trip(tmp_path, [
        f"encoder.source={offline_minilm_path()}", "encoder.max_length=32"], evaluate="false")
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in card
    assert "license: apache-2.0" in card  # the packaged sample's license
    facts = json.loads((result.preset_dir / "training_facts.json").read_text())
    assert facts["steps"] == 2 and facts["train_groups"] == 16


def test_tiny_xlm_roberta_exports_with_its_sentencepiece_model(tmp_path):
    _, card = _round_trip(tmp_path, [
        'encoder.random={architecture="xlm_roberta", vocabulary_size=300, num_layers=1, '
        'num_heads=2, hidden_dim=16, intermediate_dim=32, dropout=0.1}'], evaluate="true")
    assert (tmp_path / "st" / "sentencepiece.bpe.model").is_file()
    assert "xlm_roberta" in card


def test_keras_hub_format_and_errors(tmp_path):
    import keras
    import keras_hub

    from keras_mpcl.models import build_encoder

    encoder = build_encoder({"hidden_dim": 16, "num_layers": 1, "num_heads": 2,
                             "intermediate_dim": 32, "vocabulary_size": 80},
                            texts=["good morning", "bonjour", "guten morgen"], max_length=16)
    out = export_encoder(encoder, tmp_path / "hub", format="keras-hub")
    loaded = keras_hub.models.TextEmbedder.from_preset(str(out))
    assert "No training facts were recorded" in (out / "README.md").read_text()
    np.testing.assert_allclose(loaded.predict(["bonjour"], verbose=0),
                               encoder.predict(["bonjour"], verbose=0), atol=1e-5)
    with pytest.raises(ValueError, match="`format` should be one of"):
        export_encoder(encoder, tmp_path / "x", format="onnx")
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="Cannot export Sequential.*BERT-family.*XLM-RoBERTa"):
        export_encoder(plain, tmp_path / "y")
