"""The cached (GradCache) train step on PyTorch: eager loops over mini-batches."""

import warnings

import keras
import torch

from keras_mpcl.distribution.collectives import torch_world
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
        raise ValueError(
            "`cached_training` on the torch backend needs eager execution: it "
            "records and restores torch's random state between its passes, which "
            "torch.compile does not replay. Compile the model with `jit_compile=False`."
        )
    world, _ = torch_world()
    if world > 1:
        raise ValueError(
            f"`cached_training` on the torch backend runs on one process; this one is "
            f"in a `torch.distributed` group of {world}, whose training loop "
            "(`keras_mpcl.distribution.ddp_fit`) does not use a model's train step. "
            "Train with TensorFlow's MirroredStrategy or JAX's DataParallel, or "
            "on one process."
        )


def train_step(model, mini_batch_size, data):
    """One optimizer step over a batch encoded `mini_batch_size` rows at a time.

    Mirrors `keras.src.backend.torch.trainer.TorchTrainer.train_step` (loss
    tracking, loss scaling, `optimizer.apply`), with the forward and
    backward passes of the encoder split into mini-batches.

    Args:
        model: the `keras.Model` being trained.
        mini_batch_size: int. Rows encoded at once.
        data: the batch `fit` hands to a train step.

    Returns:
        The logs dict of `model.compute_metrics`.
    """
    _refuse_unsupported(model)
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
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
    model._loss_tracker.update_state(loss, sample_weight=num_rows)
    scaled_loss = model.optimizer.scale_loss(loss) if model.optimizer is not None else loss
    (embedding_gradients,) = torch.autograd.grad(scaled_loss, embeddings)
    embedding_gradients = mini_batches.pad_rows(embedding_gradients, rows.numel()).reshape(
        rows.shape + (-1,)
    )
    embeddings = embeddings.detach()

    # 3. Encode each mini-batch again from its random state, back-propagating
    # its cached embedding gradients: d/dw sum(e * g) summed over mini-batches.
    variables = model.trainable_weights[:]
    if not variables:
        warnings.warn("The model does not have any trainable weights.")
        return model.compute_metrics(x, y, embeddings, sample_weight=sample_weight)
    model.zero_grad()
    for chunk_rows, chunk_gradients, random_state in zip(
        rows, embedding_gradients, random_states
    ):
        random_state.restore()
        chunk = mini_batches.take_rows(x, chunk_rows)
        torch.sum(model(chunk, training=True).float() * chunk_gradients).backward()
    with torch.no_grad():
        model.optimizer.apply([v.value.grad for v in variables], variables)
    return model.compute_metrics(x, y, embeddings, sample_weight=sample_weight)
