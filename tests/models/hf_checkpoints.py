"""Tiny Hugging Face / sentence-transformers BERT checkpoints generated for tests."""

import shutil
import unicodedata

# Accented Latin, Greek, Cyrillic, Arabic, Chinese, Hindi, Thai, emojis, odd spaces.
MULTILINGUAL_TEXTS = [
    "Café crème brûlée, über naïve señor Øresund!",
    "ÉLÈVE Ünïcödé ÑANDÚ ØSTERBRO ßtraße",
    "Η γρήγορη καφέ αλεπού ΟΔΟΣ Σίσυφος.",
    "Съешь же ещё этих мягких французских булок, Ёж.",
    "مرحبا بالعالم، كيف حالك؟",
    "你好，世界！我们学习机器翻译。",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "สวัสดีชาวโลก ภาษาไทย",
    "Emojis 😀🎉 happy😀 🚀 and a\u00a0non-breaking\u200bspace",
    "The quick brown fox jumps over the lazy dog.",
]


def _vocabulary(texts, lowercase):
    """Whole words, single characters and ## continuations seen in `texts`."""
    from keras_mpcl.models import normalize_text
    from keras_hub.src.tokenizers.word_piece_tokenizer import pretokenize_python

    words, chars = set(), set()
    for text in texts:
        for word in pretokenize_python(
            normalize_text(text, lowercase=lowercase), strip_accents=False
        ):
            words.add(word)
            chars.update(word)
    # Leave some words out so that WordPiece has to split them.
    words = sorted(w for w in words if len(w) <= 20)[::2]
    pieces = sorted(chars) + ["##" + c for c in sorted(chars)] + words
    # One character of the tests deliberately missing -> [UNK].
    pieces = [p for p in pieces if p not in ("😀", "##😀")]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    return specials + sorted(set(pieces) - set(specials))


def make_tiny_bert_checkpoint(folder, lowercase=True, pooling="mean",
                              dense_dim=None, max_seq_length=32, seed=0):
    """Writes a random tiny BERT as a sentence-transformers folder; returns it.

    `SentenceTransformer(folder)` and keras-hub's Hugging Face converter both
    load the folder. Weights use a large init range so that different texts
    get clearly different embeddings (a tokenizer bug then shows).
    """
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers import models as st_models

    torch.manual_seed(seed)
    folder = str(folder)
    hf_folder = folder + "_hf"
    vocabulary = _vocabulary(MULTILINGUAL_TEXTS, lowercase)
    config = transformers.BertConfig(
        vocab_size=len(vocabulary),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        initializer_range=0.5,
    )
    model = transformers.BertModel(config, add_pooling_layer=True)
    model.save_pretrained(hf_folder)
    with open(f"{hf_folder}/vocab.txt", "w", encoding="utf-8") as file:
        file.write("\n".join(vocabulary) + "\n")
    tokenizer = transformers.BertTokenizerFast(
        vocab=f"{hf_folder}/vocab.txt", do_lower_case=lowercase
    )
    tokenizer.save_pretrained(hf_folder)
    transformer = st_models.Transformer(hf_folder, max_seq_length=max_seq_length)
    modules = [transformer, st_models.Pooling(32, pooling_mode=pooling)]
    if dense_dim:
        dense = st_models.Dense(32, dense_dim, activation_function=torch.nn.Tanh())
        torch.nn.init.normal_(dense.linear.weight, std=0.5)
        modules.append(dense)
    modules.append(st_models.Normalize())
    SentenceTransformer(modules=modules, device="cpu").save(folder)
    # Real checkpoints ship vocab.txt too; keras-hub's own converter reads it.
    shutil.copy(f"{hf_folder}/vocab.txt", f"{folder}/vocab.txt")
    return folder


def has_accents(text):
    return any(unicodedata.category(c) == "Mn" for c in unicodedata.normalize("NFD", text))
