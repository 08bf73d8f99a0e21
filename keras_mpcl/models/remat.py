"""Rematerialisation (gradient checkpointing) of an encoder's transformer layers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

from keras_mpcl.backend import torch_is_compiling
from keras_mpcl.compat import sublayers
from keras_mpcl.compat import unseeded_torch_generator

if TYPE_CHECKING:
    from keras_mpcl.typing import ModelT


class _DrawnSeed(keras.random.SeedGenerator):
    """A dropout seed drawn once before a recomputed region.

    Recomputing a layer in the backward pass must reuse the dropout masks of
    the forward pass; a live `SeedGenerator` would hand out new seeds.
    """

    def __init__(self, seed):  # No super().__init__(): no state variable.
        self._seed = seed
        self._initial_seed = 0  # torch: take the seeded path, not the global RNG.

    def next(self, ordered=True):
        return self._seed


def remat_under_torch_compile_error(
    setting: str = "`rematerialize`",
    fix: str = "Compile the model with `jit_compile=False`.",
    error_class: type[Exception] = ValueError,
) -> Exception:
    """The error refusing rematerialisation under `torch.compile`.

    Args:
        setting: str. What asked for rematerialisation, as the user wrote it.
            Defaults to `` "`rematerialize`" ``.
        fix: str. How to fix it, in the user's terms (a model argument, a
            config key). Defaults to the model's `jit_compile=False`.
        error_class: the exception class. Defaults to `ValueError`.

    Returns:
        An `error_class` instance, to raise.

    Examples:

    >>> print(remat_under_torch_compile_error("`remat=True`", "Use `jit=False`."))
    `remat=True` on the torch backend needs eager execution: torch.compile does not replay dropout's random state in the recomputation. Use `jit=False`.
    """
    return error_class(
        f"{setting} on the torch backend needs eager execution: torch.compile does "
        f"not replay dropout's random state in the recomputation. {fix}"
    )


def _dropouts_to_pin(layer):
    pinned = []
    for sublayer in sublayers(layer):
        if not isinstance(sublayer, keras.layers.Dropout) or sublayer.rate <= 0:
            continue
        if (
            keras.backend.backend() == "torch"
            and unseeded_torch_generator(sublayer.seed_generator)
        ):
            # Unseeded torch dropout draws from torch's global RNG, whose
            # state `torch.utils.checkpoint` replays in the recomputation.
            continue
        pinned.append(sublayer)
    return pinned


def _rematerialize_layer(layer):
    forward_call = layer.call
    dropouts = _dropouts_to_pin(layer)

    def call(inputs, *args, training=None, **kwargs):
        if not training:
            return forward_call(inputs, *args, training=training, **kwargs)
        if torch_is_compiling():
            raise remat_under_torch_compile_error()
        seeds = [dropout.seed_generator.next() for dropout in dropouts]
        generators = [dropout.seed_generator for dropout in dropouts]

        def recomputable(x):
            # object.__setattr__: Keras' attribute tracking would register
            # the stand-in as a new seed generator of the layer.
            for dropout, seed in zip(dropouts, seeds):
                object.__setattr__(dropout, "seed_generator", _DrawnSeed(seed))
            try:
                return forward_call(x, *args, training=training, **kwargs)
            finally:
                for dropout, generator in zip(dropouts, generators):
                    object.__setattr__(dropout, "seed_generator", generator)

        return keras.remat(recomputable)(inputs)

    object.__setattr__(layer, "call", call)
    object.__setattr__(layer, "_keras_mpcl_remat", True)


def rematerialize(encoder: ModelT, num_layers: int | None = None) -> ModelT:
    """Recomputes transformer layers in the backward pass instead of storing them.

    Training keeps only the input of each rematerialised transformer layer
    and recomputes the layer's activations (attention scores, the
    feed-forward block) when its gradient is needed: for `k` of `L` layers,
    about `k / L` of the activation memory is saved for `k / L` of a forward
    pass more compute. `num_layers` trades the two: the first `num_layers`
    layers are rematerialised, the lowest ones, whose recomputation comes
    last in the backward pass, when the activations of the layers above are
    already freed.
    Dropout masks are the same in the forward pass and the recomputation, so
    gradients equal those of the plain model. How much the step's peak
    memory falls depends on the backend: on TensorFlow it falls; PyTorch
    keeps far less between the forward and backward passes, but its backward
    pass peaks nearly as high as without rematerialisation (measurements:
    see benchmarks/README.md, "Training throughput").

    Inference (`training=False`) is unchanged. The setting belongs to the
    Python object: a saved and reloaded encoder trains without it until
    `rematerialize` is called again. On the torch backend it needs eager
    execution (`jit_compile=False`, Keras' default there): call it after
    `compile`, or it cannot check.

    Args:
        encoder: a keras-mpcl sentence encoder, a keras-hub task or a
            keras-hub backbone with a `transformer_layers` list.
        num_layers: int or None. How many transformer layers, from the
            first, to rematerialise. Defaults to `None`: all of them.

    Returns:
        The same `encoder`, modified in place.

    Examples:

    >>> import keras_mpcl
    >>> encoder = keras_mpcl.models.build_encoder(
    ...     {"hidden_dim": 16, "num_layers": 2, "num_heads": 2,
    ...      "intermediate_dim": 32, "vocabulary_size": 120},
    ...     texts=["hello world", "hallo welt", "bonjour le monde"])
    >>> encoder = keras_mpcl.models.rematerialize(encoder, num_layers=1)
    >>> encoder.compile(optimizer="adam",
    ...                 loss=keras_mpcl.MultiPositiveContrastiveLoss())
    >>> history = encoder.fit(
    ...     x=["hello world", "hallo welt", "bonjour le monde", "salut"],
    ...     y=[0, 0, 1, 1], epochs=1, verbose=0)

    Reference:
        Chen et al., 2016, "Training Deep Nets with Sublinear Memory Cost",
        https://arxiv.org/abs/1604.06174
    """
    backbone = getattr(encoder, "backbone", encoder)
    layers = getattr(backbone, "transformer_layers", None)
    if not layers:
        raise ValueError(
            "`rematerialize` needs a keras-hub backbone with a "
            "`transformer_layers` list (BERT, RoBERTa, XLM-RoBERTa, ...). "
            f"Received: {type(encoder).__name__} whose backbone "
            f"{type(backbone).__name__} has none"
        )
    if keras.backend.backend() == "torch" and getattr(encoder, "compiled", False) and (
        encoder.jit_compile
    ):
        raise remat_under_torch_compile_error()
    if num_layers is None:
        num_layers = len(layers)
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or not (
        1 <= num_layers <= len(layers)
    ):
        raise ValueError(
            f"`num_layers` must be an int from 1 to {len(layers)} (the "
            f"transformer layers of {type(backbone).__name__}), or None for "
            f"all of them. Received: num_layers={num_layers!r}"
        )
    for layer in layers[:num_layers]:
        if not getattr(layer, "_keras_mpcl_remat", False):
            _rematerialize_layer(layer)
    return encoder
