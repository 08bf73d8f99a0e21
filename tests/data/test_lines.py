"""Tests of `keras_mpcl.data.lines`: UTF-8 files split on `\\n` only, read whole or in chunks."""

import pytest

from keras_mpcl.data import CorpusFormatError
from keras_mpcl.data.lines import count_lines
from keras_mpcl.data.lines import iter_line_chunks
from keras_mpcl.data.lines import read_lines

# Python only: scripts/test.sh runs these once.
pytestmark = pytest.mark.backend_independent


def test_read_lines_keeps_blank_lines(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"a\r\n\nb")
    assert read_lines(path) == ["a", "", "b"]


def test_line_chunks_split_on_newline_only(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_bytes("\ufeffa\u2028b\r\nc\x85d\n\ne\vf\fg".encode("utf-8"))
    expected = ["a\u2028b", "c\x85d", "", "e\vf\fg"]
    assert read_lines(path) == expected
    assert count_lines(path) == 4
    assert [line for chunk in iter_line_chunks(path, 3) for line in chunk] == expected
    assert [len(chunk) for chunk in iter_line_chunks(path, 3)] == [3, 1]
    path.write_bytes(b"x\ny\n")
    assert count_lines(path) == 2 and list(iter_line_chunks(path)) == [["x", "y"]]
    path.write_bytes(b"")
    assert count_lines(path) == 0 and list(iter_line_chunks(path)) == []
    path.write_bytes(b"ok\ncaf\xe9\n")
    with pytest.raises(CorpusFormatError, match="line 2"):
        list(iter_line_chunks(path))
