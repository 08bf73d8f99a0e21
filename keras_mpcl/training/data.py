"""The corpus of a run: reading it, splitting train / held-out groups, batching."""

import dataclasses
import logging
import os
import pathlib

import numpy as np

from keras_mpcl.data import TranslationGroups
from keras_mpcl.data import group_dataset
from keras_mpcl.data import load_sample_groups

logger = logging.getLogger("keras_mpcl.training")


@dataclasses.dataclass
class RunData:
    """The groups of a run.

    Attributes:
        train: `TranslationGroups` trained on (held-out languages removed).
        held_out: `TranslationGroups` or None: groups never trained on, in
            every language read (held-out languages included).
        train_languages: tuple of the languages trained on.
    """

    train: TranslationGroups
    held_out: object
    train_languages: tuple

    def held_out_texts(self):
        """`{language: list of texts}` of the held-out groups (`""` = missing)."""
        if self.held_out is None:
            return None
        return {lang: self.held_out.texts(lang) for lang in self.held_out.languages}


def _path(data):
    path = pathlib.Path(os.path.expanduser(os.path.expandvars(data.path)))
    if not path.exists():
        raise FileNotFoundError(
            f"`data.path` = {data.path!r} does not exist (relative paths are read from "
            f"the working directory {os.getcwd()}). Fix it with `--set data.path=...`."
        )
    return path


def read_groups(data):
    """Reads the corpus named by a `DataSection`."""
    languages = data.languages or None
    if data.source == "sample":
        groups = load_sample_groups()
        if languages is not None:
            groups = groups.select_languages(
                list(languages) if isinstance(languages, list) else list(languages.values())
            )
    elif data.source == "jsonl":
        groups = TranslationGroups.from_jsonl(_path(data), languages=languages)
    elif data.source == "aligned_dir":
        groups = TranslationGroups.from_aligned_dir(
            _path(data), data.pattern, languages=languages
        )
    else:  # ntrex: the English source file plus references, keyed by line number.
        from keras_mpcl.data.readers import read_ntrex

        mapping = languages if isinstance(languages, dict) else (
            {code: code for code in languages} if languages else None
        )
        texts = read_ntrex(_path(data), languages=None if mapping is None else list(mapping.values()), lines=None)
        if mapping is None:
            mapping = {code: code for code in texts}
        groups = TranslationGroups(
            {name: texts[code] for name, code in mapping.items()},
            source=f"NTREX-128 {data.path}",
        )
    if data.max_groups and data.max_groups < len(groups):
        logger.info("data.max_groups: keeping %d of %d groups", data.max_groups, len(groups))
        groups = groups.select_groups(np.arange(data.max_groups))
    return groups


def split_groups(groups, data):
    """Splits off the held-out groups and languages; returns a `RunData`."""
    unknown = [lang for lang in data.held_out_languages if lang not in groups.languages]
    if unknown:
        raise ValueError(
            f"`data.held_out_languages` = {unknown} are not languages of the corpus "
            f"{list(groups.languages)}. Fix it with `--set data.held_out_languages=...`."
        )
    held_out = None
    train = groups
    if data.held_out_range:
        start, stop = data.held_out_range
        keys = np.asarray([int(k) for k in groups.keys])
        inside = (keys >= start) & (keys < stop)
        if not inside.any() or inside.all():
            raise ValueError(
                f"`data.held_out_range` = {data.held_out_range} holds {int(inside.sum())} "
                f"of {len(groups)} groups; it should hold some but not all. Fix it with "
                "`--set data.held_out_range=[START, STOP]`."
            )
        held_out = groups.select_groups(inside)
        train = groups.select_groups(~inside)
    elif data.held_out:
        count = data.held_out if isinstance(data.held_out, int) else None
        if count is not None and count >= len(groups):
            raise ValueError(
                f"`data.held_out` = {count} groups leaves none of the {len(groups)} to "
                "train on. Fix it with a smaller count or a fraction, e.g. "
                "`--set data.held_out=0.2`."
            )
        sizes = (
            {"train": len(groups) - count, "held_out": count}
            if count is not None
            else {"train": 1.0 - data.held_out, "held_out": data.held_out}
        )
        parts = groups.split(sizes, seed=data.split_seed)
        train, held_out = parts["train"], parts["held_out"]
    if data.held_out_languages:
        train = train.drop_languages(data.held_out_languages)
    return RunData(train=train, held_out=held_out, train_languages=tuple(train.languages))


def check_batching(run_data, config):
    """Raises if the config's batches cannot be drawn from `run_data` (before any model is built)."""
    effective = config.effective()
    group_size = effective["group_size"]
    languages = list(run_data.train_languages)
    if group_size > len(languages):
        raise ValueError(
            f"`data.group_size` = {group_size} exceeds the {len(languages)} training "
            f"languages {languages}. Fix it with `--set data.group_size={len(languages)}`."
        )
    anchor = effective["anchor"]
    if anchor is not None and anchor not in languages:
        raise ValueError(
            f"`data.anchor_language` = {anchor!r} is not a training language "
            f"{languages}. Fix it with `--set data.anchor_language=...`."
        )


def training_dataset(run_data, config, skip_steps=0, spec=None):
    """The endless, seeded batch stream of a run, starting after `skip_steps` batches.

    Batch `k` depends only on `(train.seed, k)` (see `group_dataset`), so a
    resumed run that skips the batches already trained on sees exactly the
    batches an uninterrupted run would.

    Args:
        run_data: `RunData`.
        config: `TrainingConfig`.
        skip_steps: int. Batches to skip (the restored step). Defaults to `0`.
        spec: optional `keras_mpcl.distribution.ShardSpec`: this pipeline's
            shard of the groups and how many replicas one batch feeds.
            Defaults to `None` (one pipeline, one replica).
    """
    check_batching(run_data, config)
    effective = config.effective()
    group_size, anchor = effective["group_size"], effective["anchor"]
    languages = list(run_data.train_languages)
    groups, replicas = run_data.train, 1
    if spec is not None:
        if spec.num_shards > 1:
            groups = groups.shard(spec.num_shards, spec.shard_index)
        replicas = spec.replicas_per_batch
    dataset = group_dataset(
        groups,
        groups_per_batch=effective["groups_per_batch"] * replicas,
        group_size=group_size,
        seed=config.train.seed,
        languages=languages,
        sampling=config.data.sampling,
        anchor=anchor,
        epochs=None,
        prefetch=False,
    )
    if skip_steps:
        dataset = dataset.skip(skip_steps)
    import tensorflow as tf

    return dataset.prefetch(tf.data.AUTOTUNE)
