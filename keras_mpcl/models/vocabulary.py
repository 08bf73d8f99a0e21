"""Subword vocabularies trained on the user's texts with keras-hub's trainers."""

from __future__ import annotations

import collections
import hashlib
from typing import TYPE_CHECKING

import keras_hub

from keras_mpcl.models.hf_bert_tokenizer import HFBertTokenizer
from keras_mpcl.models.hf_bert_tokenizer import normalize_text

if TYPE_CHECKING:
    from collections.abc import Iterable

BERT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# Learning a WordPiece vocabulary is deterministic but slow (keras-hub's learner
# is pure Python: 1-3 s for a few hundred short texts), and recipes and tests
# build a fresh encoder per run from the same texts; so the last few learned
# vocabularies are kept, keyed by a digest of the inputs (not the texts themselves).
_LEARNED_WORDPIECE = collections.OrderedDict()
_LEARNED_WORDPIECE_SIZE = 8


def _check_texts(texts):
    if isinstance(texts, str):
        raise TypeError("`texts` should be a list of strings, not a single string.")
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        raise ValueError(
            "`texts` should contain at least one non-empty string to train a vocabulary."
        )
    return texts


def train_wordpiece_tokenizer(
    texts: Iterable[str], vocabulary_size: int, lowercase: bool = False
) -> HFBertTokenizer:
    """Trains a WordPiece vocabulary on `texts` and returns its tokenizer.

    The texts are normalised as the tokenizer will normalise them (see
    `HFBertTokenizer`), then `keras_hub.tokenizers.compute_word_piece_vocabulary`
    learns at most `vocabulary_size` tokens, the BERT special tokens included.

    Args:
        texts: list of str. Training texts.
        vocabulary_size: int. Maximum vocabulary size.
        lowercase: bool. Lowercase and strip accents (an uncased vocabulary).
            Defaults to `False`.

    Returns:
        An `HFBertTokenizer`.

    Examples:

    >>> tokenizer = train_wordpiece_tokenizer(["hello world", "hola mundo"], 60)
    >>> tokenizer.vocabulary_size() <= 60
    True
    >>> unk = tokenizer.token_to_id("[UNK]")
    >>> unk in [int(i) for i in tokenizer("hola world")]
    False
    """
    import tensorflow as tf

    texts = _check_texts(texts)
    normalized = [normalize_text(t, lowercase=lowercase) for t in texts]
    digest = hashlib.blake2b(repr((vocabulary_size, normalized)).encode()).digest()
    vocabulary = _LEARNED_WORDPIECE.get(digest)
    if vocabulary is None:
        vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
            # A plain list would be read as file names.
            tf.data.Dataset.from_tensor_slices(normalized).batch(1000),
            vocabulary_size,
            lowercase=False,
            strip_accents=False,
            reserved_tokens=list(BERT_SPECIAL_TOKENS),
        )
        _LEARNED_WORDPIECE[digest] = vocabulary
        if len(_LEARNED_WORDPIECE) > _LEARNED_WORDPIECE_SIZE:
            _LEARNED_WORDPIECE.popitem(last=False)
    _LEARNED_WORDPIECE.move_to_end(digest)
    return HFBertTokenizer(list(vocabulary), lowercase=lowercase)


def train_sentencepiece_tokenizer(
    texts: Iterable[str], vocabulary_size: int, lowercase: bool = False
) -> keras_hub.models.XLMRobertaTokenizer:
    """Trains a SentencePiece (unigram) model on `texts` for XLM-RoBERTa.

    keras-hub's `compute_sentence_piece_proto` numbers the special pieces
    `<pad>`=0, `<unk>`=1, `<s>`=2, `</s>`=3, but `XLMRobertaTokenizer` expects
    the layout of XLM-R's own model (`<unk>`=0, `<s>`=1, `</s>`=2, no pad) and
    would turn unknown pieces into `</s>`; so the SentencePiece trainer is
    called here with XLM-R's layout. `vocabulary_size` is a soft limit (a
    small corpus may give fewer pieces). The tokenizer has two more ids than
    pieces (the fairseq `<pad>` and `<mask>`).

    Args:
        texts: list of str. Training texts.
        vocabulary_size: int. Maximum number of SentencePiece pieces.
        lowercase: bool. Lowercase the texts (SentencePiece's
            `nmt_nfkc_cf` normalisation). Defaults to `False`.

    Returns:
        A `keras_hub.models.XLMRobertaTokenizer`.

    Examples:

    >>> tokenizer = train_sentencepiece_tokenizer(["hello world", "hola mundo"], 40)
    >>> tokenizer.vocabulary_size() <= 42
    True
    >>> tokenizer.unk_token_id in [int(i) for i in tokenizer("hola mundo")]
    False
    """
    import io

    import sentencepiece

    texts = _check_texts(texts)
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=vocabulary_size,
        model_type="unigram",
        hard_vocab_limit=False,
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        normalization_rule_name="nmt_nfkc_cf" if lowercase else "nmt_nfkc",
        minloglevel=2,
    )
    return keras_hub.models.XLMRobertaTokenizer(proto=model.getvalue())
