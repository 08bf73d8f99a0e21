"""An adapter exposing an encoder through MTEB's `encode` protocol."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from keras_mpcl.evaluation.encoding import as_encode_fn
from keras_mpcl.evaluation.encoding import l2_normalize

if TYPE_CHECKING:
    from collections.abc import Iterable
    from enum import Enum
    from typing import Any

    from numpy.typing import ArrayLike

    from keras_mpcl.typing import EncoderLike


def _texts_of(inputs):
    """Flattens MTEB inputs: a list of str, or batches (`{"text": [...]}`)."""
    if isinstance(inputs, str):
        return [inputs]
    texts = []
    for item in inputs:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, Mapping) and "text" in item:
            batch = item["text"]
            texts.extend([batch] if isinstance(batch, str) else list(batch))
        else:
            raise TypeError(
                "MTEB inputs should be strings or batches with a `text` field. "
                f"Received an item of type {type(item).__name__}"
            )
    return texts


class MTEBEncoder:
    """Wraps an encoder so MTEB can evaluate it (`encode(sentences, **kwargs)`).

    Implements MTEB's encoder protocol: `encode(sentences, *, task_name=None,
    prompt_type=None, **kwargs) -> np.ndarray` (mteb 1.x), also accepting
    the mteb 2.x form where the first argument is a DataLoader of batches
    with a `text` field (its `task_metadata`, `hf_split`, `hf_subset` keyword
    arguments are accepted and ignored), plus `similarity` and
    `similarity_pairwise` (cosine). Other keyword arguments (`batch_size`,
    `show_progress_bar`, ...) are accepted; `batch_size` is honoured.

    Args:
        encoder: a keras-hub `TextEmbedder` or an `encode` callable.
        batch_size: int. Default encoding batch size. Defaults to `32`.
        normalize: bool. L2-normalise the returned embeddings.
            Defaults to `True`.
        prompts: optional dict mapping a task name or a prompt type
            (`"query"`, `"document"`) to a prefix prepended to every text.
            Defaults to `None`.
        name: optional str, reported as the model name. Defaults to `None`.

    Examples:

    >>> import numpy as np
    >>> model = MTEBEncoder(lambda texts: [[len(t), 0.0] for t in texts])
    >>> model.encode(["ab", "abc"], task_name="STS17").tolist()
    [[1.0, 0.0], [1.0, 0.0]]
    >>> model.encode([{"text": ["a"]}, {"text": ["bb"]}]).shape
    (2, 2)
    """

    def __init__(
        self,
        encoder: EncoderLike,
        batch_size: int = 32,
        normalize: bool = True,
        prompts: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.normalize = normalize
        self.prompts = dict(prompts or {})
        self.name = name or getattr(encoder, "name", None) or "keras_mpcl_encoder"
        self._encoder = encoder
        self._encode = as_encode_fn(encoder, batch_size=batch_size)

    def _prefix(self, task_name, prompt_type):
        if task_name is not None and task_name in self.prompts:
            return self.prompts[task_name]
        if prompt_type is not None:
            key = getattr(prompt_type, "value", prompt_type)
            return self.prompts.get(str(key), "")
        return ""

    def encode(
        self,
        sentences: str | Iterable[str | Mapping[str, Any]],
        *,
        task_name: str | None = None,
        prompt_type: str | Enum | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Embeddings of `sentences` as a float32 array `(n, dim)`."""
        metadata = kwargs.get("task_metadata")
        if task_name is None and metadata is not None:
            task_name = getattr(metadata, "name", None)
        texts = _texts_of(sentences)
        prefix = self._prefix(task_name, prompt_type)
        if prefix:
            texts = [prefix + t for t in texts]
        batch_size = kwargs.get("batch_size", self.batch_size)
        encode = (
            self._encode
            if batch_size == self.batch_size
            else as_encode_fn(self._encoder, batch_size=batch_size)
        )
        embeddings = encode(texts)
        return l2_normalize(embeddings) if self.normalize and len(texts) else embeddings

    def similarity(self, embeddings1: ArrayLike, embeddings2: ArrayLike) -> np.ndarray:
        """Cosine similarity matrix `(n, m)`."""
        return l2_normalize(embeddings1) @ l2_normalize(embeddings2).T

    def similarity_pairwise(
        self, embeddings1: ArrayLike, embeddings2: ArrayLike
    ) -> np.ndarray:
        """Cosine similarity of aligned rows `(n,)`."""
        return np.sum(l2_normalize(embeddings1) * l2_normalize(embeddings2), axis=-1)
