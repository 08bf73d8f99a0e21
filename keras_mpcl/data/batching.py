"""`group_dataset`: translation groups -> `tf.data` batches of `(texts, group_ids)`."""

from __future__ import annotations

import dataclasses
import logging
import sys
from typing import TYPE_CHECKING

import numpy as np

from keras_mpcl.data.base import check_known_languages
from keras_mpcl.data.corpus import TranslationGroups
from keras_mpcl.data.streaming import StreamingTranslationGroups
from keras_mpcl.validation import check_choice
from keras_mpcl.validation import check_int

if TYPE_CHECKING:
    from collections.abc import Iterable

    import tensorflow as tf

logger = logging.getLogger("keras_mpcl.data")

SAMPLING = ("random", "fixed")
INCOMPLETE = ("pad", "skip")
REMAINDER = ("pad", "drop")
PADDING_ID = -1
# Default shuffle window of a streamed corpus, in groups (in memory: all groups).
STREAMING_SHUFFLE_BUFFER = 10_000
_UNAVAILABLE = 1e9  # sort key of members a group does not have
_HASH_BUCKETS = 2**62


def _stateless_key(seed, stream):
    import tensorflow as tf

    return tf.constant([seed, stream], dtype=tf.int64)


def group_dataset(
    groups: TranslationGroups | StreamingTranslationGroups,
    *,
    groups_per_batch: int,
    group_size: int,
    seed: int,
    languages: Iterable[str] | None = None,
    sampling: str = "random",
    anchor: str | None = None,
    incomplete: str = "pad",
    remainder: str = "pad",
    epochs: int | None = 1,
    shuffle: bool = True,
    shuffle_buffer: int | None = None,
    prefetch: bool = True,
) -> tf.data.Dataset:
    """Batches of translation groups as a `tf.data.Dataset` of `(texts, group_ids)`.

    Each batch holds `groups_per_batch` groups of `group_size` rows, flattened
    to `N = groups_per_batch * group_size` rows: `texts` is a `tf.string`
    tensor of shape `(N,)` and `group_ids` an `int32` tensor of shape `(N,)`.
    Rows `g * group_size` to `(g + 1) * group_size - 1` belong to the `g`-th
    group of the batch: its members first (the `anchor` language first of
    all when given), then padding rows with text `""` and id `-1`. A group's id
    is its `group_index` in the corpus (for a streamed corpus, its 0-based
    line number), so it is unique within a batch and across shards. Feed the
    dataset straight to `model.fit` of a keras-hub text model with a
    preprocessor (the preprocessor tokenizes `texts` inside `tf.data`) and
    a `keras_mpcl.losses.MultiPositiveContrastiveLoss`; this works on the
    TensorFlow, JAX and PyTorch backends.

    Guarantees: no group appears twice in a batch (batches never span two
    epochs); no identical text appears under two group ids in a batch (corpora
    in memory merge such groups when read; as a guard, and for streamed
    corpora, a group repeating a text of an earlier group of its batch is
    turned into padding rows). Everything is determined by `seed`: the same
    arguments give the same batches, whatever the global random seed.

    Groups are shuffled per epoch: a corpus in memory fully (by default),
    a streamed one within consecutive windows of `shuffle_buffer` groups.
    Groups with fewer than two members among `languages`, fewer than
    `group_size` with `incomplete="skip"`, or without the `anchor` are
    skipped; for corpora in memory their number is logged to the
    `"keras_mpcl.data"` logger together with the batches per epoch.

    Note: iterating the dataset twice gives the same batches; for several
    epochs of `model.fit`, pass `epochs` here (or `epochs=None` and
    `steps_per_epoch` to `fit`) so that each epoch is shuffled differently.
    For multi-worker training, give each worker `groups.shard(num_workers,
    worker_index)`.

    Args:
        groups: a `TranslationGroups` or `StreamingTranslationGroups`.
        groups_per_batch: int. Groups per batch. Must be >= 1.
        group_size: int. Rows per group (members plus padding). Must be >= 2
            and at most the number of `languages`.
        seed: int. Seed of the shuffling and member sampling.
        languages: list of str or `None`. The languages members are drawn
            from, in preference order for `sampling="fixed"`.
            Defaults to `None` (all languages of the corpus).
        sampling: str. `"random"`: `group_size` members drawn at random from
            the group's available languages, anew at every step. `"fixed"`:
            the first `group_size` available languages in `languages` order
            (all of them when `group_size == len(languages)`).
            Defaults to `"random"`.
        anchor: str or `None`. A language always included and placed first in
            its group, e.g. `"en"` for the `anchors="first"` baseline of the
            loss. Defaults to `None`.
        incomplete: str. Groups with fewer than `group_size` available members:
            `"pad"` fills their rows with padding (id `-1`), `"skip"` leaves
            them out. Defaults to `"pad"`.
        remainder: str. The last, partial batch of an epoch: `"pad"` fills it
            with padding groups, `"drop"` drops it (those groups come in
            other epochs' batches, as the order changes). Either way every
            batch has `N` rows. Defaults to `"pad"`.
        epochs: int or `None`. Passes over the corpus; `None` repeats forever.
            Defaults to `1`.
        shuffle: bool. Shuffle the groups each epoch. Defaults to `True`.
        shuffle_buffer: int or `None`. Size of the shuffled windows of groups.
            Defaults to `None`: the whole corpus in memory, 10000 groups for a
            streamed corpus.
        prefetch: bool. Prefetch batches (`tf.data.AUTOTUNE`).
            Defaults to `True`.

    Returns:
        A `tf.data.Dataset` of `(texts, group_ids)` with shapes `(N,)`.

    Examples:

    >>> from keras_mpcl.data import TranslationGroups
    >>> groups = TranslationGroups({
    ...     "en": ["Hello.", "Thank you.", "Good night."],
    ...     "de": ["Hallo.", "Danke.", ""],
    ...     "fr": ["Bonjour.", "Merci.", "Bonne nuit."],
    ... })
    >>> dataset = group_dataset(groups, groups_per_batch=2, group_size=3,
    ...                         seed=0, sampling="fixed", shuffle=False)
    >>> for texts, group_ids in dataset.as_numpy_iterator():
    ...     print([t.decode() for t in texts], group_ids.tolist())
    ['Hello.', 'Hallo.', 'Bonjour.', 'Thank you.', 'Danke.', 'Merci.']
    [0, 0, 0, 1, 1, 1]
    ['Good night.', 'Bonne nuit.', '', '', '', '']
    [2, 2, -1, -1, -1, -1]

    With `model.fit`:

    ```python
    encoder = keras_hub.models.BertTextEmbedder.from_preset(...)
    encoder.compile(optimizer="adam",
                    loss=keras_mpcl.losses.MultiPositiveContrastiveLoss())
    encoder.fit(group_dataset(groups, groups_per_batch=32, group_size=4,
                              seed=0, epochs=3))
    ```

    Reference:
    - [Zhao et al., 2024](https://arxiv.org/abs/2309.08929)
    """
    import tensorflow as tf

    in_memory = _check_groups(groups)
    plan = _plan(
        groups.languages,
        groups_per_batch=groups_per_batch,
        group_size=group_size,
        seed=seed,
        languages=languages,
        sampling=sampling,
        anchor=anchor,
        incomplete=incomplete,
        remainder=remainder,
        epochs=epochs,
        shuffle_buffer=shuffle_buffer,
    )
    if in_memory:
        usable, num_usable = _usable_groups_in_memory(groups, plan)
        buffer = shuffle_buffer or num_usable
    else:
        usable, num_usable = _usable_groups_streamed(groups, plan), None
        buffer = shuffle_buffer or STREAMING_SHUFFLE_BUFFER
    dataset = _batches_of_groups(usable, plan, shuffle, buffer)
    dataset = _rows_of_batches(dataset, plan)
    if in_memory and epochs is not None:
        dataset = dataset.apply(
            tf.data.experimental.assert_cardinality(
                _batches_per_epoch(num_usable, plan) * epochs
            )
        )
    if prefetch:
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options)


# The steps of `group_dataset`, in the order it takes them: check the arguments
# and resolve the languages (`_plan`) -> keep the usable groups -> shuffle them
# per epoch and batch them, padding the last batch -> per batch, sample each
# group's members, padding short groups -> guard duplicate texts -> flatten.


@dataclasses.dataclass(frozen=True)
class _Plan:
    """The checked arguments of one `group_dataset` call, as its steps use them.

    Args:
        groups_per_batch: int.
        group_size: int.
        seed: int.
        sampling: str. `"random"` or `"fixed"`.
        anchor: str or `None`.
        remainder: str. `"pad"` or `"drop"`.
        epochs: int or `None` (repeat forever).
        pool: list of str. The languages members are drawn from.
        in_pool: bool array `(L,)`: the corpus column is in `pool`.
        rank: float32 array `(L,)`: a column's position in `pool`
            (`_UNAVAILABLE` outside it), the member order of `"fixed"`.
        anchor_column: int. The corpus column of `anchor`, `-1` without one.
        min_members: int. Members among `pool` a group needs to be used.
    """

    groups_per_batch: int
    group_size: int
    seed: int
    sampling: str
    anchor: object
    remainder: str
    epochs: object
    pool: list
    in_pool: np.ndarray
    rank: np.ndarray
    anchor_column: int
    min_members: int

    @property
    def num_columns(self):
        """Languages of the corpus (columns of a group's texts)."""
        return len(self.in_pool)

    @property
    def num_rows(self):
        """Rows of a batch, `N = groups_per_batch * group_size`."""
        return self.groups_per_batch * self.group_size


def _check_groups(groups):
    """Raises unless `groups` is a corpus; returns whether it is in memory."""
    if isinstance(groups, TranslationGroups):
        return True
    if isinstance(groups, StreamingTranslationGroups):
        return False
    raise TypeError(
        "`groups` should be a `keras_mpcl.data.TranslationGroups` or "
        f"`StreamingTranslationGroups`. Received: {type(groups).__name__}; "
        "build one with e.g. `TranslationGroups.from_jsonl(path)`"
    )


def _plan(
    all_languages,
    *,
    groups_per_batch,
    group_size,
    seed,
    languages,
    sampling,
    anchor,
    incomplete,
    remainder,
    epochs,
    shuffle_buffer,
):
    """Checks the arguments and the languages of the corpus; returns the `_Plan`."""
    check_int("groups_per_batch", groups_per_batch, 1, "a positive int")
    check_int("group_size", group_size, 2, "an int >= 2 (a group needs a positive)")
    check_int("seed", seed, 0, "a non-negative int")
    check_choice("sampling", sampling, SAMPLING)
    check_choice("incomplete", incomplete, INCOMPLETE)
    check_choice("remainder", remainder, REMAINDER)
    if epochs is not None:
        check_int("epochs", epochs, 1, "a positive int or None (repeat forever)")
    if shuffle_buffer is not None:
        check_int("shuffle_buffer", shuffle_buffer, 1, "a positive int or None")
    pool = (
        list(all_languages)
        if languages is None
        else check_known_languages(languages, all_languages)
    )
    if len(set(pool)) != len(pool) or not pool:
        raise ValueError(
            "`languages` should list distinct languages. "
            f"Received: `languages` = {pool}"
        )
    if group_size > len(pool):
        raise ValueError(
            f"`group_size` should be at most the number of languages to draw "
            f"from ({len(pool)}: {pool}). Received: `group_size` = {group_size}"
        )
    if anchor is not None and anchor not in pool:
        raise ValueError(
            f"Unknown `anchor` language {anchor!r}: it should be one of the "
            f"languages members are drawn from, {pool}"
        )
    return _Plan(
        groups_per_batch=groups_per_batch,
        group_size=group_size,
        seed=seed,
        sampling=sampling,
        anchor=anchor,
        remainder=remainder,
        epochs=epochs,
        pool=pool,
        in_pool=np.array([lang in pool for lang in all_languages]),
        rank=np.array(
            [
                pool.index(lang) if lang in pool else _UNAVAILABLE
                for lang in all_languages
            ],
            dtype=np.float32,
        ),
        anchor_column=-1 if anchor is None else all_languages.index(anchor),
        min_members=group_size if incomplete == "skip" else 2,
    )


def _batches_per_epoch(num_usable, plan):
    """Batches of one epoch of `num_usable` groups (the last one padded or dropped)."""
    full, partial = divmod(num_usable, plan.groups_per_batch)
    return full + (partial > 0 and plan.remainder == "pad")


def _usable_groups_in_memory(groups, plan):
    """The usable groups as a dataset of `(texts (L,), group id)`, and their number.

    Checks that they fill at least one batch and logs how many were skipped.
    """
    import tensorflow as tf

    table = groups.table()
    present = (table != "") & plan.in_pool
    usable = present.sum(axis=1) >= plan.min_members
    if plan.anchor is not None:
        usable &= present[:, plan.anchor_column]
    num_usable = int(usable.sum())
    if num_usable == 0:
        raise ValueError(
            f"No group has at least {plan.min_members} members among {plan.pool}"
            + (f" including the anchor {plan.anchor!r}" if plan.anchor else "")
            + f" ({len(groups)} groups); lower `group_size`, use "
            "`incomplete='pad'` or choose other `languages`"
        )
    index = groups.group_index[usable]
    if index.max() >= 2**31:
        raise ValueError("group ids exceed int32; shard the corpus")
    batches = _batches_per_epoch(num_usable, plan)
    if batches == 0:
        raise ValueError(
            f"`groups_per_batch` = {plan.groups_per_batch} exceeds the {num_usable} "
            "usable groups and `remainder='drop'` would leave no batch; lower "
            "`groups_per_batch` or use `remainder='pad'`"
        )
    _log_usable_groups(len(groups), num_usable, batches, plan)
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant(table[usable].astype(object), tf.string), index)
    )
    return dataset, num_usable


def _log_usable_groups(num_groups, num_usable, batches, plan):
    """Logs the usable and skipped groups and the batches per epoch."""
    logger.info(
        "group_dataset: %d of %d groups usable (%d skipped: fewer than %d "
        "members among %d languages%s); %d batches of %d groups x %d rows "
        "per epoch; last batch: %d groups %s",
        num_usable,
        num_groups,
        num_groups - num_usable,
        plan.min_members,
        len(plan.pool),
        f" or no {plan.anchor!r} member" if plan.anchor else "",
        batches,
        plan.groups_per_batch,
        plan.group_size,
        num_usable % plan.groups_per_batch,
        "padded" if plan.remainder == "pad" else "dropped this epoch",
    )


def _usable_groups_streamed(groups, plan):
    """The usable groups of a streamed corpus, filtered as they are read.

    Checks that the stream holds enough usable groups for a batch.
    """
    import tensorflow as tf

    pool_mask = tf.constant(plan.in_pool)

    def is_usable(texts, index):
        available = tf.logical_and(tf.not_equal(texts, ""), pool_mask)
        ok = tf.reduce_sum(tf.cast(available, tf.int32)) >= plan.min_members
        if plan.anchor is not None:
            ok = tf.logical_and(ok, available[plan.anchor_column])
        return ok

    dataset = groups.as_tf_dataset().filter(is_usable)
    needed = plan.groups_per_batch if plan.remainder == "drop" else 1
    _check_streamed_groups_suffice(dataset, len(groups), needed, plan)
    return dataset


def _check_streamed_groups_suffice(dataset, num_lines, needed, plan):
    """Raises unless the stream has `needed` usable groups (else it spins or is empty).

    Reads only until `needed` usable groups are found: the whole file only
    when it has too few.
    """
    found = sum(1 for _ in dataset.take(needed))
    if found >= needed:
        return
    if found == 0:
        raise ValueError(
            f"No group of the streamed corpus ({num_lines} lines) has at least "
            f"{plan.min_members} members among {plan.pool}"
            + (f" including the anchor {plan.anchor!r}" if plan.anchor else "")
            + "; lower `group_size`, use `incomplete='pad'` or choose other `languages`"
        )
    raise ValueError(
        f"`groups_per_batch` = {needed} exceeds the {found} usable groups of the "
        "streamed corpus and `remainder='drop'` would leave no batch; lower "
        "`groups_per_batch` or use `remainder='pad'`"
    )


def _batches_of_groups(usable, plan, shuffle, buffer):
    """Epochs of shuffled groups cut into batches of `(texts (B, L), ids (B,))`.

    Batches never span two epochs; with `remainder="pad"` the last batch of
    an epoch is filled with padding groups (texts `""`, id `-1`).
    """
    import tensorflow as tf

    shuffle_key = _stateless_key(plan.seed, 0)

    def one_epoch(epoch):
        dataset = usable
        if shuffle:
            epoch_seed = tf.random.experimental.stateless_fold_in(shuffle_key, epoch)
            dataset = (
                dataset.batch(buffer)
                .enumerate()
                .map(lambda window, x: _permute_window(epoch_seed, window, *x))
                .unbatch()
            )
        dataset = dataset.batch(
            plan.groups_per_batch, drop_remainder=plan.remainder == "drop"
        )
        if plan.remainder == "pad":
            dataset = dataset.map(lambda texts, index: _pad_batch(texts, index, plan))
        return dataset

    epochs = plan.epochs if plan.epochs is not None else 2**62
    epoch_range = tf.data.Dataset.range(epochs)
    return epoch_range.flat_map(one_epoch)


def _permute_window(epoch_seed, window, texts, index):
    """Shuffles one window of groups.

    Its order depends only on `(seed, epoch, window)`, so it is reproducible
    whatever the global seed and the iteration count.
    """
    import tensorflow as tf

    window_seed = tf.random.experimental.stateless_fold_in(epoch_seed, window)
    keys = tf.random.stateless_uniform(tf.shape(index), seed=window_seed)
    order = tf.argsort(keys, stable=True)
    return tf.gather(texts, order), tf.gather(index, order)


def _pad_batch(texts, index, plan):
    """Fills a partial batch with padding groups up to `groups_per_batch`."""
    import tensorflow as tf

    missing = plan.groups_per_batch - tf.shape(index)[0]
    texts = tf.pad(texts, [[0, missing], [0, 0]], constant_values="")
    index = tf.pad(index, [[0, missing]], constant_values=PADDING_ID)
    return (
        tf.ensure_shape(texts, [plan.groups_per_batch, plan.num_columns]),
        tf.ensure_shape(index, [plan.groups_per_batch]),
    )


def _rows_of_batches(dataset, plan):
    """Turns each batch of groups into its `N` rows of `(texts, group_ids)`."""
    import tensorflow as tf

    member_key = _stateless_key(plan.seed, 1)

    def rows(step, batch):
        texts, index = batch
        chosen, ids, valid = _sample_members(step, texts, index, plan, member_key)
        chosen, ids = _guard_duplicates(step, chosen, ids, valid, index, plan)
        return (
            tf.reshape(chosen, [plan.num_rows]),
            tf.cast(tf.reshape(ids, [plan.num_rows]), tf.int32),
        )

    return dataset.enumerate().map(
        rows, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def _sample_members(step, texts, index, plan, member_key):
    """Picks `group_size` members of each group of a batch, padding short groups.

    Returns:
        `(texts, ids, valid)`, each of shape `(groups_per_batch, group_size)`:
        the chosen texts (`""` for padding), their group ids (`-1` for
        padding) and whether each is a real member. The anchor, when given,
        comes first; `"random"` draws anew at every step, `"fixed"` follows
        the `languages` order.
    """
    import tensorflow as tf

    pool_row = tf.constant(plan.in_pool)[None, :]
    available = tf.logical_and(tf.not_equal(texts, ""), pool_row)
    available = tf.logical_and(available, (index >= 0)[:, None])
    if plan.sampling == "random":
        step_seed = tf.random.experimental.stateless_fold_in(member_key, step)
        scores = tf.random.stateless_uniform(tf.shape(texts), seed=step_seed)
    else:
        scores = tf.broadcast_to(tf.constant(plan.rank)[None, :], tf.shape(texts))
    if plan.anchor is not None:
        column = tf.range(plan.num_columns)[None, :]
        scores = tf.where(column == plan.anchor_column, -1.0, scores)
    scores = tf.where(available, scores, _UNAVAILABLE)
    order = tf.argsort(scores, axis=1, stable=True)[:, : plan.group_size]
    valid = tf.gather(available, order, batch_dims=1)
    chosen = tf.where(valid, tf.gather(texts, order, batch_dims=1), "")
    ids = tf.where(valid, index[:, None], PADDING_ID)
    return chosen, ids, valid


def _guard_duplicates(step, chosen, ids, valid, index, plan):
    """Blanks a group that repeats a text of an earlier group of its batch.

    A text under two ids would be a false negative for the loss (merged
    corpora never trigger this). Comparing 64-bit fingerprints first is much
    cheaper than comparing all `N x N` strings; the few candidate pairs are
    then checked exactly. Each blanking is printed to stderr, not silent: the
    batch loses negatives (merge duplicates with `TranslationGroups`, which
    counts them, to avoid it).

    Returns:
        `(texts, ids)` with the blanked groups turned into padding.
    """
    import tensorflow as tf

    n = plan.num_rows
    slot = tf.range(n) // plan.group_size
    flat_texts = tf.reshape(chosen, [n])
    flat_valid = tf.reshape(valid, [n])
    fingerprints = tf.strings.to_hash_bucket_fast(flat_texts, _HASH_BUCKETS)
    candidates = tf.logical_and(
        tf.equal(fingerprints[:, None], fingerprints[None, :]),
        tf.logical_and(flat_valid[:, None], flat_valid[None, :]),
    )
    pairs = tf.where(tf.logical_and(candidates, slot[None, :] < slot[:, None]))
    same = tf.equal(
        tf.gather(flat_texts, pairs[:, 0]), tf.gather(flat_texts, pairs[:, 1])
    )
    clashing_rows = tf.scatter_nd(
        tf.boolean_mask(pairs[:, :1], same),
        tf.ones_like(tf.boolean_mask(pairs[:, 0], same), tf.int32),
        [n],
    )
    blanked = tf.reduce_any(
        tf.reshape(clashing_rows > 0, [plan.groups_per_batch, plan.group_size]), axis=1
    )[:, None]
    chosen = tf.where(blanked, "", chosen)
    ids = tf.where(blanked, tf.constant(PADDING_ID, tf.int64), ids)
    num_blanked = tf.reduce_sum(
        tf.cast(tf.logical_and(blanked[:, 0], index >= 0), tf.int32)
    )
    num_left = tf.reduce_sum(tf.cast(tf.reduce_any(ids >= 0, axis=1), tf.int32))
    tf.cond(
        num_blanked > 0,
        lambda: tf.print(
            "keras_mpcl.data.group_dataset: batch", step, "-", num_blanked,
            "group(s) repeat a text of an earlier group of the batch and were "
            "blanked;", num_left, "group(s) left",
            output_stream=sys.stderr,
        ),
        tf.no_op,
    )
    return chosen, ids
