"""A BERT WordPiece tokenizer that normalises text exactly like Hugging Face's."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

import keras
import keras_hub
import numpy as np

from keras_mpcl.compat import keras_hub_private

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from keras_mpcl.typing import Tensor

try:
    import tensorflow as tf
    import tensorflow_text as tf_text
except ImportError:  # keras-hub can tokenize without TensorFlow (Python path).
    tf = None
    tf_text = None

get_special_tokens_pattern = keras_hub_private("get_special_tokens_pattern")
pretokenize = keras_hub_private("pretokenize")
preprocessing_function = keras_hub_private("preprocessing_function")

# Hugging Face's `BertNormalizer(clean_text=True)` drops control characters
# (Unicode "Other": Cc, Cf, Co, plus NUL and U+FFFD) except tab, newline and
# carriage return, then maps whitespace (Rust `char::is_whitespace`, the Unicode
# White_Space property) to a space. keras-hub splits on Cc/Cf instead of
# dropping them and only splits on ASCII whitespace, so "a\u200bb" and
# "a\u00a0b" tokenize differently there.
_TF_KEEP_AS_SPACE = r"[\t\n\r]"
_TF_DROPPED = r"[\x{0}\x{FFFD}\p{Cc}\p{Cf}\p{Co}]"
_TF_WHITESPACE = r"[\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]"
_PY_WHITESPACE = frozenset(
    "\t\n\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)
_PY_DROPPED_CATEGORIES = frozenset(("Cc", "Cf", "Co", "Cs"))
_CAPITAL_SIGMA = "\u03a3"
_SMALL_SIGMA = "\u03c3"


def normalize_text(
    text: str,
    lowercase: bool = True,
    strip_accents: bool | None = None,
    clean_text: bool = True,
) -> str:
    """Normalises one string the way Hugging Face's `BertNormalizer` does.

    Steps, in Hugging Face's order: drop control characters and map Unicode
    whitespace to spaces (`clean_text`), strip accents (NFD, then drop
    non-spacing marks, category Mn), lowercase one character at a time (so a
    capital sigma always becomes `σ`, never the final `ς`, and no NFKC or case
    folding is applied: `ß`, `ﬁ`, `²` and full-width letters stay as they are).
    CJK splitting is left to the WordPiece pre-tokenizer, which matches.

    Args:
        text: str. The text.
        lowercase: bool. Lowercase the text. Defaults to `True`.
        strip_accents: bool or None. Strip accents; `None` follows
            `lowercase`, as in Hugging Face. Defaults to `None`.
        clean_text: bool. Drop control characters and normalise whitespace.
            Defaults to `True`.

    Returns:
        The normalised string.

    Examples:

    >>> normalize_text("Ça ÜBER ΟΔΟΣ Straße\\u00a0ﬁ\\u200b!")
    'ca uber οδοσ straße ﬁ!'
    >>> normalize_text("Ça ÜBER", lowercase=False)
    'Ça ÜBER'
    """
    if strip_accents is None:
        strip_accents = lowercase
    if clean_text:
        text = "".join(
            " " if c in _PY_WHITESPACE else c
            for c in text
            if c not in ("\x00", "\ufffd")
            and (c in "\t\n\r" or unicodedata.category(c) not in _PY_DROPPED_CATEGORIES)
        )
    if strip_accents:
        text = unicodedata.normalize("NFD", text)
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    if lowercase:
        text = text.replace(_CAPITAL_SIGMA, _SMALL_SIGMA).lower()
    return text


def _normalize_tf(text, lowercase, strip_accents, clean_text):
    if clean_text:
        text = tf.strings.regex_replace(text, _TF_KEEP_AS_SPACE, " ")
        text = tf.strings.regex_replace(text, _TF_DROPPED, "")
        text = tf.strings.regex_replace(text, _TF_WHITESPACE, " ")
    if strip_accents:
        text = tf_text.normalize_utf8(text, "NFD")
        text = tf.strings.regex_replace(text, r"\p{Mn}", "")
    if lowercase:
        # `tf.strings.lower` applies the context-dependent final-sigma rule;
        # Hugging Face lowercases each character on its own.
        text = tf.strings.regex_replace(text, _CAPITAL_SIGMA, _SMALL_SIGMA)
        text = tf.strings.lower(text, encoding="utf-8")
    return text


@keras.saving.register_keras_serializable(package="keras_mpcl")
class HFBertTokenizer(keras_hub.models.BertTokenizer):
    """`BertTokenizer` whose text normalisation matches Hugging Face's BERT.

    keras-hub's converter builds `BertTokenizer(lowercase=do_lower_case)` for a
    Hugging Face BERT checkpoint. That tokenizer differs from the Hugging Face
    tokenizer (`BertNormalizer` + `BertPreTokenizer` + `WordPiece`) in ways that
    change token ids of accented and non-Latin text:

    - accents are not stripped for uncased vocabularies (Hugging Face strips
      them when `strip_accents` is unset and `do_lower_case` is set), so
      "café" becomes `[UNK]` instead of "cafe";
    - lowercasing is NFKC case folding (`ß` -> `ss`, `ﬁ` -> `fi`, `²` -> `2`,
      `ς` -> `σ`) instead of per-character lowercasing;
    - control and format characters (e.g. U+200B) split words instead of
      being dropped, and non-ASCII spaces (U+00A0, U+3000, ...) do not split;
    - words over 100 UTF-8 bytes become `[UNK]`, where Hugging Face's limit is
      100 characters (many Thai or Hindi words are 34+ characters long).

    This class normalises the text first exactly as Hugging Face does (see
    `normalize_text`), then runs keras-hub's WordPiece with its own
    lowercasing and accent stripping switched off, in both the TensorFlow
    (tf.data) and the pure Python paths.

    Args:
        vocabulary: list of str or str. WordPiece vocabulary or path to a
            `vocab.txt` file.
        lowercase: bool. Hugging Face's `do_lower_case`. Defaults to `False`.
        strip_accents: bool or None. Hugging Face's `strip_accents`; `None`
            follows `lowercase`. Defaults to `None`.
        clean_text: bool. Hugging Face's `clean_text`. Defaults to `True`.
        max_input_chars_per_word: int. Longer words become the unknown token.
            Defaults to `100`.
        **kwargs: Other `keras_hub.models.BertTokenizer` arguments (e.g.
            `split_on_cjk`, Hugging Face's `handle_chinese_chars`).

    Examples:

    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cafe", "σ", "!"]
    >>> tokenizer = HFBertTokenizer(vocab, lowercase=True)
    >>> [tokenizer.id_to_token(int(i)) for i in tokenizer("CAFÉ Σ!")]
    ['cafe', 'σ', '!']
    """

    def __init__(
        self,
        vocabulary: list[str] | str | None = None,
        lowercase: bool = False,
        strip_accents: bool | None = None,
        clean_text: bool = True,
        max_input_chars_per_word: int = 100,
        **kwargs: Any,
    ) -> None:
        self.hf_lowercase = bool(lowercase)
        self.hf_strip_accents = strip_accents
        self.clean_text = bool(clean_text)
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        kwargs.pop("strip_accents", None)
        super().__init__(
            vocabulary=vocabulary, lowercase=False, strip_accents=False, **kwargs
        )

    @property
    def _strip(self):
        if self.hf_strip_accents is None:
            return self.hf_lowercase
        return bool(self.hf_strip_accents)

    def _set_vocabulary_tf(self):
        # 4 bytes per character: the character limit is applied in `tokenize`.
        self._fast_word_piece = tf_text.FastWordpieceTokenizer(
            vocab=self.vocabulary,
            token_out_type=self.compute_dtype,
            suffix_indicator=self.suffix_indicator,
            unknown_token=self.oov_token,
            max_bytes_per_word=4 * self.max_input_chars_per_word,
            no_pretokenization=True,
            support_detokenization=True,
        )

    def tokenize(self, inputs: str | Sequence[str] | Tensor) -> Tensor | list[Any]:
        self._check_vocabulary()
        if self._use_tf_workflow():
            return self._tokenize_normalized_tf(inputs)
        return self._tokenize_normalized_python(inputs)

    def _tokenize_normalized_tf(self, inputs):
        if not isinstance(inputs, (tf.Tensor, tf.RaggedTensor)):
            inputs = tf.convert_to_tensor(inputs)
        inputs = _normalize_tf(inputs, self.hf_lowercase, self._strip, self.clean_text)
        return self._wordpiece_tf(inputs)

    @preprocessing_function
    def _wordpiece_tf(self, inputs):
        # keras-hub's `_tokenize_tf`, plus Hugging Face's per-word character limit.
        self._maybe_initialized_tf()
        unbatched = inputs.shape.rank == 0
        words = pretokenize(
            inputs,
            lowercase=False,
            strip_accents=False,
            split=self.split,
            split_on_cjk=self.split_on_cjk,
            special_tokens_pattern=get_special_tokens_pattern(
                self._special_tokens_for_splitting()
            ),
        )
        # On the flat words: `tf.where` dispatched on the ragged tensor added about
        # 1,400 graph ops, three quarters of the traced tokenizer (1.2 s per trace).
        words = tf.ragged.map_flat_values(self._replace_too_long_words, words)
        tokens = self._fast_word_piece.tokenize(words).merge_dims(-2, -1)
        if self.sequence_length:
            output_shape = tokens.shape.as_list()
            output_shape[-1] = self.sequence_length
            tokens = tokens.to_tensor(shape=output_shape)
        if unbatched:
            tokens = tf.squeeze(tokens, 0)
            tf.ensure_shape(tokens, shape=[self.sequence_length])
        return tokens

    def _replace_too_long_words(self, words):
        too_long = tf.strings.length(words, unit="UTF8_CHAR") > self.max_input_chars_per_word
        return tf.where(too_long, self.oov_token, words)

    def _tokenize_normalized_python(self, inputs):
        # keras-hub preprocessors hand over tf/NumPy string tensors here too.
        if hasattr(inputs, "numpy"):
            inputs = inputs.numpy()
        if isinstance(inputs, np.ndarray):
            inputs = inputs.item() if inputs.ndim == 0 else inputs.tolist()
        if isinstance(inputs, (str, bytes)):
            return self._tokenize_python(self._normalize_py(inputs))
        return self._tokenize_python([self._normalize_py(t) for t in inputs])

    def _normalize_py(self, text):
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return normalize_text(text, self.hf_lowercase, self._strip, self.clean_text)

    def _tokenize_word_python(self, word):
        if len(word) > self.max_input_chars_per_word:
            return [self.oov_token]
        tokens = []
        start = 0
        while start < len(word):
            end = len(word)
            current = None
            while start < end:
                piece = word[start:end]
                if start > 0:
                    piece = self.suffix_indicator + piece
                if piece in self._token_to_id_map:
                    current = piece
                    break
                end -= 1
            if current is None:
                return [self.oov_token]
            tokens.append(current)
            start = end
        return tokens

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "lowercase": self.hf_lowercase,
                "strip_accents": self.hf_strip_accents,
                "clean_text": self.clean_text,
                "max_input_chars_per_word": self.max_input_chars_per_word,
            }
        )
        return config
