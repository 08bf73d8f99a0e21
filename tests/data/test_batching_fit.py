"""`group_dataset` batches feed `model.fit` of a keras-hub text model on every backend."""

import keras
import numpy as np

from keras_mpcl.data import TranslationGroups
from keras_mpcl.data import group_dataset
from keras_mpcl.losses import MultiPositiveContrastiveLoss


def _tiny_embedder():
    import keras_hub

    words = [
        "hello",
        "hallo",
        "bonjour",
        "thank",
        "you",
        "danke",
        "merci",
        "good",
        "night",
        "gute",
        "nacht",
        "bonne",
        "nuit",
        "yes",
        "ja",
        "oui",
        "no",
        "nein",
        "non",
        ".",
        "!",
        "?",
    ]
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    preprocessor = keras_hub.models.BertTextEmbedderPreprocessor(
        tokenizer=tokenizer, sequence_length=16
    )
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=16,
    )
    return keras_hub.models.BertTextEmbedder(
        backbone=backbone, preprocessor=preprocessor
    )


def test_model_fit_smoke_with_tiny_bert_text_embedder():
    keras.utils.set_random_seed(0)
    groups = TranslationGroups(
        {
            "en": ["Hello!", "Thank you.", "Good night.", "Yes.", "No."],
            "de": ["Hallo!", "Danke.", "Gute Nacht.", "Ja.", "Nein."],
            "fr": ["Bonjour!", "Merci.", "Bonne nuit.", "Oui.", "Non."],
        }
    )
    dataset = group_dataset(groups, groups_per_batch=2, group_size=3, seed=0, epochs=2)
    assert int(dataset.cardinality()) == 6
    embedder = _tiny_embedder()
    embedder.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=MultiPositiveContrastiveLoss(temperature=0.1),
    )
    before = keras.ops.convert_to_numpy(embedder.backbone.token_embedding.embeddings)
    history = embedder.fit(dataset, verbose=0)
    after = keras.ops.convert_to_numpy(embedder.backbone.token_embedding.embeddings)
    loss = history.history["loss"][0]
    assert np.isfinite(loss) and loss > 0
    assert not np.allclose(before, after)  # gradients flowed from the ids
