"""Tests of `TranslationGroups`: cleaning, collisions, selection, splits, real data."""

import importlib.resources
import logging

import numpy as np
import pytest

from keras_mpcl.data import TranslationGroups
from keras_mpcl.data import group_dataset
from keras_mpcl.data import load_sample_groups

# NumPy / tf.data / Python only: scripts/test.sh runs these once.
pytestmark = pytest.mark.backend_independent

XNLI = [
    "ar",
    "bg",
    "de",
    "el",
    "en",
    "es",
    "fr",
    "hi",
    "ru",
    "sw",
    "th",
    "tr",
    "ur",
    "vi",
    "zh",
]


def test_cleaning_counts_empty_members_and_groups():
    groups = TranslationGroups(
        {"en": ["a", " ", None, "d"], "de": ["x", "", None, None]},
        keys=["k0", "k1", "k2", "k3"],
    )
    assert list(groups) == [{"en": "a", "de": "x"}, {"en": "d"}]
    assert groups.keys == ["k0", "k3"]
    summary = groups.summary()
    assert summary.groups_read == 4 and summary.groups == 2
    assert summary.empty_members_dropped == {
        "en": 1,
        "de": 1,
    }  # None is absent, not empty
    assert summary.groups_dropped_empty == 2
    assert groups.group_index.tolist() == [0, 1]


def test_collisions_merge_transitively_and_count_lost_members():
    groups = TranslationGroups(
        {
            "en": ["Yes.", "Yes.", "No.", "Maybe."],
            "de": ["Ja.", "Jawohl.", "Nein.", "Jawohl."],
            "fr": ["", "Oui.", "Non.", "Peut-être."],
        }
    )
    # 0-1 share "Yes.", 1-3 share "Jawohl.": all merge into group 0.
    assert list(groups) == [
        {"en": "Yes.", "de": "Ja.", "fr": "Oui."},
        {"en": "No.", "de": "Nein.", "fr": "Non."},
    ]
    summary = groups.summary()
    assert summary.groups_merged == 2
    assert (
        summary.members_dropped_collision == 4
    )  # Jawohl. (x2 rows... ) and Maybe., Peut-être.
    texts = [t for group in groups for t in group.values()]
    assert len(texts) == len(set(texts))


def test_collisions_drop_keeps_the_earliest_group():
    groups = TranslationGroups(
        {"en": ["Yes.", "Yes.", "No."], "de": ["Ja.", "Jawohl.", "Nein."]},
        collisions="drop",
    )
    assert [g["de"] for g in groups] == ["Ja.", "Nein."]
    assert groups.summary().groups_dropped_collision == 1
    assert groups.group_index.tolist() == [0, 1]


def test_identical_text_within_one_group_is_not_a_collision():
    groups = TranslationGroups({"en": ["OK.", "No."], "de": ["OK.", "Nein."]})
    assert len(groups) == 2 and groups.summary().groups_merged == 0


def test_constructor_errors():
    with pytest.raises(ValueError, match="Empty corpus: no language in memory"):
        TranslationGroups({})
    with pytest.raises(TypeError, match="`members` should be a mapping"):
        TranslationGroups([["a"]])
    with pytest.raises(ValueError, match=r"one entry per group.*\{'en': 2, 'de': 1\}"):
        TranslationGroups({"en": ["a", "b"], "de": ["x"]})
    with pytest.raises(
        TypeError, match="Texts should be strings .* int for language 'en', group 1"
    ):
        TranslationGroups({"en": ["a", 3]})
    with pytest.raises(ValueError, match="Language codes should be non-empty strings"):
        TranslationGroups({"": ["a"]})
    with pytest.raises(
        ValueError, match=r"`keys` should have one value per group \(2\)"
    ):
        TranslationGroups({"en": ["a", "b"]}, keys=[1])
    with pytest.raises(ValueError, match="Empty corpus: no non-empty text"):
        TranslationGroups({"en": ["", " "]})


def _four_languages(num_groups=20):
    return TranslationGroups(
        {
            lang: [
                f"{lang} {g}" if (g % 4 or lang != "it") else ""
                for g in range(num_groups)
            ]
            for lang in ("en", "de", "fr", "it")
        }
    )


def test_language_selection_and_hold_out():
    groups = _four_languages()
    selected = groups.select_languages(["fr", "en"])
    assert selected.languages == ("fr", "en") and len(selected) == 20
    assert selected[3] == {"fr": "fr 3", "en": "en 3"}
    only_it = groups.select_languages(["it"])
    assert len(only_it) == 15  # groups without Italian are dropped, and counted
    assert "5 groups without any of them dropped" in str(only_it.summary())
    assert only_it.group_index.tolist() == [g for g in range(20) if g % 4]  # ids kept
    held_out = groups.drop_languages(["it"])
    assert held_out.languages == ("en", "de", "fr")
    with pytest.raises(
        ValueError,
        match=r"Unknown language\(s\) \['xx'\] in `languages`. The corpus has: \['en', 'de', 'fr', 'it'\]",
    ):
        groups.select_languages(["en", "xx"])
    with pytest.raises(ValueError, match="would remove every language"):
        groups.drop_languages(["en", "de", "fr", "it"])
    with pytest.raises(ValueError, match="should name at least one language"):
        groups.select_languages([])
    with pytest.raises(
        ValueError, match=r"Unknown language\(s\) \['xx'\] in `language`"
    ):
        groups.texts("xx")
    assert groups.texts("it")[:2] == ["", "it 1"]


def test_split_is_deterministic_disjoint_and_order_independent():
    groups = _four_languages(100)
    parts = groups.split({"train": 0.8, "dev": 0.1, "test": 0.1}, seed=3)
    assert [len(p) for p in parts.values()] == [80, 10, 10]
    ids = [set(p.group_index.tolist()) for p in parts.values()]
    assert set.union(*ids) == set(range(100)) and sum(map(len, ids)) == 100
    again = groups.split({"train": 0.8, "dev": 0.1, "test": 0.1}, seed=3)
    assert again["test"].keys == parts["test"].keys
    assert (
        groups.split({"train": 0.8, "dev": 0.1, "test": 0.1}, seed=4)["test"].keys
        != parts["test"].keys
    )
    # The split of a group depends on its key, not on the other groups.
    reversed_groups = groups.select_groups(np.arange(99, -1, -1))
    assert sorted(
        reversed_groups.split({"a": 0.8, "b": 0.2}, seed=3)["b"].keys
    ) == sorted(groups.split({"a": 0.8, "b": 0.2}, seed=3)["b"].keys)
    counts = groups.split({"small": 5, "rest": 95})
    assert len(counts["small"]) == 5
    with pytest.raises(
        ValueError, match="Split fractions should be positive and sum to 1"
    ):
        groups.split({"train": 0.8, "test": 0.3})
    with pytest.raises(
        ValueError, match="Split sizes should be positive and sum to at most"
    ):
        groups.split({"train": 90, "test": 20})
    with pytest.raises(TypeError, match="`fractions` should be a non-empty dict"):
        groups.split([0.5, 0.5])
    with pytest.raises(ValueError, match="Split 'b' would be empty"):
        _four_languages(3).split({"a": 0.9, "b": 0.1})


def test_shard_and_select_groups():
    groups = _four_languages(10)
    shards = [groups.shard(3, i) for i in range(3)]
    assert [s.group_index.tolist() for s in shards] == [
        [0, 3, 6, 9],
        [1, 4, 7],
        [2, 5, 8],
    ]
    with pytest.raises(
        ValueError,
        match=r"`worker_index` should be an int in \[0, num_workers\). Received: `worker_index` = 3",
    ):
        groups.shard(3, 3)
    with pytest.raises(
        ValueError,
        match="`num_workers` should be a positive int. Received: `num_workers` = 0",
    ):
        groups.shard(0, 0)
    with pytest.raises(ValueError, match="Empty corpus: shard 10 of 11 has no group"):
        groups.shard(11, 10)
    with pytest.raises(ValueError, match="Empty corpus: `positions` selects no group"):
        groups.select_groups([])
    assert len(groups.select_groups(np.arange(10) < 4)) == 4


def test_summary_is_logged_by_readers(tmp_path, caplog):
    path = tmp_path / "g.jsonl"
    path.write_text('{"en": "a", "de": "b"}\n{"en": "a", "de": "c"}\n')
    with caplog.at_level(logging.INFO, logger="keras_mpcl.data"):
        TranslationGroups.from_jsonl(path)
    assert "text collisions: 1 groups merged (1 members dropped)" in caplog.text


def test_packaged_sample_corpus():
    resource = importlib.resources.files("keras_mpcl").joinpath(
        "sample_data/sample_groups.jsonl"
    )
    if not resource.is_file():
        pytest.skip(
            "keras_mpcl/sample_data/sample_groups.jsonl is not in this checkout yet"
        )
    groups = TranslationGroups.sample()
    assert set(groups.languages) == {"en", "de", "fr", "es", "it", "pt", "nl"}
    assert len(groups) > 0 and list(load_sample_groups()) == list(groups)
    summary = groups.summary()
    assert summary.groups_read == len(groups) + summary.groups_dropped_empty + (
        summary.groups_merged + summary.groups_dropped_collision
    )


# ------------------------------------------------------------- real data


def test_ntrex128_aligned_dir(shared_data):
    folder = shared_data / "ntrex128"
    codes = {
        "en": "eng-US",
        "de": "deu",
        "fr": "fra",
        "es": "spa",
        "zh": "zho-CN",
        "it": "ita",
    }
    groups = TranslationGroups.from_aligned_dir(
        folder, "newstest2019-ref.{lang}.txt", languages=codes
    )
    summary = groups.summary()
    assert summary.groups_read == 1997
    assert groups.languages == tuple(codes)
    assert (
        len(groups) + summary.groups_merged + summary.groups_dropped_collision == 1997
    )
    # German repeats "Die Lage ist sehr schlimm." on two lines: merged, counted.
    assert summary.groups_merged >= 1
    first = groups[0]
    assert first["de"].startswith("Mitglieder der Nationalversammlung")
    assert not any("\r" in t for t in first.values())
    owner = {}
    for position, group in enumerate(groups):
        for text in group.values():  # a text may repeat inside its own group
            assert owner.setdefault(text, position) == position
    # All 128 references are found; "-2" second references do not match.
    all_refs = TranslationGroups.from_aligned_dir(
        folder,
        "newstest2019-ref.{lang}.txt",
        languages=["eng-GB", "eng-IN", "eng-US", "spa", "spa-MX"],
    )
    assert len(all_refs.languages) == 5
    with pytest.raises(ValueError, match="Two files match language 'spa'"):
        TranslationGroups.from_aligned_dir(folder, "*.{lang}.txt")
    held_out = groups.drop_languages(["it"])
    batches = list(
        group_dataset(held_out, groups_per_batch=16, group_size=5, seed=0, anchor="en")
        .take(3)
        .as_numpy_iterator()
    )
    for texts, ids in batches:
        assert (ids >= 0).all() and len(set(ids.tolist())) == 16


def test_ntrex128_source_and_reference_line_up(shared_data):
    folder = shared_data / "ntrex128"
    groups = TranslationGroups.from_aligned_files(
        {
            "src": folder / "newstest2019-src.eng.txt",
            "ref2": folder / "newstest2019-ref-2.spa.txt",
            "spa": folder / "newstest2019-ref.spa.txt",
        }
    )
    assert groups.summary().groups_read == 1997


def test_sib200_keyed_tables(shared_data):
    langs = ["eng_Latn", "deu_Latn", "fra_Latn", "zho_Hans"]
    groups = TranslationGroups.from_keyed_tables(
        shared_data / "sib200", splits=["train", "dev", "test"], languages=langs
    )
    summary = groups.summary()
    assert summary.groups_read == 1004
    assert (
        len(groups) + summary.groups_merged + summary.groups_dropped_collision == 1004
    )
    categories = groups.attribute("category")
    assert len(categories) == len(groups)
    assert set(categories) <= {
        "science/technology",
        "travel",
        "politics",
        "sports",
        "health",
        "entertainment",
        "geography",
    }
    train = TranslationGroups.from_keyed_tables(shared_data / "sib200", languages=langs)
    assert train.summary().groups_read == 701
    by_key = dict(zip(train.keys, train))
    assert by_key["431"]["deu_Latn"].startswith("Die Türkei ist auf drei Seiten")
    # CSV quoting is undone as pandas does it (some languages' texts carry a
    # second level of quoting in the release, kept as released).
    assert by_key["76"]["eng_Latn"].startswith(
        "He did, however, reiterate his earlier statement that Roe v. Wade was "
        'the "settled law of the land", emphasizing'
    )
    xnli_codes = {"de": "deu_Latn", "en": "eng_Latn", "fr": "fra_Latn"}
    renamed = TranslationGroups.from_keyed_tables(
        shared_data / "sib200", languages=xnli_codes
    )
    assert set(renamed.languages) <= set(XNLI)
