"""Tests of `group_dataset`: batch invariants, determinism, errors, `model.fit`."""

import logging

import keras
import numpy as np
import pytest

from keras_mpcl.data import StreamingTranslationGroups
from keras_mpcl.data import TranslationGroups
from keras_mpcl.data import group_dataset

# tf.data only: scripts/test.sh runs these once (the fit smoke test is in
# test_batching_fit.py, on every backend).
pytestmark = pytest.mark.backend_independent

LANGUAGES = ("en", "de", "fr", "es")


def _corpus(num_groups=23, missing_every=5):
    """Synthetic groups with unique texts; every 5th group lacks 'es'."""
    members = {
        lang: [
            "" if lang == "es" and g % missing_every == 0 else f"{lang} sentence {g}"
            for g in range(num_groups)
        ]
        for lang in LANGUAGES
    }
    return TranslationGroups(members)


def _batches(dataset):
    return [
        ([t.decode() for t in texts], ids) for texts, ids in dataset.as_numpy_iterator()
    ]


def _check_invariants(batches, groups_per_batch, group_size):
    for texts, ids in batches:
        assert len(texts) == len(ids) == groups_per_batch * group_size
        assert ids.dtype == np.int32
        slots = ids.reshape(groups_per_batch, group_size)
        slot_texts = np.array(texts, dtype=object).reshape(groups_per_batch, group_size)
        real_groups = []
        for slot_ids, row_texts in zip(slots, slot_texts):
            real = slot_ids[slot_ids >= 0]
            # Members first, then padding; one id per slot.
            assert (slot_ids[: len(real)] >= 0).all() and (
                slot_ids[len(real) :] == -1
            ).all()
            assert len(set(real.tolist())) <= 1
            assert all(t == "" for t in row_texts[len(real) :])
            assert all(t != "" for t in row_texts[: len(real)])
            if len(real):
                real_groups.append(int(real[0]))
        assert len(real_groups) == len(set(real_groups)), "a group twice in a batch"
        text_ids = {}
        for text, gid in zip(texts, ids):
            if gid >= 0:
                assert text_ids.setdefault(text, gid) == gid, "a text under two ids"


def test_batches_have_fixed_shape_contiguous_groups_and_unique_ids():
    batches = _batches(
        group_dataset(_corpus(), groups_per_batch=4, group_size=3, seed=0)
    )
    assert len(batches) == 6  # ceil(23 / 4), last one padded
    _check_invariants(batches, 4, 3)
    seen = [int(i) for _, ids in batches for i in ids if i >= 0]
    assert sorted(set(seen)) == list(range(23))
    for texts, ids in batches:
        for text, gid in zip(texts, ids):
            if gid >= 0:
                assert text.endswith(f" {gid}")  # member belongs to its group


def test_remainder_pad_and_drop():
    padded = _batches(
        group_dataset(
            _corpus(), groups_per_batch=4, group_size=2, seed=0, shuffle=False
        )
    )
    assert (padded[-1][1][6:] == -1).all() and (padded[-1][1][:6] >= 0).all()
    dropped = group_dataset(
        _corpus(), groups_per_batch=4, group_size=2, seed=0, remainder="drop"
    )
    assert int(dropped.cardinality()) == 5
    assert len(_batches(dropped)) == 5


def test_incomplete_pad_and_skip():
    # Groups 0, 5, 10, ... lack 'es'; with 4 rows they are padded or skipped.
    padded = _batches(
        group_dataset(
            _corpus(), groups_per_batch=5, group_size=4, seed=0, shuffle=False
        )
    )
    first_ids = padded[0][1][:4]
    assert first_ids.tolist() == [0, 0, 0, -1]
    skipped = _batches(
        group_dataset(
            _corpus(), groups_per_batch=5, group_size=4, seed=0, incomplete="skip"
        )
    )
    ids = {int(i) for _, batch_ids in skipped for i in batch_ids if i >= 0}
    assert ids == {g for g in range(23) if g % 5}
    _check_invariants(skipped, 5, 4)


def test_skipped_groups_are_logged(caplog):
    with caplog.at_level(logging.INFO, logger="keras_mpcl.data"):
        group_dataset(
            _corpus(), groups_per_batch=5, group_size=4, seed=0, incomplete="skip"
        )
    assert "18 of 23 groups usable (5 skipped" in caplog.text


def test_fixed_sampling_follows_language_order_and_anchor_comes_first():
    dataset = group_dataset(
        _corpus(),
        groups_per_batch=3,
        group_size=2,
        seed=0,
        sampling="fixed",
        languages=["fr", "es", "en"],
        shuffle=False,
    )
    texts, _ = _batches(dataset)[0]
    assert texts[:2] == ["fr sentence 0", "en sentence 0"]  # group 0 has no 'es'
    assert texts[2:4] == ["fr sentence 1", "es sentence 1"]
    anchored = _batches(
        group_dataset(_corpus(), groups_per_batch=4, group_size=3, seed=3, anchor="de")
    )
    for texts, ids in anchored:
        for slot in range(4):
            if ids[slot * 3] >= 0:
                assert texts[slot * 3].startswith("de ")
                assert not any(
                    t.startswith("de ") for t in texts[slot * 3 + 1 : slot * 3 + 3]
                )


def test_anchor_missing_groups_are_skipped():
    groups = TranslationGroups(
        {"en": ["a", "", "c"], "de": ["x", "y", "z"], "fr": ["1", "2", ""]}
    )
    batches = _batches(
        group_dataset(groups, groups_per_batch=3, group_size=2, seed=0, anchor="en")
    )
    ids = {int(i) for _, b in batches for i in b if i >= 0}
    assert ids == {0, 2}


def test_random_sampling_varies_members_across_steps():
    dataset = group_dataset(
        _corpus(num_groups=8),
        groups_per_batch=8,
        group_size=2,
        seed=0,
        shuffle=False,
        epochs=4,
    )
    batches = _batches(dataset)
    assert len(batches) == 4
    assert len({tuple(texts) for texts, _ in batches}) > 1
    for _, ids in batches:  # same group order each epoch without shuffling
        assert ids.tolist() == batches[0][1].tolist()


def test_deterministic_given_seed_and_independent_of_global_seed():
    def run(seed):
        return _batches(
            group_dataset(
                _corpus(), groups_per_batch=4, group_size=3, seed=seed, epochs=2
            )
        )

    first = run(7)
    keras.utils.set_random_seed(1234)
    second = run(7)
    assert [(t, i.tolist()) for t, i in first] == [(t, i.tolist()) for t, i in second]
    other = run(8)
    assert [i.tolist() for _, i in first] != [i.tolist() for _, i in other]


def test_epochs_reshuffle_and_cover_every_group_once_per_epoch():
    batches = _batches(
        group_dataset(_corpus(), groups_per_batch=4, group_size=2, seed=0, epochs=3)
    )
    assert len(batches) == 18
    orders = []
    for epoch in range(3):
        ids = [
            int(i)
            for _, b in batches[epoch * 6 : (epoch + 1) * 6]
            for i in b[::2]
            if i >= 0
        ]
        assert sorted(ids) == list(range(23))
        orders.append(ids)
    assert orders[0] != orders[1]
    _check_invariants(batches, 4, 2)


def test_repeat_forever():
    dataset = group_dataset(
        _corpus(), groups_per_batch=4, group_size=2, seed=0, epochs=None
    )
    assert len(list(dataset.take(20).as_numpy_iterator())) == 20


def test_shuffle_buffer_windows_and_shards_are_disjoint():
    groups = _corpus(num_groups=40)
    batches = _batches(
        group_dataset(
            groups, groups_per_batch=5, group_size=2, seed=0, shuffle_buffer=10
        )
    )
    # Windows of 10 groups are shuffled in place: batch b only holds groups of
    # window b // 2.
    for b, (_, ids) in enumerate(batches):
        assert {int(i) // 10 for i in ids} == {b // 2}
    shard_ids = []
    for worker in range(3):
        shard = groups.shard(3, worker)
        ids = {
            int(i)
            for _, b in _batches(
                group_dataset(shard, groups_per_batch=4, group_size=2, seed=0)
            )
            for i in b
            if i >= 0
        }
        shard_ids.append(ids)
    assert set.union(*shard_ids) == set(range(40))
    assert sum(len(s) for s in shard_ids) == 40
    assert shard_ids[1] == set(range(1, 40, 3))


def test_batch_guard_blanks_a_group_repeating_a_text(tmp_path):
    # A streamed corpus cannot be deduplicated ahead: "Yes." is in groups 0 and 1.
    (tmp_path / "en.txt").write_text("Yes.\nYes.\nNo.\n")
    (tmp_path / "de.txt").write_text("Ja.\nJawohl.\nNein.\n")
    groups = StreamingTranslationGroups(
        {"en": tmp_path / "en.txt", "de": tmp_path / "de.txt"}
    )
    ((texts, ids),) = _batches(
        group_dataset(groups, groups_per_batch=3, group_size=2, seed=0, shuffle=False)
    )
    assert ids.tolist() == [0, 0, -1, -1, 2, 2]
    assert texts[2:4] == ["", ""]
    # In memory the two groups are merged when read, so the guard never fires.
    merged = TranslationGroups.from_aligned_files(
        {"en": tmp_path / "en.txt", "de": tmp_path / "de.txt"}
    )
    assert len(merged) == 2 and merged.summary().groups_merged == 1


def test_streamed_corpus_batches(tmp_path):
    lines = {
        lang: [f"{lang} {i}" if (i % 7 or lang == "en") else "" for i in range(30)]
        for lang in ("en", "de", "fr")
    }
    files = {}
    for lang, rows in lines.items():
        files[lang] = tmp_path / f"c.{lang}.txt"
        files[lang].write_text("\n".join(rows) + "\n")
    streamed = TranslationGroups.from_aligned_files(files, streaming=True)
    batches = _batches(
        group_dataset(
            streamed, groups_per_batch=4, group_size=3, seed=1, shuffle_buffer=8
        )
    )
    _check_invariants(batches, 4, 3)
    ids = sorted(int(i) for _, b in batches for i in b[::3] if i >= 0)
    assert ids == [i for i in range(30) if i % 7]  # lines 0, 7, ... have 1 member
    for texts, b in batches:
        for text, gid in zip(texts, b):
            if gid >= 0:
                assert text.endswith(f" {gid}")
    shard = streamed.shard(2, 1)
    ids = {
        int(i)
        for _, b in _batches(
            group_dataset(shard, groups_per_batch=4, group_size=2, seed=0)
        )
        for i in b
        if i >= 0
    }
    assert ids == {i for i in range(1, 30, 2) if i % 7}


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"groups_per_batch": 0},
            ValueError,
            "`groups_per_batch` should be a positive int. Received: `groups_per_batch` = 0",
        ),
        ({"group_size": 1}, ValueError, "`group_size` should be an int >= 2"),
        ({"seed": -1}, ValueError, "`seed` should be a non-negative int"),
        ({"seed": None}, ValueError, "`seed` should be a non-negative int"),
        ({"sampling": "all"}, ValueError, "`sampling` should be one of"),
        ({"incomplete": "keep"}, ValueError, "`incomplete` should be one of"),
        ({"remainder": "keep"}, ValueError, "`remainder` should be one of"),
        ({"epochs": 0}, ValueError, "`epochs` should be a positive int or None"),
        (
            {"shuffle_buffer": 0},
            ValueError,
            "`shuffle_buffer` should be a positive int",
        ),
        ({"languages": ["en", "xx"]}, ValueError, r"Unknown language\(s\) \['xx'\]"),
        ({"languages": "en"}, TypeError, "not a string"),
        ({"languages": ["en", "en"]}, ValueError, "distinct languages"),
        (
            {"group_size": 5},
            ValueError,
            "`group_size` should be at most the number of languages",
        ),
        ({"anchor": "it"}, ValueError, "Unknown `anchor` language 'it'"),
        (
            {"groups_per_batch": 30, "remainder": "drop"},
            ValueError,
            "would leave no batch",
        ),
    ],
)
def test_argument_errors(kwargs, error, message):
    arguments = {"groups_per_batch": 4, "group_size": 2, "seed": 0, **kwargs}
    with pytest.raises(error, match=message):
        group_dataset(_corpus(), **arguments)


def test_type_and_empty_errors():
    with pytest.raises(
        TypeError, match="`groups` should be a `keras_mpcl.data.TranslationGroups`"
    ):
        group_dataset([["a", "b"]], groups_per_batch=1, group_size=2, seed=0)
    singletons = TranslationGroups({"en": ["a", "b"], "de": ["", "c"]}).select_groups(
        [0]
    )
    with pytest.raises(ValueError, match="No group has at least 2 members"):
        group_dataset(singletons, groups_per_batch=1, group_size=2, seed=0)
