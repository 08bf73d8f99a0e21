"""A Keras callback that runs evaluation tasks during `fit`."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING

import keras

from keras_mpcl.compat import callback_model
from keras_mpcl.evaluation.encoding import as_encode_fn
from keras_mpcl.validation import check_choice, check_int

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from keras_mpcl.evaluation.encoding import EncodeFn
    from keras_mpcl.typing import EncoderLike

MODES = ("max", "min", "auto")


def flatten_result(
    name: str, result: float | dict[str, Any], prefix: str = "eval_"
) -> dict[str, float]:
    """Scalar metrics of one task result, as `{prefix + name[_key]: float}`.

    A number becomes `{prefix + name: value}`; a dict contributes its
    top-level numbers except counts (keys starting with `num_`), so nested
    per-language tables stay out of the training logs.

    Examples:

    >>> flatten_result("sts", {"spearman": 0.5, "num_pairs": 3})
    {'eval_sts_spearman': 0.5}
    >>> flatten_result("tatoeba", {"per_language": {"deu": 1.0}, "mean": 1.0})
    {'eval_tatoeba_mean': 1.0}
    >>> flatten_result("acc", 0.25, prefix="")
    {'acc': 0.25}
    """
    if isinstance(result, numbers.Number) and not isinstance(result, bool):
        return {f"{prefix}{name}": float(result)}
    if isinstance(result, dict):
        return {
            f"{prefix}{name}_{key}": float(value)
            for key, value in result.items()
            if isinstance(value, numbers.Number)
            and not isinstance(value, bool)
            and not str(key).startswith("num_")
        }
    raise TypeError(
        f"The evaluation task `{name}` should return a number or a dict of "
        f"numbers. Received: {type(result).__name__}"
    )


class EvaluationCallback(keras.callbacks.Callback):
    """Runs evaluation tasks every N epochs or steps and logs their metrics.

    Each task is a callable `task(encode) -> float | dict` receiving an
    `encode(list[str]) -> np.ndarray` function of the current model (see
    `as_encode_fn`), e.g.
    `lambda encode: sts(encode, s1, s2, scores)`. Scalar results are added
    to the epoch `logs` (hence to `History.history` and to later callbacks
    such as `ModelCheckpoint`: list this callback first) as
    `"{prefix}{task}_{key}"`, and every evaluation is kept in `records`.
    With `filepath`, the model is saved whenever `monitor` improves (or at
    every evaluation when `save_best_only=False`), like `ModelCheckpoint`.

    Args:
        tasks: dict `{name: callable(encode) -> float | dict}`.
        encoder: optional model to evaluate, a keras-hub `TextEmbedder` or
            any `encode` callable; defaults to `None`, the model being fitted.
        every_n_epochs: optional int. Evaluate after every N-th epoch.
            Defaults to `1`.
        every_n_steps: optional int. Also evaluate every N training steps
            (counted across epochs); the latest values are added to each
            epoch's logs. Defaults to `None`.
        prefix: str. Prefix of the logged metric names. Defaults to `"eval_"`.
        monitor: optional str. Metric that decides the best checkpoint.
            Defaults to `None` (the first metric of the first evaluation).
        mode: str. `"max"`, `"min"` or `"auto"` (`"min"` when `monitor`
            contains `"loss"`, else `"max"`). Defaults to `"auto"`.
        filepath: optional str. Where the model is saved: a `.keras` file
            (`model.save`), a `.weights.h5` file (`save_weights`), or a
            directory for `save_to_preset` (keras-hub models). May contain
            `{epoch}` and `{step}` fields. Defaults to `None` (no saving).
        save_best_only: bool. Save only when `monitor` improves.
            Defaults to `True`.
        batch_size: int. Encoding batch size. Defaults to `32`.
        verbose: int. `1` prints the metrics after each evaluation.
            Defaults to `1`.

    Examples:

    >>> import numpy as np
    >>> cb = EvaluationCallback(
    ...     {"norm": lambda encode: float(np.abs(encode(["a", "b"])).mean())},
    ...     encoder=lambda texts: np.ones((len(texts), 2)), verbose=0)
    >>> cb.evaluate(epoch=0, step=0)
    {'eval_norm': 1.0}
    >>> cb.best
    1.0
    """

    def __init__(
        self,
        tasks: dict[str, Callable[[EncodeFn], float | dict[str, Any]]],
        encoder: EncoderLike | None = None,
        every_n_epochs: int | None = 1,
        every_n_steps: int | None = None,
        prefix: str = "eval_",
        monitor: str | None = None,
        mode: str = "auto",
        filepath: str | None = None,
        save_best_only: bool = True,
        batch_size: int = 32,
        verbose: int = 1,
    ) -> None:
        super().__init__()
        if not isinstance(tasks, dict) or not tasks:
            raise ValueError(
                "`tasks` should be a non-empty dict `{name: callable(encode)}`. "
                f"Received: `tasks` = {tasks!r}"
            )
        for name, task in tasks.items():
            if not callable(task):
                raise TypeError(
                    f"Every task should be callable as `task(encode)`. Received: "
                    f"`tasks[{name!r}]` of type {type(task).__name__}"
                )
        for arg, value in (
            ("every_n_epochs", every_n_epochs),
            ("every_n_steps", every_n_steps),
        ):
            if value is not None:
                check_int(arg, value, what="a positive int or None")
        if every_n_epochs is None and every_n_steps is None:
            raise ValueError(
                "Set `every_n_epochs` or `every_n_steps`; both are None, so the "
                "tasks would never run"
            )
        check_choice("mode", mode, MODES)
        self.tasks = dict(tasks)
        self.encoder = encoder
        self.every_n_epochs = every_n_epochs
        self.every_n_steps = every_n_steps
        self.prefix = prefix
        self.monitor = monitor
        self.mode = mode
        self.filepath = filepath
        self.save_best_only = save_best_only
        self.batch_size = batch_size
        self.verbose = verbose
        self.records = []
        self.best = None
        self.latest = {}
        self._step = 0
        self._epoch = 0

    def _improved(self, value):
        mode = self.mode
        if mode == "auto":
            mode = "min" if "loss" in self.monitor else "max"
        if self.best is None or math.isnan(self.best):
            return not math.isnan(value)
        return value > self.best if mode == "max" else value < self.best

    def _save(self, model, epoch, step):
        path = str(self.filepath).format(epoch=epoch + 1, step=step)
        if path.endswith(".weights.h5"):
            model.save_weights(path, overwrite=True)
        elif path.endswith(".keras"):
            model.save(path, overwrite=True)
        elif hasattr(model, "save_to_preset"):
            model.save_to_preset(path)
        else:
            raise ValueError(
                "`filepath` should end in `.keras` or `.weights.h5`, or the model "
                "should be a keras-hub model with `save_to_preset`. "
                f"Received: `filepath` = {self.filepath!r} for a "
                f"{type(model).__name__}"
            )
        return path

    def evaluate(self, epoch: int | None = None, step: int | None = None) -> dict[str, float]:
        """Runs every task now; returns and records the flat metrics."""
        model = None
        if callback_model(self) is not None:
            # On JAX, reading `self.model` syncs the training state into the
            # model's variables, which a separate `encoder` may share.
            model = self.model
        target = self.encoder if self.encoder is not None else model
        if target is None:
            raise ValueError(
                "No model to evaluate: pass `encoder=` or use the callback in `fit`"
            )
        encode = as_encode_fn(target, batch_size=self.batch_size)
        metrics = {}
        for name, task in self.tasks.items():
            metrics.update(flatten_result(name, task(encode), self.prefix))
        self.latest = metrics
        self.records.append({"epoch": epoch, "step": step, **metrics})
        if self.monitor is None and metrics:
            self.monitor = next(iter(metrics))
        if self.monitor not in metrics:
            raise KeyError(
                f"`monitor` = {self.monitor!r} is not among the evaluation metrics "
                f"{sorted(metrics)}"
            )
        value = metrics[self.monitor]
        improved = self._improved(value)
        if improved:
            self.best = value
        saved = None
        if (
            self.filepath is not None
            and model is not None
            and (improved or not self.save_best_only)
        ):
            saved = self._save(model, epoch or 0, step or 0)
        if self.verbose:
            text = ", ".join(f"{k}: {v:.4f}" for k, v in metrics.items())
            if step is not None:
                where = f" at step {step}"
            elif epoch is not None:
                where = f" at epoch {epoch + 1}"
            else:
                where = ""
            note = f" (saved {saved})" if saved else ""
            print(f"\nEvaluation{where}: {text}{note}")
        return metrics

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._step += 1
        if self.every_n_steps and self._step % self.every_n_steps == 0:
            metrics = self.evaluate(epoch=self._epoch, step=self._step)
            if logs is not None:
                logs.update(metrics)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.every_n_epochs and (epoch + 1) % self.every_n_epochs == 0:
            self.evaluate(epoch=epoch)
        if logs is not None:
            logs.update(self.latest)
