"""One arm, one seed: `keras_mpcl.training.train` (or sentence-transformers) on a fresh encoder.

Every Keras arm is a `TrainingConfig` trained by `keras_mpcl.training.train`,
which loads a new encoder from the starting checkpoint and seeds the run
(data order, dropout), so a run's numbers depend only on its arm and seed,
never on the runs before it in the process. The
sentence-transformers arm trains on exactly the batches of the `cl` arm with
the library's learning-rate schedule and optimiser settings.
"""

import tempfile
import time

import keras

from keras_mpcl.evaluation import as_encode_fn
from keras_mpcl.evaluation import read_ntrex
from keras_mpcl.models import build_encoder
from keras_mpcl.models import offline_minilm_path
from keras_mpcl.training import TrainingConfig
from keras_mpcl.training import WarmupLinearDecay
from keras_mpcl.training import build_run_encoder
from keras_mpcl.training import data as run_data_lib
from keras_mpcl.training import train

from .settings import EVAL_LINES
from .settings import SEEN
from .settings import TINY_ENCODER
from .settings import TRAIN_LINES
from .settings import cl_arm


def starting_checkpoint(args):
    """The folder every run starts from: `--encoder`, else the offline MiniLM.

    `--encoder tiny` (plumbing tests): a tiny random BERT with a WordPiece
    vocabulary of 10 training lines (the vocabulary learner is superlinear
    in them: 50 lines took 35 s), built once (seeded) into `--output`.
    """
    if args.encoder != "tiny":
        return str(args.encoder or offline_minilm_path())
    folder = args.output / "tiny_encoder"
    if not (folder / "config.json").is_file():
        texts = read_ntrex(args.data_dir / "ntrex128", [codes[0] for codes in SEEN.values()],
                           lines=(TRAIN_LINES[0], TRAIN_LINES[0] + 10))
        keras.utils.set_random_seed(1234)
        encoder = build_encoder(TINY_ENCODER, texts=[t for lines in texts.values() for t in lines],
                                max_length=args.max_length)
        encoder.save_to_preset(str(folder))
    return str(folder)


def run_config(args, arm, seed, output_dir="unused"):
    """The `TrainingConfig` of one Keras arm and seed.

    NTREX-128 lines 0 .. 1799 minus the dev tail in the 15 XNLI languages,
    `--batch` sentences in groups of the arm's size, AdamW with linear warmup
    and decay, no gradient clipping, fp32, one Keras epoch of `--steps`.
    """
    cut = TRAIN_LINES[1] - args.dev_lines
    pairs = arm.anchors == "first"
    return TrainingConfig.from_dict({
        "output_dir": str(output_dir),
        "data": {
            "source": "ntrex", "path": str(args.data_dir / "ntrex128"),
            "languages": {lang: codes[0] for lang, codes in SEEN.items()},
            # Never trained on: the dev tail and the evaluation lines.
            "held_out": 0, "held_out_range": [cut, EVAL_LINES[1]],
            "group_size": arm.group_size, "groups_per_batch": args.batch // arm.group_size,
            "batch_size": 0, "sampling": "random",
            "anchor_language": "en" if pairs or args.mpcl_groups == "with-english" else "",
        },
        "encoder": {"source": starting_checkpoint(args), "max_length": args.max_length},
        "loss": {"objective": "cl" if pairs else "mpcl", "variant": "supcon" if pairs
                 else arm.variant, "anchors": arm.anchors, "temperature": args.temperature},
        "optimizer": {"learning_rate": args.lr, "warmup": args.warmup,
                      "weight_decay": args.weight_decay, "clipnorm": 0.0},
        "train": {"steps": args.steps, "checkpoint_every": args.steps, "seed": seed,
                  "precision": "float32", "verbose": 0, "tensorboard": False},
        "eval": {"before_after": False, "plot": False},
    })


def _run_data(config):
    return run_data_lib.split_groups(run_data_lib.read_groups(config.data), config.data)


class FitRecord(keras.callbacks.Callback):
    """Per-step losses (recovered from Keras' running mean of the epoch) and `fit`'s wall time."""

    def on_train_begin(self, logs=None):
        self.losses, self._previous, self._start = [], 0.0, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        self.losses.append(mean * (batch + 1) - self._previous * batch)
        self._previous = mean

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self._start


def train_keras(arm, args, seed):
    """Trains a fresh encoder; returns `(encode_fn, per-step losses, fit seconds)`."""
    record = FitRecord()
    # The run's folder (backup, logs, preset) is not kept: the metrics are the result.
    with tempfile.TemporaryDirectory(prefix="reproduce_paper_") as folder:
        result = train(run_config(args, arm, seed, folder), callbacks=[record])
    return as_encode_fn(result.encoder, batch_size=args.encode_batch), record.losses, record.seconds


def untrained_encoder(args):
    """The encoder every Keras run starts from, as `train` builds it."""
    encoder, _, _ = build_run_encoder(run_config(args, cl_arm(), seed=0), train_texts=[])
    return as_encode_fn(encoder, batch_size=args.encode_batch)


def train_sentence_transformers(args, seed):
    """MultipleNegativesRankingLoss on the `cl` pairs, same steps/batch/schedule/optimiser."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import (
        MultipleNegativesRankingLoss,
    )

    config = run_config(args, cl_arm(), seed)
    data = iter(run_data_lib.training_dataset(_run_data(config), config))
    torch.manual_seed(seed)
    model = SentenceTransformer(starting_checkpoint(args), device="cpu")
    model.max_seq_length = args.max_length
    loss_fn = MultipleNegativesRankingLoss(model, scale=1.0 / args.temperature)
    # As `keras_mpcl.training.make_optimizer`: no decay of biases and LayerNorm
    # weights, Keras' AdamW epsilon.
    params = list(model.named_parameters())
    no_decay = [p for n, p in params if "bias" in n or "LayerNorm" in n]
    decay = [p for n, p in params if not ("bias" in n or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, eps=1e-7,
    )
    schedule = WarmupLinearDecay(peak=args.lr, total_steps=args.steps,
                                 warmup_steps=config.warmup_steps())
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: float(keras.ops.convert_to_numpy(schedule(step))) / args.lr
    )
    model.train()
    losses = []
    start = time.perf_counter()
    for _ in range(args.steps):
        texts, ids = next(data)
        texts = [t.decode("utf-8") for t in texts.numpy()]
        ids = ids.numpy()
        # Padding pairs (id -1) fill an epoch's last batch; the MPCL loss ignores them too.
        pairs = [g for g in range(0, len(texts), 2) if ids[g] >= 0]
        anchors, positives = [texts[g] for g in pairs], [texts[g + 1] for g in pairs]
        features = [model.tokenize(anchors), model.tokenize(positives)]
        loss = loss_fn(features, None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - start
    model.eval()

    def encode_fn(texts):
        return model.encode(list(texts), batch_size=args.encode_batch,
                            normalize_embeddings=True, convert_to_numpy=True)

    return encode_fn, losses, seconds
