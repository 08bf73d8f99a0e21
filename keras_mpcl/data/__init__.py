"""Corpora of translation groups and their batching for contrastive training."""

from keras_mpcl.data.batching import group_dataset
from keras_mpcl.data.corpus import TranslationGroups
from keras_mpcl.data.corpus import load_sample_groups
from keras_mpcl.data.errors import CorpusFormatError
from keras_mpcl.data.streaming import StreamingTranslationGroups
from keras_mpcl.data.summary import CorpusSummary

__all__ = [
    "CorpusFormatError",
    "CorpusSummary",
    "StreamingTranslationGroups",
    "TranslationGroups",
    "group_dataset",
    "load_sample_groups",
]
