"""The cached (GradCache) train step on PyTorch: eager loops over mini-batches."""

import contextlib
import warnings

import keras
import torch

from keras_mpcl import compat
from keras_mpcl.distribution.collectives import torch_world
from keras_mpcl.models.remat import remat_under_torch_compile_error
from keras_mpcl.training.grad_cache import mini_batches


class _RandomState:
    """The random state a mini-batch is encoded from, to encode it again identically.

    Seeded Keras dropout draws from the model's seed generators; unseeded
    dropout on torch draws from torch's global generators (CPU and CUDA), as
    sentence-transformers' `RandContext` records.
    """

    def __init__(self, seeds):
        self.seeds = seeds
        self.seed_values = [seed.value.clone() for seed in seeds]
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None

    def restore(self):
        for seed, value in zip(self.seeds, self.seed_values):
            seed.assign(value)
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)


def _refuse_unsupported(model):
    if model.jit_compile:
        raise remat_under_torch_compile_error("`cached_training`")
    world, _ = torch_world()
    if world > 1:
        raise ValueError(
            f"This process is in a `torch.distributed` group of {world}: train with "
            "`keras_mpcl.distribution.ddp_fit` (or `keras_mpcl.training.train`), which "
            "runs the cached steps of every process together, not with `model.fit`."
        )


def cached_backward(model, mini_batch_size, x, y, sample_weight=None, forward=None,
                    no_sync=None):
    """The loss of a batch, with its gradient left in every trainable variable's `.grad`.

    Encodes `x` in mini-batches without gradients, takes the loss of the
    whole batch and its gradient with respect to the embeddings, then
    encodes each mini-batch again from the random state it was first encoded
    from and back-propagates that gradient. Gradients add up in `.grad`, so
    clear them first.

    Args:
        model: the `keras.Model` being trained, compiled with its loss.
        mini_batch_size: int. Rows encoded at once.
        x, y, sample_weight: the batch.
        forward: callable or None. What encodes a mini-batch with gradients;
            defaults to `model`. `ddp_fit` passes its DDP wrapper, so that
            the gradients are averaged across processes.
        no_sync: callable or None. A context manager factory (DDP's
            `no_sync`) entered for every mini-batch but the last, so that
            the processes average the summed gradients once per step.

    Returns:
        `(loss, embeddings)`: the unscaled loss tensor and the detached
        `(N, D)` embeddings.
    """
    forward = forward or model
    num_rows = mini_batches.batch_size(x)
    rows = mini_batches.mini_batch_rows(num_rows, mini_batch_size)
    seeds = mini_batches.seed_state_variables(model)

    # 1. Encode each mini-batch without gradients, keeping its random state.
    random_states, embeddings = [], []
    with torch.no_grad():
        for chunk_rows in rows:
            random_states.append(_RandomState(seeds))
            chunk = mini_batches.take_rows(x, chunk_rows)
            embeddings.append(model(chunk, training=True).float())
            mini_batches.refuse_model_losses(model.losses)
    embeddings = torch.cat(embeddings)[:num_rows].requires_grad_()

    # 2. The loss of the whole batch and its gradient w.r.t. the embeddings.
    loss = model.compute_loss(
        x=x, y=y, y_pred=embeddings, sample_weight=sample_weight, training=True
    )
    scaled_loss = model.optimizer.scale_loss(loss) if model.optimizer is not None else loss
    (embedding_gradients,) = torch.autograd.grad(scaled_loss, embeddings)
    embedding_gradients = mini_batches.pad_rows(embedding_gradients, rows.numel()).reshape(
        rows.shape + (-1,)
    )

    # 3. Encode each mini-batch again from its random state, back-propagating
    # its cached embedding gradients: d/dw sum(e * g) summed over mini-batches.
    if not model.trainable_weights:
        return loss, embeddings.detach()
    last = len(rows) - 1
    for index, (chunk_rows, chunk_gradients, random_state) in enumerate(
        zip(rows, embedding_gradients, random_states)
    ):
        random_state.restore()
        chunk = mini_batches.take_rows(x, chunk_rows)
        with no_sync() if no_sync is not None and index < last else contextlib.nullcontext():
            torch.sum(forward(chunk, training=True).float() * chunk_gradients).backward()
    return loss, embeddings.detach()


def train_step(model, mini_batch_size, data):
    """One optimizer step over a batch encoded `mini_batch_size` rows at a time.

    Mirrors Keras' own torch train step (loss tracking, loss scaling,
    `optimizer.apply`), with the forward and backward passes of the encoder
    split into mini-batches by `cached_backward`.

    Args:
        model: the `keras.Model` being trained.
        mini_batch_size: int. Rows encoded at once.
        data: the batch `fit` hands to a train step.

    Returns:
        The logs dict of `model.compute_metrics`.
    """
    _refuse_unsupported(model)
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    variables = model.trainable_weights[:]
    model.zero_grad()
    loss, embeddings = cached_backward(model, mini_batch_size, x, y, sample_weight)
    compat.track_loss(model, loss, mini_batches.batch_size(x))
    if not variables:
        warnings.warn("The model does not have any trainable weights.")
    else:
        with torch.no_grad():
            model.optimizer.apply([v.value.grad for v in variables], variables)
    return model.compute_metrics(x, y, embeddings, sample_weight=sample_weight)
