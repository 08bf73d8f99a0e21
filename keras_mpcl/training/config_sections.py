"""The sections of a training config: every key with its default, check and meaning."""

import dataclasses
import typing

from keras_mpcl.training import config_checks as check

OBJECTIVES = ("mpcl", "cl", "cl_symmetric")
# `loss.objective` -> the `anchors` of its single-positive pairs.
SINGLE_POSITIVE_ANCHORS = {"cl": "first", "cl_symmetric": "bidirectional"}
DATA_SOURCES = ("sample", "jsonl", "aligned_dir", "ntrex")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
SAMPLINGS = ("random", "fixed")
DEVICES = ("auto", "cpu")


def _field(default, validate, doc):
    """A dataclass field whose metadata holds its check and its one-line meaning."""
    factory = (lambda: type(default)(default)) if isinstance(default, (list, dict)) else None
    metadata = {"check": validate, "doc": doc}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class DataSection:
    """`[data]`: the corpus, its train / held-out split and the batches."""

    source: str = _field("sample", check.one_of(DATA_SOURCES),
                         "sample (packaged), jsonl, aligned_dir or ntrex")
    path: str = _field("", check.string, "file or folder of the corpus (relative to the working directory)")
    pattern: str = _field("*.{lang}.txt", check.string, "aligned_dir file pattern with {lang}")
    languages: typing.Any = _field([], check.languages,
                                   "[] (all), a list, or a table {name = code}")
    held_out_languages: list = _field([], check.language_list,
                                      "languages not trained on, only evaluated")
    held_out: typing.Any = _field(0.25, check.fraction_or_count,
                                  "fraction or count of groups held out for evaluation")
    held_out_range: list = _field([], check.key_range,
                                  "[start, stop) of group keys held out instead (NTREX: [1800, 1997])")
    max_groups: int = _field(0, check.int_at_least(0), "read at most this many groups (0 = all)")
    split_seed: int = _field(0, check.int_at_least(0), "seed of the train / held-out split")
    group_size: int = _field(4, check.int_at_least(2), "rows per group (MPCL: members per group)")
    groups_per_batch: int = _field(0, check.int_at_least(0), "groups per batch (0: from batch_size)")
    batch_size: int = _field(32, check.int_at_least(0), "sentences per batch (0: from groups_per_batch)")
    sampling: str = _field("random", check.one_of(SAMPLINGS), "member sampling of group_dataset")
    anchor_language: str = _field(
        "en", check.string, "in every group and first, for every objective (\"\" = none: random "
        "languages; `cl` needs one)")


@dataclasses.dataclass
class EncoderSection:
    """`[encoder]`: what to train."""

    source: str = _field("auto", check.string,
                         "auto, random, a keras-hub preset / hf:// handle, or a local folder")
    max_length: int = _field(64, check.int_at_least(3), "maximum tokens per sentence")
    pooling: str = _field("", check.unset_or_one_of(("mean", "cls", "max")), "\"\" keeps the checkpoint's")
    projection_dim: int = _field(0, check.int_at_least(0), "projection head size (0 = none)")
    random: dict = _field({}, check.table, "EncoderConfig fields of a randomly initialised encoder")


@dataclasses.dataclass
class LossSection:
    """`[loss]`: MPCL or the single-positive baseline."""

    objective: str = _field("mpcl", check.one_of(OBJECTIVES),
                            "mpcl; cl: pairs, anchor language first, anchors='first'; "
                            "cl_symmetric: the same pairs both ways, anchors='bidirectional'")
    temperature: float = _field(0.05, check.number(0.0, open_min=True), "softmax temperature")
    variant: str = _field("supcon", check.one_of(("supcon", "independent", "pooled")), "MPCL variant")
    anchors: str = _field("bidirectional", check.one_of(("all", "first", "bidirectional")),
                          "which rows are anchors (MultiPositiveContrastiveLoss; all: the paper's)")
    margin: float = _field(0.0, check.number(0.0), "additive margin on positives")
    gather_across_replicas: typing.Any = _field(
        "auto", check.auto_or_bool, "share negatives across replicas: auto, true or false")


@dataclasses.dataclass
class OptimizerSection:
    """`[optimizer]`: AdamW with linear warmup then linear decay."""

    learning_rate: float = _field(2e-5, check.number(0.0, open_min=True), "peak learning rate")
    random_init_learning_rate: float = _field(
        0.0, check.number(0.0), "peak learning rate of a randomly initialised encoder (0 = learning_rate)")
    end_learning_rate: float = _field(0.0, check.number(0.0), "learning rate after the last step")
    warmup: typing.Any = _field(0.1, check.fraction_or_count, "warmup: fraction of steps or a count")
    weight_decay: float = _field(0.01, check.number(0.0), "AdamW decoupled weight decay")
    clipnorm: float = _field(1.0, check.number(0.0), "global gradient norm clip (0 = off)")


@dataclasses.dataclass
class TrainSection:
    """`[train]`: length, checkpoints, hardware options."""

    steps: int = _field(100, check.int_at_least(1), "optimizer steps in total")
    checkpoint_every: int = _field(25, check.int_at_least(1), "steps between backups (a Keras epoch)")
    seed: int = _field(0, check.int_at_least(0), "seed of initialisation, data order and dropout")
    precision: str = _field("float32", check.one_of(PRECISIONS), "dtype policy")
    jit_compile: typing.Any = _field("auto", check.auto_or_bool, "auto (Keras': jax.jit; XLA on TF with an accelerator; eager torch), true, false")
    device: str = _field("auto", check.one_of(DEVICES), "auto, or cpu to hide accelerators")
    strategy: str = _field("none", check.string, "keras_mpcl.distribution.configure strategy")
    simulate_cpu_devices: int = _field(
        0, check.int_at_least(0), "split the CPU into N devices (TensorFlow / JAX dry runs; 0 = off)")
    mesh_shape: list = _field([], check.mesh_shape, "JAX [batch, model] device mesh ([] = all devices on batch)")
    tpu: str = _field("", check.string, "TensorFlow TPU name or address (\"local\" on a TPU VM; \"\" = TPU_NAME)")
    communication: str = _field("auto", check.one_of(("auto", "ring", "nccl")),
                                "MultiWorkerMirroredStrategy collectives")
    verbose: int = _field(1, check.one_of((0, 1, 2)), "Keras progress: 0 silent, 1 bar, 2 one line per epoch")
    tensorboard: bool = _field(True, check.boolean, "write TensorBoard logs")
    remat: typing.Any = _field(
        False, check.bool_or_count,
        "recompute transformer layers in the backward pass: less memory, more compute (true: all; N: the first N)")
    length_buckets: int = _field(1, check.int_at_least(1), "encode each batch in N chunks of similar length (less padding work; under XLA / jax.jit: fixed chunk widths, a few compiles)")
    mini_batch_size: int = _field(
        0, check.int_at_least(0),
        "GradCache: encode each batch M sentences at a time (the memory of M, the gradient of the whole batch; 0 = off)")


@dataclasses.dataclass
class EvalSection:
    """`[eval]`: held-out retrieval before / after training and during it."""

    before_after: bool = _field(True, check.boolean, "held-out retrieval before and after training")
    plot: bool = _field(True, check.boolean, "write retrieval_before_after.png")
    every_steps: int = _field(0, check.int_at_least(0), "also evaluate every N steps during fit (0 = off)")
    batch_size: int = _field(64, check.int_at_least(1), "encoding batch size")


SECTIONS = {
    "data": DataSection,
    "encoder": EncoderSection,
    "loss": LossSection,
    "optimizer": OptimizerSection,
    "train": TrainSection,
    "eval": EvalSection,
}
