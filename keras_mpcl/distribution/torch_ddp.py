"""PyTorch: what torchrun needs that Keras does not give, a `DistributedDataParallel` loop.

Keras' torch `fit` does not wrap the model in `DistributedDataParallel` (see
keras.io's guide "Multi-GPU distributed training with PyTorch"), so
`ddp_fit` does: each rank trains on its own batches, the loss gathers all
ranks' embeddings (`gather_across_replicas`) and DDP averages the gradients.
"""

import time
import weakref

import keras
import numpy as np

from keras_mpcl.compat import track_torch_variables
from keras_mpcl.distribution.collectives import torch_world
from keras_mpcl.validation import check_int

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


def wrap_ddp(model, find_unused_parameters=True):
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
    model,
    dataset,
    *,
    loss,
    optimizer,
    steps,
    find_unused_parameters=True,
    verbose=1,
):
    """Trains a built Keras model (torch backend) with `DistributedDataParallel`.

    Keras' torch `fit` does not wrap the model in DDP (see keras.io's guide
    "Multi-GPU distributed training with PyTorch"), so this loop does: the
    model's weights are broadcast from rank 0 when it is wrapped, each rank
    runs its own batches (from `DistributionSetup.distribute_dataset`),
    the loss gathers all ranks' embeddings (`gather_across_replicas`), DDP
    averages the gradients during `backward`, and the Keras optimizer
    applies them, so its learning-rate schedule, weight decay and clipping
    work as in `fit`. A keras-hub task's `preprocessor` is applied to the
    batches as `fit` would. Without a process group it trains the plain
    model, so the same loop runs on one process.

    Args:
        model: a built `keras.Model` (e.g. a keras-hub `TextEmbedder`).
        dataset: a `tf.data.Dataset` (or iterable) of `(inputs, group_ids)`;
            restarted when exhausted.
        loss: a Keras loss, e.g. `MultiPositiveContrastiveLoss()`.
        optimizer: a `keras.optimizers.Optimizer`.
        steps: int. Number of optimizer steps.
        find_unused_parameters: bool. Passed to DDP; keras-hub backbones hold
            weights a text embedder does not use (e.g. the pooler), which DDP
            rejects otherwise. Defaults to `True`.
        verbose: int. 1 shows a Keras progress bar on rank 0, 0 is silent.
            Defaults to `1`.

    Returns:
        A dict `{"loss": [...], "seconds": [...]}`: the global-batch loss of
        every step (averaged over ranks) and its wall time.

    Examples:

    ```python
    # torchrun --nproc_per_node=2 train.py
    setup = keras_mpcl.distribution.configure("ddp")
    history = setup.fit(model, dataset_fn, steps_per_epoch=100)  # calls ddp_fit
    ```
    """
    backend = keras.backend.backend()
    if backend != "torch":
        raise RuntimeError(
            "`ddp_fit` is the PyTorch training loop; on the "
            f"{backend} backend use `model.fit` under `configure(...).scope()`."
        )
    check_int("steps", steps)
    import torch
    import torch.distributed as dist

    world, rank = torch_world()
    device = _model_device(model)
    trainer = wrap_ddp(model, find_unused_parameters=find_unused_parameters)
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is not None and hasattr(dataset, "map"):
        import tensorflow as tf

        dataset = dataset.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
    variables = model.trainable_variables
    optimizer.build(variables)
    progbar = keras.utils.Progbar(steps) if verbose and rank == 0 else None
    history = {"loss": [], "seconds": []}

    def batches():
        while True:
            source = dataset.as_numpy_iterator() if hasattr(dataset, "as_numpy_iterator") else dataset
            empty = True
            for batch in source:
                empty = False
                yield batch
            if empty:
                raise ValueError("`dataset` yielded no batch.")

    stream = batches()
    for step in range(steps):
        start = time.perf_counter()
        x, y = next(stream)[:2]
        x, y = _to_torch(x, device), _to_torch(y, device)
        # Gradients left by earlier code would be summed into this step's.
        for v in variables:
            v.value.grad = None
        y_pred = trainer(x, training=True)
        value = loss(y, y_pred)
        value.backward()
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            optimizer.apply(grads, variables)
        logged = value.detach().clone()
        if world > 1:
            # Each rank returns its share times the world size: their mean
            # is the global-batch loss.
            dist.all_reduce(logged)
            logged = logged / world
        history["loss"].append(float(logged))
        history["seconds"].append(time.perf_counter() - start)
        if progbar is not None:
            progbar.update(step + 1, [("loss", history["loss"][-1])])
    return history
