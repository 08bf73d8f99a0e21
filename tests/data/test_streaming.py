"""Tests of `StreamingTranslationGroups`: the chunked scan, errors, streamed texts."""

import numpy as np
import pytest

from keras_mpcl.data import CorpusFormatError
from keras_mpcl.data import StreamingTranslationGroups
from keras_mpcl.data import TranslationGroups
from keras_mpcl.data import group_dataset
from keras_mpcl.data.lines import scan_lines

# NumPy / tf.data / Python only: scripts/test.sh runs these once.
pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize("chunk_bytes", [1, 3, 7, 1 << 20])
def test_scan_counts_lines_and_blank_lines_across_chunks(tmp_path, chunk_bytes):
    path = tmp_path / "x.txt"
    path.write_bytes("a\n\n  \t\r\nStraße\n\nlast".encode())
    assert scan_lines(path, chunk_bytes) == (6, 3, False)
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\n")
    assert scan_lines(path, chunk_bytes) == (2, 0, True)
    path.write_bytes(b"")
    assert scan_lines(path, chunk_bytes) == (0, 0, False)


@pytest.mark.parametrize("chunk_bytes", [2, 5, 1 << 20])
def test_scan_names_the_line_of_undecodable_bytes(tmp_path, chunk_bytes):
    path = tmp_path / "x.txt"
    path.write_bytes("ok\nStraße\nok\nbad \xe9t\xe9\n".encode()[:-7] + b"\xe9t\xe9\n")
    with pytest.raises(
        CorpusFormatError, match=r"x.txt, line 4: undecodable bytes"
    ) as info:
        scan_lines(path, chunk_bytes)
    assert info.value.line == 4


def _files(tmp_path, columns):
    files = {}
    for lang, lines in columns.items():
        files[lang] = tmp_path / f"{lang}.txt"
        files[lang].write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return files


def test_streamed_texts_equal_in_memory_texts(tmp_path):
    columns = {
        "en": [" Hello. ", "Thank you.", "Good night.", "Yes."],
        "de": ["Hallo.", "", "Gute Nacht.", "Ja."],
        "fr": ["Bonjour.", "Merci.", "\t", "Oui."],
    }
    files = _files(tmp_path, columns)
    streamed = StreamingTranslationGroups(files, chunk_bytes=4)
    in_memory = TranslationGroups.from_aligned_files(files)
    assert len(streamed) == len(in_memory) == 4
    summary = streamed.summary()
    assert summary.empty_members_dropped == {"en": 0, "de": 1, "fr": 1}
    assert summary.members_per_language == {"en": 4, "de": 3, "fr": 3}
    assert "streamed" in str(summary)

    def rows(groups):
        dataset = group_dataset(
            groups,
            groups_per_batch=2,
            group_size=2,
            seed=0,
            sampling="fixed",
            shuffle=False,
        )
        return [(t.tolist(), i.tolist()) for t, i in dataset.as_numpy_iterator()]

    assert rows(streamed) == rows(in_memory)


def test_streamed_selection_and_sharding(tmp_path):
    files = _files(
        tmp_path,
        {lang: [f"{lang} {i}" for i in range(10)] for lang in ("en", "de", "fr")},
    )
    groups = StreamingTranslationGroups(files)
    assert groups.select_languages(["fr", "en"]).languages == ("fr", "en")
    assert groups.drop_languages(["de"]).languages == ("en", "fr")
    assert groups.files["en"] == files["en"]
    shard = groups.shard(3, 2)
    assert len(shard) == 3 and "shard 2 of 3" in str(shard.summary())
    nested = groups.shard(2, 1).shard(2, 0)  # lines 1, 5, 9
    dataset = group_dataset(
        nested, groups_per_batch=3, group_size=2, seed=0, shuffle=False
    )
    ((_, ids),) = list(dataset.as_numpy_iterator())
    assert sorted(set(ids.tolist())) == [1, 5, 9]
    assert "3 groups" in repr(nested)
    with pytest.raises(ValueError, match=r"Unknown language\(s\) \['it'\]"):
        groups.select_languages(["it"])
    with pytest.raises(ValueError, match="would remove every language"):
        groups.drop_languages(["en", "de", "fr"])
    with pytest.raises(ValueError, match="should name at least one language"):
        groups.select_languages([])
    with pytest.raises(
        ValueError, match=r"`worker_index` should be an int in \[0, num_workers\)"
    ):
        groups.shard(2, -1)
    with pytest.raises(ValueError, match="Empty corpus: shard 11 of 12 has no line"):
        groups.shard(12, 11)


def test_streaming_errors(tmp_path):
    files = _files(tmp_path, {"en": ["a", "b"], "de": ["x"]})
    with pytest.raises(
        CorpusFormatError,
        match="de.txt, line 2: line-aligned files have different line counts",
    ):
        StreamingTranslationGroups(files)
    with pytest.raises(
        CorpusFormatError,
        match="de.txt, line 2: line-aligned files have different line counts",
    ):
        TranslationGroups.from_aligned_dir(tmp_path, "{lang}.txt", streaming=True)
    empty = _files(tmp_path, {"en": [], "de": []})
    with pytest.raises(ValueError, match="Empty corpus: the files .* are empty"):
        StreamingTranslationGroups(empty)
    with pytest.raises(TypeError, match="`files` should be a non-empty mapping"):
        StreamingTranslationGroups([tmp_path / "en.txt"])
    with pytest.raises(FileNotFoundError, match="Corpus file not found"):
        StreamingTranslationGroups({"en": tmp_path / "nope.txt"})
    with pytest.raises(ValueError, match="`chunk_bytes` should be a positive int"):
        StreamingTranslationGroups({"en": tmp_path / "en.txt"}, chunk_bytes=0)


def test_bom_is_removed_when_streaming(tmp_path):
    (tmp_path / "en.txt").write_bytes(b"\xef\xbb\xbfHello.\nBye.\n")
    (tmp_path / "de.txt").write_bytes(b"Hallo.\nTsch\xc3\xbcss.\n")
    groups = StreamingTranslationGroups(
        {"en": tmp_path / "en.txt", "de": tmp_path / "de.txt"}, verbose=True
    )
    dataset = group_dataset(
        groups,
        groups_per_batch=2,
        group_size=2,
        seed=0,
        sampling="fixed",
        shuffle=False,
    )
    ((texts, _),) = list(dataset.as_numpy_iterator())
    assert [t.decode() for t in texts] == ["Hello.", "Hallo.", "Bye.", "Tschüss."]
    assert np.asarray(texts).shape == (4,)
