"""PyTorch: what torchrun needs that Keras does not give, `fit` with `DistributedDataParallel`.

Keras' torch `fit` does not wrap the model in `DistributedDataParallel` (see
keras.io's guide "Multi-GPU distributed training with PyTorch"), so
`ddp_fit` does: each rank trains on its own slice of every global batch, the
loss gathers all ranks' embeddings (`gather_across_replicas`), DDP averages
the gradients, and Keras callbacks run as in `fit`.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import keras
import numpy as np

from keras_mpcl.compat import track_torch_variables
from keras_mpcl.distribution.collectives import torch_world
from keras_mpcl.validation import check_int

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    import tensorflow as tf
    import torch

# A cache keyed by model, not state: one DDP wrapper per model (a second one
# around the same weights would reduce the gradients twice); an entry goes
# with its model.
_DDP_WRAPPERS = weakref.WeakKeyDictionary()


def _to_torch(structure, device):
    import torch

    return keras.tree.map_structure(
        lambda value: torch.as_tensor(np.array(value), device=device), structure
    )


def _model_device(model):
    """The torch device of the model's weights, after registering them with torch.

    A Keras layer on torch registers its weights as `torch.nn.Parameter`s when
    it is first asked for them; a model asked before its weights existed
    (some keras-hub tasks) keeps an empty list, which DDP would see as a
    model without parameters. Registering again fixes that.
    """
    if len(list(model.parameters())) < len(model.trainable_variables):
        track_torch_variables(model)
    if not model.trainable_variables:
        raise ValueError("The model has no trainable weights; build it before training.")
    return model.trainable_variables[0].value.device


def wrap_ddp(
    model: keras.Model, find_unused_parameters: bool = True
) -> torch.nn.parallel.DistributedDataParallel | keras.Model:
    """The model wrapped in `DistributedDataParallel`, created once per model.

    Wrapping broadcasts rank 0's weights to every rank. The wrapper is cached:
    a second DDP wrapper around the same weights would reduce the gradients
    twice. Without a process group the model comes back unwrapped.

    Args:
        model: a built `keras.Model` on the torch backend.
        find_unused_parameters: bool. Passed to DDP (see `ddp_fit`).
            Defaults to `True`.

    Returns:
        A `torch.nn.parallel.DistributedDataParallel`, or `model` itself
        without a process group.
    """
    import torch

    world, _ = torch_world()
    if world == 1:
        return model
    if model not in _DDP_WRAPPERS:
        device = _model_device(model)
        _DDP_WRAPPERS[model] = torch.nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=find_unused_parameters,
        )
    return _DDP_WRAPPERS[model]


def ddp_fit(
    model: keras.Model,
    dataset: tf.data.Dataset | Iterable[tuple[Any, Any]],
    *,
    steps_per_epoch: int,
    epochs: int = 1,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    verbose: int | str = 1,
    initial_epoch: int = 0,
    find_unused_parameters: bool = True,
) -> keras.callbacks.History:
    """`fit` under torchrun: a compiled Keras model (torch backend) trained with DDP.

    Keras' torch `fit` does not wrap the model in `DistributedDataParallel`
    (see keras.io's guide "Multi-GPU distributed training with PyTorch"), so
    this loop does, and otherwise runs as `fit` does: the model's weights are
    broadcast from rank 0 when it is wrapped, each rank runs its own batches
    (from `DistributionSetup.distribute_dataset`), the compiled loss gathers
    all ranks' embeddings (`gather_across_replicas`), DDP averages the
    gradients during `backward`, and the compiled Keras optimizer applies
    them, so its learning-rate schedule, weight decay and clipping work as
    in `fit`. A keras-hub task's `preprocessor` is applied to the batches. A
    model given `keras_mpcl.training.cached_training` takes GradCache steps:
    each process encodes its share in mini-batches, the loss gathers the
    cached embeddings of all processes, and DDP averages the gradients once
    per step, after the last mini-batch.

    Keras callbacks run in every process as in `fit`: `on_train_begin`,
    `on_epoch_begin` / `on_epoch_end`, `on_train_batch_begin` /
    `on_train_batch_end` and `on_train_end`, with `logs["loss"]` the running
    mean of the epoch's global-batch losses (the same on every rank). A
    restored `BackupAndRestore` epoch is resumed from, and `model.stop_training`
    set in any process (`EarlyStopping`, `TerminateOnNaN`) stops every
    process after the same step. Callbacks that write files should do so from
    one process (`DistributionSetup.worker_index == 0`). Without a process
    group the plain model trains, so the same loop runs on one process.

    Args:
        model: a built `keras.Model` (e.g. a keras-hub `TextEmbedder`),
            compiled with a loss and an optimizer; `jit_compile=False`
            (the loop runs eagerly).
        dataset: a `tf.data.Dataset` (or iterable) of `(inputs, group_ids)`;
            restarted when exhausted, and read on across epochs.
        steps_per_epoch: int. Optimizer steps per epoch.
        epochs: int. Defaults to `1`.
        callbacks: list of `keras.callbacks.Callback`. Defaults to `None`.
        verbose: int or `"auto"`. 1 (or `"auto"`) shows a Keras progress bar
            on rank 0, 2 one line per epoch, 0 is silent. Defaults to `1`.
        initial_epoch: int. Epoch to start at (a restored `BackupAndRestore`
            epoch takes precedence, as in `fit`). Defaults to `0`.
        find_unused_parameters: bool. Passed to DDP; keras-hub backbones hold
            weights a text embedder does not use (e.g. the pooler), which DDP
            rejects otherwise. Defaults to `True`.

    Returns:
        A `keras.callbacks.History`, as `fit` returns: `history.history["loss"]`
        holds each epoch's mean global-batch loss.

    Examples:

    ```python
    # torchrun --nproc_per_node=2 train.py
    setup = keras_mpcl.distribution.configure("ddp")
    model.compile(optimizer="adamw", loss=MultiPositiveContrastiveLoss())
    setup.build_model(model, next(iter(setup.distribute_dataset(dataset_fn))))
    history = setup.fit(model, dataset_fn, epochs=4, steps_per_epoch=100,
                        callbacks=[keras.callbacks.TerminateOnNaN()])  # calls ddp_fit
    ```
    """
    backend = keras.backend.backend()
    if backend != "torch":
        raise RuntimeError(
            "`ddp_fit` is the PyTorch training loop; on the "
            f"{backend} backend use `model.fit` under `configure(...).scope()`."
        )
    check_int("steps_per_epoch", steps_per_epoch)
    check_int("epochs", epochs)
    if not model.compiled or model.optimizer is None:
        raise ValueError(
            "`ddp_fit` trains a compiled model, as `fit` does: call "
            "`model.compile(optimizer=..., loss=...)` first."
        )
    if model.jit_compile:
        raise ValueError(
            "`ddp_fit` runs eagerly and does not apply `torch.compile`: compile the model "
            "with `jit_compile=False` (Keras' `\"auto\"` resolves to it on PyTorch)."
        )
    import torch

    world, rank = torch_world()
    device = _model_device(model)
    trainer = wrap_ddp(model, find_unused_parameters=find_unused_parameters)
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is not None and hasattr(dataset, "map"):
        import tensorflow as tf

        dataset = dataset.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
    optimizer = model.optimizer
    variables = model.trainable_variables
    # `keras_mpcl.training.cached_training`: GradCache steps, each process
    # encoding its share of the global batch in mini-batches.
    from keras_mpcl.training.grad_cache import cached_mini_batch_size
    from keras_mpcl.training.grad_cache.torch import cached_backward

    mini_batch_size = cached_mini_batch_size(model)
    if not optimizer.built:
        optimizer.build(variables)
    history = keras.callbacks.History()
    callbacks = keras.callbacks.CallbackList(
        [*(callbacks or []), history],
        add_progbar=verbose != 0 and rank == 0,
        model=model,
        verbose=1 if verbose == "auto" else verbose,
        epochs=epochs,
        steps=steps_per_epoch,
    )
    loss_mean = keras.metrics.Mean(name="loss")
    stream = _endless(dataset)
    model.stop_training = False
    callbacks.on_train_begin()
    # `BackupAndRestore` tells `fit` the restored epoch through this attribute.
    initial_epoch = getattr(model, "_initial_epoch", None) or initial_epoch
    epoch_logs = {}
    for epoch in range(initial_epoch, epochs):
        loss_mean.reset_state()
        callbacks.on_epoch_begin(epoch)
        trainer.train()
        logs = {}
        for step in range(steps_per_epoch):
            x, y = (_to_torch(part, device) for part in next(stream)[:2])
            callbacks.on_train_batch_begin(step)
            # Gradients left by earlier code would be summed into this step's.
            for v in variables:
                v.value.grad = None
            if mini_batch_size:
                loss, _ = cached_backward(model, mini_batch_size, x, y, forward=trainer,
                                          no_sync=trainer.no_sync)
            else:
                y_pred = trainer(x, training=True)
                loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
                optimizer.scale_loss(loss).backward()
            with torch.no_grad():
                optimizer.apply([v.value.grad for v in variables], variables)
            global_loss, rows = _global_batch_loss(loss, _rows(x), world)
            loss_mean.update_state(global_loss, sample_weight=rows)
            logs = {"loss": float(loss_mean.result())}
            callbacks.on_train_batch_end(step, logs)
            if _any_process(model.stop_training, device):
                model.stop_training = True
                break
        model.eval()
        epoch_logs = dict(logs)
        callbacks.on_epoch_end(epoch, epoch_logs)
        if _any_process(model.stop_training, device):
            model.stop_training = True
            break
    optimizer.finalize_variable_values(model.trainable_weights)
    callbacks.on_train_end(logs=epoch_logs)
    return history


def _endless(dataset):
    """The batches of `dataset`, from the start again whenever it ends."""
    while True:
        source = dataset.as_numpy_iterator() if hasattr(dataset, "as_numpy_iterator") else dataset
        empty = True
        for batch in source:
            empty = False
            yield batch
        if empty:
            raise ValueError("`dataset` yielded no batch.")


def _rows(x):
    return int(next(t for t in keras.tree.flatten(x) if t is not None).shape[0])


def _global_batch_loss(loss, rows, world):
    """`(loss of the global batch, its rows)`, the same in every process."""
    import torch
    import torch.distributed as dist

    if world == 1:
        return float(loss.detach()), rows
    # Each rank returns its share times the world size: their mean is the
    # global-batch loss. One all-reduce carries both numbers.
    both = torch.stack([loss.detach().float(), torch.tensor(float(rows), device=loss.device)])
    dist.all_reduce(both)
    return float(both[0]) / world, float(both[1])


def _any_process(flag, device):
    """Whether `flag` is set in any process: all of them stop after the same step."""
    import torch
    import torch.distributed as dist

    world, _ = torch_world()
    if world == 1:
        return bool(flag)
    # The device matters for NCCL, which reduces CUDA tensors only.
    value = torch.tensor([int(bool(flag))], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
