"""Embedding lists of strings with an encoder, in batches, to NumPy."""

import numpy as np
from keras import ops


def encode(encoder, texts, batch_size=64, verbose=0):
    """Embeds `texts` in batches and returns L2-normalised float32 embeddings.

    `e_i = f(t_i) / ||f(t_i)||` for the encoder output `f`; an all-zero
    output stays zero.

    Args:
        encoder: a keras-hub `TextEmbedder` that takes raw strings (e.g. from
            `build_encoder`).
        texts: list of str, or a single str.
        batch_size: int. Texts per forward pass. Defaults to `64`.
        verbose: int. Keras progress bar (`0` silent, `1` bar).
            Defaults to `0`.

    Returns:
        `np.ndarray` of shape `(len(texts), dim)` and dtype float32.

    Examples:

    >>> from keras_mpcl.models import build_encoder
    >>> texts = ["one cat", "un chat", "two dogs"]
    >>> config = {"hidden_dim": 8, "num_layers": 1, "num_heads": 2,
    ...           "intermediate_dim": 16, "vocabulary_size": 40}
    >>> encoder = build_encoder(config, texts=texts, max_length=8)
    >>> embeddings = encode(encoder, texts, batch_size=2)
    >>> embeddings.shape, embeddings.dtype
    ((3, 8), dtype('float32'))
    >>> bool(np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5))
    True
    """
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(
            f"`batch_size` should be a positive int. Received: `batch_size` = {batch_size!r}"
        )
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(
            f"`texts` should be strings; {len(bad)} are not (first at index {bad[0]}: "
            f"{texts[bad[0]]!r})."
        )
    if not texts:
        raise ValueError("`texts` is empty: nothing to encode.")
    embeddings = encoder.predict(texts, batch_size=batch_size, verbose=verbose)
    embeddings = np.asarray(ops.convert_to_numpy(embeddings), dtype="float32")
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings / np.maximum(norms, 1e-12)
