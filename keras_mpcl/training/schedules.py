"""`WarmupLinearDecay`: linear warmup to a peak learning rate, then linear decay."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
from keras import ops

from keras_mpcl.validation import check_int

if TYPE_CHECKING:
    from typing import Any

    from keras_mpcl.typing import Tensor


@keras.saving.register_keras_serializable(package="keras_mpcl")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak`, then linear decay to `end` at `total_steps`.

    The schedule of BERT fine-tuning and of sentence-transformers:

    `lr(t) = peak * (t + 1) / warmup_steps` for `t < warmup_steps`, then
    `lr(t) = end + (peak - end) * max(0, total_steps - t) / (total_steps - warmup_steps)`.

    `t` is the 0-based optimizer step (`optimizer.iterations`), so the first
    update already uses a non-zero rate and step `warmup_steps` uses `peak`.
    After `total_steps` the rate stays at `end`.

    Args:
        peak: float. Learning rate at the end of warmup.
        total_steps: int. Steps of the whole run (warmup included).
        warmup_steps: int. Steps of linear warmup; `0` starts at `peak`.
            Defaults to `0`.
        end: float. Learning rate at `total_steps`. Defaults to `0.0`.

    Examples:

    >>> schedule = WarmupLinearDecay(peak=1.0, total_steps=10, warmup_steps=4)
    >>> [round(float(schedule(t)), 3) for t in (0, 3, 4, 7, 10, 12)]
    [0.25, 1.0, 1.0, 0.5, 0.0, 0.0]
    >>> optimizer = keras.optimizers.AdamW(learning_rate=schedule)
    """

    def __init__(
        self, peak: float, total_steps: int, warmup_steps: int = 0, end: float = 0.0
    ) -> None:
        for name, value, minimum in (("total_steps", total_steps, 1), ("warmup_steps", warmup_steps, 0)):
            check_int(name, value, minimum, f"an int >= {minimum}")
        if warmup_steps >= total_steps:
            raise ValueError(
                "`warmup_steps` should be smaller than `total_steps`. Received: "
                f"`warmup_steps` = {warmup_steps}, `total_steps` = {total_steps}"
            )
        if not peak > 0 or not 0 <= end <= peak:
            raise ValueError(
                "`peak` should be > 0 and `end` in [0, peak]. Received: "
                f"`peak` = {peak!r}, `end` = {end!r}"
            )
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.end = float(end)

    def __call__(self, step: int | Tensor) -> Tensor:
        step = ops.cast(step, "float32")
        warmup = float(max(self.warmup_steps, 1))
        rising = self.peak * (step + 1.0) / warmup
        remaining = ops.maximum(float(self.total_steps) - step, 0.0)
        falling = self.end + (self.peak - self.end) * remaining / float(
            self.total_steps - self.warmup_steps
        )
        if self.warmup_steps == 0:
            return falling
        return ops.where(step < float(self.warmup_steps), rising, falling)

    def get_config(self) -> dict[str, Any]:
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "end": self.end,
        }
