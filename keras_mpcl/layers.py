"""Layers used on top of an encoder for contrastive training."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import keras
from keras import ops

from keras_mpcl.normalization import l2_normalize
from keras_mpcl.validation import is_number

if TYPE_CHECKING:
    from typing import Any

    from keras_mpcl.typing import Tensor


@keras.saving.register_keras_serializable(package="keras_mpcl")
class LearnableTemperature(keras.layers.Layer):
    """L2-normalises embeddings and scales them by a learned `1/sqrt(tau)`.

    A loss cannot own trainable weights in Keras, so a learnable temperature
    lives in the model: this layer outputs `x / (||x|| sqrt(tau))` with
    `tau = exp(log_tau)` a trainable scalar, so that the dot product of two
    outputs is `cos(x, y) / tau`. Train it with
    `MultiPositiveContrastiveLoss(temperature=1.0, normalize=False)`; the
    learned value is `layer.temperature`. `tau` is kept at or above
    `min_temperature` (CLIP clips its logit scale at 100 for stability).

    Args:
        initial_temperature: float. Starting value of tau. Defaults to `0.05`.
        min_temperature: float. Lower bound of tau. Defaults to `0.01`.
        **kwargs: Standard `keras.layers.Layer` arguments.

    Examples:

    >>> import numpy as np
    >>> layer = LearnableTemperature(initial_temperature=0.25)
    >>> out = layer(np.array([[3.0, 4.0]], dtype="float32"))
    >>> [round(float(v), 4) for v in keras.ops.convert_to_numpy(out)[0]]
    [1.2, 1.6]
    >>> round(layer.temperature, 4)
    0.25

    Reference:
    - [Radford et al., 2021 (CLIP)](https://arxiv.org/abs/2103.00020)
    - [Zhao et al., 2024](https://arxiv.org/abs/2309.08929)
    """

    def __init__(
        self,
        initial_temperature: float = 0.05,
        min_temperature: float = 0.01,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (
            ("initial_temperature", initial_temperature),
            ("min_temperature", min_temperature),
        ):
            if not is_number(value) or value <= 0:
                raise ValueError(
                    f"`{name}` should be a positive float. Received: `{name}` = {value!r}"
                )
        if initial_temperature < min_temperature:
            raise ValueError(
                "`initial_temperature` should be >= `min_temperature`. Received: "
                f"{initial_temperature} < {min_temperature}"
            )
        self.initial_temperature = float(initial_temperature)
        self.min_temperature = float(min_temperature)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.log_temperature = self.add_weight(
            name="log_temperature",
            shape=(),
            initializer=keras.initializers.Constant(math.log(self.initial_temperature)),
            dtype="float32",
        )

    def call(self, inputs: Tensor) -> Tensor:
        x = ops.cast(inputs, "float32")
        log_tau = ops.maximum(self.log_temperature, math.log(self.min_temperature))
        return l2_normalize(x) * ops.exp(-0.5 * log_tau)

    def compute_output_shape(
        self, input_shape: tuple[int | None, ...]
    ) -> tuple[int | None, ...]:
        return input_shape

    @property
    def temperature(self) -> float:
        """The current temperature tau as a Python float."""
        log_tau = float(keras.ops.convert_to_numpy(self.log_temperature))
        return max(math.exp(log_tau), self.min_temperature)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "initial_temperature": self.initial_temperature,
                "min_temperature": self.min_temperature,
            }
        )
        return config
