"""Tests of the corpus file readers: formats, counts and every error message."""

import json

import pytest

from keras_mpcl.data import CorpusFormatError
from keras_mpcl.data import TranslationGroups

# NumPy / tf.data / Python only: scripts/test.sh runs these once.
pytestmark = pytest.mark.backend_independent


def _write(path, text, mode="w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------ aligned files


def test_aligned_files_crlf_bom_and_whitespace(tmp_path):
    en = _write(
        tmp_path / "en.txt", b"\xef\xbb\xbfHello.\r\n Thank you. \r\nGood night.", "wb"
    )
    de = _write(tmp_path / "de.txt", "Hallo.\n\t\nGute Nacht.\n")
    groups = TranslationGroups.from_aligned_files({"en": en, "de": de})
    assert groups.languages == ("en", "de")
    assert list(groups) == [
        {"en": "Hello.", "de": "Hallo."},
        {"en": "Thank you."},
        {"en": "Good night.", "de": "Gute Nacht."},
    ]
    assert groups.keys == [1, 2, 3]  # line numbers
    summary = groups.summary()
    assert summary.empty_members_dropped == {"en": 0, "de": 1}
    assert summary.members_per_language == {"en": 3, "de": 2}


def test_aligned_files_different_line_counts_names_file_and_line(tmp_path):
    en = _write(tmp_path / "en.txt", "a\nb\nc\n")
    de = _write(tmp_path / "de.txt", "x\ny\n")
    with pytest.raises(
        CorpusFormatError,
        match=r"de.txt, line 3: line-aligned files have different line counts",
    ) as info:
        TranslationGroups.from_aligned_files({"en": en, "de": de})
    assert "en.txt has 3" in str(info.value) and "de.txt has 2" in str(info.value)
    assert info.value.line == 3


def test_aligned_files_undecodable_bytes_names_file_and_line(tmp_path):
    en = _write(tmp_path / "en.txt", "a\nb\nc\n")
    de = _write(tmp_path / "de.txt", b"x\ny\nStra\xdfe\n", "wb")
    with pytest.raises(
        CorpusFormatError, match=r"de.txt, line 3: undecodable bytes b'\\xdf'.*UTF-8"
    ):
        TranslationGroups.from_aligned_files({"en": en, "de": de})


def test_aligned_files_input_errors(tmp_path):
    with pytest.raises(TypeError, match="`files` should be a mapping"):
        TranslationGroups.from_aligned_files([tmp_path / "en.txt"])
    with pytest.raises(ValueError, match="Empty corpus: `files` names no language"):
        TranslationGroups.from_aligned_files({})
    with pytest.raises(FileNotFoundError, match="Corpus file not found: .*missing.txt"):
        TranslationGroups.from_aligned_files({"en": tmp_path / "missing.txt"})
    en = _write(tmp_path / "en.txt", "\n \n")
    de = _write(tmp_path / "de.txt", "\n\n")
    with pytest.raises(
        ValueError,
        match=r"Empty corpus: no non-empty text in aligned files .*\(2 groups read\)",
    ):
        TranslationGroups.from_aligned_files({"en": en, "de": de})
    with pytest.raises(ValueError, match="`collisions` should be one of"):
        TranslationGroups.from_aligned_files({"en": en}, collisions="keep")


def test_aligned_dir_discovery_renaming_and_errors(tmp_path):
    for lang in ("eng-US", "deu", "fra"):
        _write(tmp_path / f"news.ref.{lang}.txt", f"{lang} one\n{lang} two\n")
    _write(tmp_path / "news.ref-2.fra.txt", "other\nother 2\n")
    groups = TranslationGroups.from_aligned_dir(tmp_path, "news.ref.{lang}.txt")
    assert sorted(groups.languages) == ["deu", "eng-US", "fra"]
    renamed = TranslationGroups.from_aligned_dir(
        tmp_path, "news.ref.{lang}.txt", languages={"en": "eng-US", "de": "deu"}
    )
    assert renamed.languages == ("en", "de") and renamed[0] == {
        "en": "eng-US one",
        "de": "deu one",
    }
    with pytest.raises(
        ValueError,
        match=r"Requested language\(s\) \['ita'\] not found in .*Available: \['deu', 'eng-US', 'fra'\]",
    ):
        TranslationGroups.from_aligned_dir(
            tmp_path, "news.ref.{lang}.txt", languages=["deu", "ita"]
        )
    with pytest.raises(ValueError, match="Two files match language 'fra'"):
        TranslationGroups.from_aligned_dir(tmp_path, "*.{lang}.txt")
    with pytest.raises(
        ValueError, match="`pattern` should contain the placeholder `{lang}`"
    ):
        TranslationGroups.from_aligned_dir(tmp_path, "*.txt")
    with pytest.raises(ValueError, match="Empty corpus: no file in .* matches pattern"):
        TranslationGroups.from_aligned_dir(tmp_path, "{lang}.tsv")
    with pytest.raises(FileNotFoundError, match="Corpus directory not found"):
        TranslationGroups.from_aligned_dir(tmp_path / "nope", "{lang}.txt")
    with pytest.raises(TypeError, match="not a string"):
        TranslationGroups.from_aligned_dir(
            tmp_path, "news.ref.{lang}.txt", languages="deu"
        )
    with pytest.raises(
        ValueError, match="`languages` should name at least one language"
    ):
        TranslationGroups.from_aligned_dir(
            tmp_path, "news.ref.{lang}.txt", languages=[]
        )


# ------------------------------------------------------------- keyed tables

_HEADER = "index_id\tcategory\ttext\n"


def test_keyed_tables_join_on_ids_with_attributes_and_splits(tmp_path):
    _write(
        tmp_path / "eng_Latn/train.tsv",
        _HEADER + '7\tsports\tThe match.\n3\tscience\t"""Cells"" are small."\n',
    )
    _write(tmp_path / "eng_Latn/dev.tsv", _HEADER + "9\ttravel\tA trip.\n")
    _write(
        tmp_path / "deu_Latn/train.tsv",
        _HEADER + "3\tscience\tZellen sind klein.\n7\tsports\tDas Spiel.\n",
    )
    _write(tmp_path / "deu_Latn/dev.tsv", _HEADER + "9\ttravel\tEine Reise.\n")
    groups = TranslationGroups.from_keyed_tables(tmp_path, splits=["train", "dev"])
    assert set(groups.languages) == {"eng_Latn", "deu_Latn"}
    by_key = dict(zip(groups.keys, groups))
    assert by_key["3"] == {
        "eng_Latn": '"Cells" are small.',
        "deu_Latn": "Zellen sind klein.",
    }
    assert by_key["9"]["deu_Latn"] == "Eine Reise."
    categories = dict(zip(groups.keys, groups.attribute("category")))
    assert categories == {"7": "sports", "3": "science", "9": "travel"}
    assert groups.attribute_names == ("category",)
    only = TranslationGroups.from_keyed_tables(tmp_path, languages=["deu_Latn"])
    assert only.languages == ("deu_Latn",) and len(only) == 2
    mapped = TranslationGroups.from_keyed_tables(
        {
            "en": tmp_path / "eng_Latn/train.tsv",
            "de": [tmp_path / "deu_Latn/train.tsv"],
        },
        attribute_columns=[],
    )
    assert mapped.languages == ("en", "de") and mapped.attribute_names == ()
    with pytest.raises(KeyError, match="No attribute 'category'"):
        mapped.attribute("category")


def test_keyed_tables_errors(tmp_path):
    _write(tmp_path / "a/train.tsv", _HEADER + "1\tx\tone\n1\tx\tagain\n")
    with pytest.raises(
        CorpusFormatError,
        match=r"a/train.tsv, line 3: duplicate id '1' \(first at .*line 2\)",
    ):
        TranslationGroups.from_keyed_tables(tmp_path)
    _write(tmp_path / "a/train.tsv", "id\ttext\n1\tone\n")
    with pytest.raises(
        CorpusFormatError,
        match=r"line 1: no column 'index_id' in the header \['id', 'text'\]",
    ):
        TranslationGroups.from_keyed_tables(tmp_path)
    with pytest.raises(CorpusFormatError, match="no attribute column 'topic'"):
        TranslationGroups.from_keyed_tables(
            tmp_path, id_column="id", attribute_columns=["topic"]
        )
    _write(tmp_path / "a/train.tsv", "id\ttext\n1\tone\textra\n")
    with pytest.raises(
        CorpusFormatError, match="line 2: row has 3 fields, the header has 2"
    ):
        TranslationGroups.from_keyed_tables(tmp_path, id_column="id")
    _write(tmp_path / "a/train.tsv", "")
    with pytest.raises(
        CorpusFormatError, match="line 1: empty table: expected a header row"
    ):
        TranslationGroups.from_keyed_tables(tmp_path)
    _write(tmp_path / "a/train.tsv", b"id\ttext\n1\t\xff\n", "wb")
    with pytest.raises(CorpusFormatError, match="line 2: undecodable bytes"):
        TranslationGroups.from_keyed_tables(tmp_path, id_column="id")
    _write(tmp_path / "a/train.tsv", "id\ttext\n1\tone\n")
    _write(tmp_path / "b/train.tsv", "id\ttext\n1\teins\n")
    _write(tmp_path / "b/dev.tsv", "id\ttext\n2\tzwei\n")
    with pytest.raises(
        ValueError,
        match=r"Language\(s\) \['a'\] lack one of the splits \['train', 'dev'\]",
    ):
        TranslationGroups.from_keyed_tables(
            tmp_path, splits=["train", "dev"], id_column="id"
        )
    with pytest.raises(ValueError, match="Empty corpus: `tables` names no language"):
        TranslationGroups.from_keyed_tables({})


def test_keyed_tables_csv_and_attribute_conflicts(tmp_path):
    _write(tmp_path / "en.csv", 'id,topic,text\n1,a,"Hello, world."\n')
    _write(tmp_path / "de.csv", 'id,topic,text\n1,b,"Hallo, Welt."\n')
    groups = TranslationGroups.from_keyed_tables(
        {"en": tmp_path / "en.csv", "de": tmp_path / "de.csv"}, id_column="id"
    )
    assert groups[0] == {"en": "Hello, world.", "de": "Hallo, Welt."}
    assert groups.attribute("topic") == ["a"]
    assert (
        groups.summary().reader_counts[
            "attribute values disagreeing across languages (first kept)"
        ]
        == 1
    )


# --------------------------------------------------------------- pivot pairs


def test_pivot_pairs_join_on_identical_pivot_sentences(tmp_path):
    _write(tmp_path / "deu-eng.deu", "Hallo.\nDanke.\nDanke schön.\n\n")
    _write(tmp_path / "deu-eng.eng", "Hello.\nThanks.\nThanks.\nBye.\n")
    _write(tmp_path / "fra-eng.fra", "Merci.\nBonjour.\n")
    _write(tmp_path / "fra-eng.eng", " Thanks. \nHi.\n")
    groups = TranslationGroups.from_pivot_pairs(
        {
            "deu": (tmp_path / "deu-eng.deu", tmp_path / "deu-eng.eng"),
            "fra": (tmp_path / "fra-eng.fra", tmp_path / "fra-eng.eng"),
        },
        pivot="eng",
    )
    assert groups.languages == ("eng", "deu", "fra")
    assert list(groups) == [
        {"eng": "Hello.", "deu": "Hallo."},
        {"eng": "Thanks.", "deu": "Danke.", "fra": "Merci."},
        {"eng": "Hi.", "fra": "Bonjour."},
    ]
    counts = groups.summary().reader_counts
    assert counts["second translations of one pivot sentence dropped"] == 1
    assert counts["pair lines with an empty side skipped"] == 1


def test_pivot_pairs_errors(tmp_path):
    a = _write(tmp_path / "a.deu", "x\ny\n")
    b = _write(tmp_path / "a.eng", "x\n")
    with pytest.raises(
        CorpusFormatError,
        match="a.eng, line 2: line-aligned files have different line counts",
    ):
        TranslationGroups.from_pivot_pairs({"deu": (a, b)}, pivot="eng")
    with pytest.raises(
        ValueError, match="should not have an entry for the pivot language 'eng'"
    ):
        TranslationGroups.from_pivot_pairs({"eng": (a, b)}, pivot="eng")
    with pytest.raises(TypeError, match=r"`pairs\['deu'\]` should be a pair"):
        TranslationGroups.from_pivot_pairs({"deu": a}, pivot="eng")
    with pytest.raises(TypeError, match="`pairs` should be a non-empty mapping"):
        TranslationGroups.from_pivot_pairs({}, pivot="eng")


# --------------------------------------------------------------------- JSONL


def test_jsonl_groups_nulls_blank_lines_and_attributes(tmp_path):
    rows = [
        {"en": "Hello.", "de": "Hallo.", "topic": "greeting"},
        {"en": "Thanks.", "fr": "Merci.", "de": None, "topic": "manners"},
    ]
    path = _write(
        tmp_path / "g.jsonl", json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n"
    )
    groups = TranslationGroups.from_jsonl(path, attribute_keys=["topic"])
    assert groups.languages == ("en", "de", "fr")
    assert list(groups) == [
        {"en": "Hello.", "de": "Hallo."},
        {"en": "Thanks.", "fr": "Merci."},
    ]
    assert groups.keys == [1, 3]
    assert groups.attribute("topic") == ["greeting", "manners"]
    assert groups.summary().reader_counts == {"blank lines skipped": 1}
    assert groups.summary().empty_members_dropped == {"en": 0, "de": 0, "fr": 0}
    picked = TranslationGroups.from_jsonl(
        path, languages=["fr", "en"], attribute_keys=["topic"]
    )
    assert picked.languages == ("fr", "en")
    roundtrip = tmp_path / "out.jsonl"
    groups.to_jsonl(roundtrip)
    assert list(TranslationGroups.from_jsonl(roundtrip)) == list(groups)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"en": "a"}\n{"en": "b",}\n', r"line 2: invalid JSON"),
        (
            '{"en": "a"}\n["b"]\n',
            r"line 2: expected a JSON object \{language: text\}, got list",
        ),
        ('{"en": 3}\n', r"line 1: the value of 'en' should be a string \(or null"),
        ("\n\n", r"Empty corpus: no language in"),
    ],
)
def test_jsonl_errors(tmp_path, content, message):
    path = _write(tmp_path / "g.jsonl", content)
    with pytest.raises((CorpusFormatError, ValueError), match=message):
        TranslationGroups.from_jsonl(path)


def test_jsonl_requested_language_missing(tmp_path):
    path = _write(tmp_path / "g.jsonl", '{"en": "a", "de": "b"}\n')
    with pytest.raises(ValueError, match=r"Requested language\(s\) \['it'\] not found"):
        TranslationGroups.from_jsonl(path, languages=["en", "it"])

