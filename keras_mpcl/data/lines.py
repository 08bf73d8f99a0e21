"""UTF-8 text files as lines: decoding, reading, counting and scanning them.

Every reader splits on `\\n` only (a U+2028, U+0085, `\\v` or `\\f` stays
inside its line), removes a trailing `\\r` and a leading byte-order mark, and
names the file and line of undecodable bytes. `read_lines` holds a file in
memory; `count_lines`, `scan_lines` and `iter_line_chunks` read it in blocks,
so memory stays flat whatever its size.
"""

import pathlib

from keras_mpcl.data.errors import CorpusFormatError

# Whitespace that `scan_lines` treats as blank (as `tf.strings.strip` does, bar `\n`).
_WHITESPACE_BYTES = b" \t\r\f\v"
_BOM = b"\xef\xbb\xbf"


def _undecodable(data, error, path, first_line=1):
    """The `CorpusFormatError` naming the line of a `UnicodeDecodeError` in `data`."""
    return CorpusFormatError(
        f"undecodable bytes {data[error.start : error.end]!r}: text files should be "
        "UTF-8; re-encode the file, e.g. `iconv -f <its encoding> -t UTF-8`",
        path,
        first_line + data.count(b"\n", 0, error.start),
    )


def decode_utf8(data, path):
    """Decodes bytes as UTF-8 (dropping a byte-order mark); errors name the line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _undecodable(data, error, path) from None
    return text.removeprefix("\ufeff")


def check_file(path):
    """`path` as a `pathlib.Path`; raises `FileNotFoundError` unless it is a file.

    Args:
        path: str or path-like.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Corpus file not found: {path}. Check the path (relative paths "
            f"are resolved from {pathlib.Path.cwd()})"
        )
    return path


def read_lines(path):
    """Lines of a UTF-8 text file, split on `\\n` only, without `\\r\\n`."""
    path = check_file(path)
    lines = decode_utf8(path.read_bytes(), path).split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def count_lines(path):
    """Number of lines `read_lines` / `iter_line_chunks` give for `path`, read in blocks."""
    path = check_file(path)
    count, last = 0, b"\n"
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _count_block_lines(block):
    """(lines, whitespace-only lines) of a block of whole `\\n`-ended lines."""
    # Deleting whitespace (in C) turns blank lines into empty ones; the split
    # leaves one empty item after the final newline.
    lines = block.translate(None, _WHITESPACE_BYTES).split(b"\n")
    return len(lines) - 1, lines.count(b"") - 1


def scan_lines(path, chunk_bytes=1 << 22, progress=None):
    """Counts the lines and blank lines of a file and checks it is UTF-8.

    Reads `chunk_bytes` at a time, so memory stays flat whatever the size;
    lines are counted as `read_lines` splits them.

    Args:
        path: str or path-like. The file.
        chunk_bytes: int. Bytes read at a time. Defaults to `4194304`.
        progress: callable or `None`. Called with the number of bytes of each
            chunk read. Defaults to `None`.

    Returns:
        `(lines, blank_lines, has_bom)`: blank lines hold only whitespace.

    Raises:
        CorpusFormatError: on undecodable bytes, naming the line.
    """
    lines = blank = 0
    carry = b""
    with open(path, "rb") as file:
        has_bom = file.read(len(_BOM)) == _BOM
        file.seek(0)
        while True:
            chunk = file.read(chunk_bytes)
            if progress is not None and chunk:
                progress(len(chunk))
            if not chunk:
                block, carry = carry, b""
                if not block:
                    break
                block += b"\n"  # the last line has no newline
            else:
                data = carry + chunk
                cut = data.rfind(b"\n") + 1
                block, carry = data[:cut], data[cut:]
                if not block:
                    continue
            try:
                block.decode("utf-8")
            except UnicodeDecodeError as error:
                raise _undecodable(block, error, path, first_line=lines + 1) from None
            counted, blanks = _count_block_lines(block)
            lines += counted
            blank += blanks
            if not chunk:
                break
    return lines, blank, has_bom


def iter_line_chunks(path, lines_per_chunk=8192):
    """Lines of a UTF-8 text file in lists of `lines_per_chunk`, as `read_lines` splits them.

    Reads one chunk at a time, so memory stays flat whatever the file's size.
    Lines are split on `\n` only (a U+2028, U+0085, `\v` or `\f` stays inside
    its line), a trailing `\r` and a leading byte-order mark are removed, and
    undecodable bytes raise `CorpusFormatError` naming the line.

    Args:
        path: str or path. The file.
        lines_per_chunk: int. Lines per list. Defaults to `8192`.

    Yields:
        lists of str.
    """
    path = check_file(path)
    chunk = []
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise _undecodable(raw, error, path, first_line=number) from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            chunk.append(line.removesuffix("\n").removesuffix("\r"))
            if len(chunk) == lines_per_chunk:
                yield chunk
                chunk = []
    if chunk:
        yield chunk
