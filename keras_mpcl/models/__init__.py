"""Sentence encoders on keras-hub: building, loading, tokenizing like Hugging Face, encoding."""

from keras_mpcl.models.builders import ARCHITECTURES
from keras_mpcl.models.builders import EncoderConfig
from keras_mpcl.models.builders import build_encoder
from keras_mpcl.models.encode import encode
from keras_mpcl.models.export import FORMATS as EXPORT_FORMATS
from keras_mpcl.models.export import export_encoder
from keras_mpcl.models.export import export_sentence_transformers
from keras_mpcl.models.hf_bert_tokenizer import HFBertTokenizer
from keras_mpcl.models.hf_bert_tokenizer import normalize_text
from keras_mpcl.models.length_buckets import call_in_length_buckets
from keras_mpcl.models.length_buckets import call_on_length_chunks
from keras_mpcl.models.length_buckets import split_into_length_chunks
from keras_mpcl.models.model_card import model_card_text
from keras_mpcl.models.model_card import write_model_card
from keras_mpcl.models.presets import PresetUnavailableError
from keras_mpcl.models.presets import offline_minilm_path
from keras_mpcl.models.remat import rematerialize
from keras_mpcl.models.sentence_encoder import POOLING_MODES
from keras_mpcl.models.sentence_encoder import BertSentenceEncoder
from keras_mpcl.models.sentence_encoder import XLMRobertaSentenceEncoder
from keras_mpcl.models.vocabulary import train_sentencepiece_tokenizer
from keras_mpcl.models.vocabulary import train_wordpiece_tokenizer

__all__ = [
    "ARCHITECTURES",
    "BertSentenceEncoder",
    "EXPORT_FORMATS",
    "EncoderConfig",
    "HFBertTokenizer",
    "POOLING_MODES",
    "PresetUnavailableError",
    "XLMRobertaSentenceEncoder",
    "build_encoder",
    "call_in_length_buckets",
    "call_on_length_chunks",
    "encode",
    "export_encoder",
    "export_sentence_transformers",
    "model_card_text",
    "normalize_text",
    "offline_minilm_path",
    "rematerialize",
    "split_into_length_chunks",
    "train_sentencepiece_tokenizer",
    "train_wordpiece_tokenizer",
    "write_model_card",
]
