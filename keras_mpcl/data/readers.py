"""File readers that turn corpus files into columns of translation groups.

Each reader returns a `RawGroups`: one list of texts per language (index `g`
of every list belongs to group `g`, `None` or `""` for a missing member), the
key of each group in its source (line number, table id, ...), per-group
attributes and reader-specific counts. `TranslationGroups` then cleans them.
Errors name the file and the 1-based line.

Also here: `read_ntrex`, NTREX-128 as `{language: lines}` for training
(`keras_mpcl.training`) and evaluation alike. The files are read as lines by
`keras_mpcl.data.lines`.
"""

from __future__ import annotations

import collections
import csv
import io
import json
import logging
import pathlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from keras_mpcl.data.errors import CorpusFormatError
from keras_mpcl.data.lines import check_file
from keras_mpcl.data.lines import decode_utf8
from keras_mpcl.data.lines import read_lines

if TYPE_CHECKING:
    from collections.abc import Iterable

    from keras_mpcl.typing import PathLike

RawGroups = collections.namedtuple(
    "RawGroups", ["members", "keys", "attributes", "reader_counts", "source"]
)
logger = logging.getLogger("keras_mpcl.data")
# NTREX-128 lines 1800.. are not used for training in this project's recipes.
NTREX_HELD_OUT = (1800, 1997)
_NTREX_REF = re.compile(r"^newstest2019-ref\.(.+)\.txt$")
_NTREX_SRC = "newstest2019-src.eng.txt"


def resolve_languages(available, requested, where):
    """Maps the requested languages to available codes, in the requested order.

    Args:
        available: iterable of str, the codes present in the input.
        requested: `None` (all available), a sequence of codes, or a mapping
            from the name to give a language to its code in the input.
        where: str, named in the error.

    Returns:
        A dict from language name to code in the input.
    """
    available = list(available)
    if requested is None:
        return {code: code for code in available}
    if isinstance(requested, str):
        raise TypeError(
            "`languages` should be a list of language codes or a mapping "
            f"{{name: code}}, not a string. Received: `languages` = {requested!r}; "
            f"write `languages=[{requested!r}]`"
        )
    mapping = (
        dict(requested)
        if isinstance(requested, Mapping)
        else {code: code for code in requested}
    )
    if not mapping:
        raise ValueError(
            "`languages` should name at least one language. Received: empty"
        )
    missing = [code for code in mapping.values() if code not in available]
    if missing:
        raise ValueError(
            f"Requested language(s) {missing} not found in {where}. "
            f"Available: {sorted(available)}"
        )
    return mapping


def read_aligned_files(files):
    """Reads line-aligned files, one per language: line i of each is group i."""
    if not isinstance(files, Mapping):
        raise TypeError(
            "`files` should be a mapping {language: path}. Received: "
            f"{type(files).__name__}; to discover files by name use "
            "`TranslationGroups.from_aligned_dir(directory, pattern)`"
        )
    if not files:
        raise ValueError("Empty corpus: `files` names no language file")
    members = {language: read_lines(path) for language, path in files.items()}
    check_equal_line_counts({lang: len(v) for lang, v in members.items()}, files)
    num_lines = len(next(iter(members.values())))
    source = (
        f"aligned files ({len(files)} languages, e.g. {next(iter(files.values()))})"
    )
    return RawGroups(members, list(range(1, num_lines + 1)), {}, {}, source)


def check_equal_line_counts(counts, files):
    """Raises `CorpusFormatError` unless every file has the same number of lines."""
    if len(set(counts.values())) > 1:
        shortest = min(counts, key=counts.get)
        listing = ", ".join(f"{files[k]} has {n}" for k, n in counts.items())
        raise CorpusFormatError(
            f"line-aligned files have different line counts ({listing}): line i "
            "of every file should translate the same sentence; fix the "
            f"alignment or drop the file of {shortest!r}",
            files[shortest],
            counts[shortest] + 1,
        )


def _pattern_regex(pattern, placeholders):
    parts = re.split(r"(\{\w+\}|\*|\?)", pattern)
    regex = ""
    for part in parts:
        if part in ("*", "?"):
            regex += "[^/]*" if part == "*" else "[^/]"
        elif part.startswith("{") and part[1:-1] in placeholders:
            regex += f"(?P<{part[1:-1]}>[^/]+?)"
        else:
            regex += re.escape(part)
    return re.compile(regex + "$")


def discover_files(directory, pattern, fields=None):
    """Finds files under `directory` whose relative path matches `pattern`.

    `pattern` is a glob (`*`, `?`) with a `{lang}` placeholder and optional
    other `{field}`s fixed by `fields`. Returns {language code: path}.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"Corpus directory not found: {directory}")
    if "{lang}" not in pattern:
        raise ValueError(
            "`pattern` should contain the placeholder `{lang}` where the language "
            f"code is in the file name. Received: `pattern` = {pattern!r}"
        )
    fields = dict(fields or {})
    fixed = pattern
    for name, value in fields.items():
        fixed = fixed.replace("{" + name + "}", value)
    regex = _pattern_regex(fixed, {"lang"})
    found = {}
    glob = re.sub(r"\{lang\}", "*", fixed)
    for path in sorted(directory.glob(glob)):
        match = regex.match(path.relative_to(directory).as_posix())
        if not match or not path.is_file():
            continue
        language = match.group("lang")
        if language in found:
            raise ValueError(
                f"Two files match language {language!r} with pattern {pattern!r} "
                f"in {directory}: {found[language].name} and {path.name}; make "
                "the pattern more specific"
            )
        found[language] = path
    if not found:
        raise ValueError(
            f"Empty corpus: no file in {directory} matches pattern {fixed!r}"
        )
    return found


def _table_rows(path, delimiter):
    text = decode_utf8(check_file(path).read_bytes(), path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise CorpusFormatError("empty table: expected a header row", path, 1) from None
    rows = []
    try:
        for row in reader:
            if row:
                rows.append((reader.line_num, row))
    except csv.Error as error:
        raise CorpusFormatError(
            f"malformed table row ({error}); check quoting", path, reader.line_num
        ) from None
    return header, rows


def read_keyed_tables(tables, *, id_column, text_column, attribute_columns, delimiter):
    """Reads id-keyed tables, one or more per language: rows with one id form a group.

    Args:
        tables: dict {language: list of paths}.
    """
    order = {}
    texts = collections.defaultdict(dict)
    attributes = collections.defaultdict(dict)
    conflicts = 0
    for language, paths in tables.items():
        seen = {}
        for path in paths:
            sep = delimiter or ("," if str(path).endswith(".csv") else "\t")
            header, rows = _table_rows(path, sep)
            for column in (id_column, text_column):
                if column not in header:
                    raise CorpusFormatError(
                        f"no column {column!r} in the header {header}; pass "
                        "`id_column`/`text_column` naming the right columns",
                        path,
                        1,
                    )
            extra = [c for c in header if c not in (id_column, text_column)]
            wanted = extra if attribute_columns is None else list(attribute_columns)
            for column in wanted:
                if column not in header:
                    raise CorpusFormatError(
                        f"no attribute column {column!r} in the header {header}",
                        path,
                        1,
                    )
            index = {column: header.index(column) for column in header}
            for line, row in rows:
                if len(row) != len(header):
                    raise CorpusFormatError(
                        f"row has {len(row)} fields, the header has {len(header)}; "
                        "check the delimiter and quoting",
                        path,
                        line,
                    )
                key = row[index[id_column]]
                if key in seen:
                    raise CorpusFormatError(
                        f"duplicate id {key!r} (first at {seen[key]}): each id "
                        "should occur once per language",
                        path,
                        line,
                    )
                seen[key] = f"{path}, line {line}"
                order.setdefault(key, len(order))
                texts[language][key] = row[index[text_column]]
                for column in wanted:
                    value = row[index[column]]
                    previous = attributes[column].setdefault(key, value)
                    conflicts += previous != value
    keys = sorted(order, key=order.get)
    members = {lang: [texts[lang].get(k) for k in keys] for lang in tables}
    attrs = {name: [values.get(k) for k in keys] for name, values in attributes.items()}
    counts = {"attribute values disagreeing across languages (first kept)": conflicts}
    first = next(iter(tables.values()))[0]
    source = f"keyed tables ({len(tables)} languages, e.g. {first})"
    return RawGroups(members, keys, attrs, counts, source)


def read_pivot_pairs(pairs, pivot):
    """Joins bilingual line-aligned pairs sharing a pivot language on the pivot text."""
    if not isinstance(pairs, Mapping) or not pairs:
        raise TypeError(
            "`pairs` should be a non-empty mapping {language: (text_file, "
            f"pivot_file)}}. Received: {pairs!r}"
        )
    if pivot in pairs:
        raise ValueError(
            f"`pairs` should not have an entry for the pivot language {pivot!r}: "
            "the pivot texts come from the pivot side of the other pairs"
        )
    groups = {}  # pivot text -> {language: text}
    lines_skipped = conflicting = 0
    for language, files in pairs.items():
        if isinstance(files, (str, pathlib.Path)) or len(files) != 2:
            raise TypeError(
                f"`pairs[{language!r}]` should be a pair (text_file, pivot_file). "
                f"Received: {files!r}"
            )
        text_file, pivot_file = files
        texts, pivots = read_lines(text_file), read_lines(pivot_file)
        check_equal_line_counts(
            {language: len(texts), pivot: len(pivots)},
            {language: text_file, pivot: pivot_file},
        )
        for text, pivot_text in zip(texts, pivots):
            text, pivot_text = text.strip(), pivot_text.strip()
            if not text or not pivot_text:
                lines_skipped += 1
                continue
            group = groups.setdefault(pivot_text, {pivot: pivot_text})
            previous = group.setdefault(language, text)
            conflicting += previous != text
    keys = list(range(len(groups)))
    languages = [pivot, *pairs]
    members = {lang: [g.get(lang) for g in groups.values()] for lang in languages}
    counts = {
        "pair lines with an empty side skipped": lines_skipped,
        "second translations of one pivot sentence dropped": conflicting,
    }
    source = f"pivot pairs ({pivot} pivot, {len(pairs)} pairs)"
    return RawGroups(members, keys, {}, counts, source)


def read_jsonl(path, *, attribute_keys=()):
    """Reads JSON Lines where each line is one group `{"en": "...", "de": "..."}`."""
    path = check_file(path)
    text = decode_utf8(path.read_bytes(), path)
    rows, keys, blank = [], [], 0
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            blank += 1
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise CorpusFormatError(
                f"invalid JSON ({error.msg} at column {error.colno}); each line "
                'should be one object like {"en": "...", "de": "..."}',
                path,
                number,
            ) from None
        if not isinstance(row, dict):
            raise CorpusFormatError(
                f"expected a JSON object {{language: text}}, got {type(row).__name__}",
                path,
                number,
            )
        for key, value in row.items():
            if key not in attribute_keys and not (
                value is None or isinstance(value, str)
            ):
                raise CorpusFormatError(
                    f"the value of {key!r} should be a string (or null for a "
                    f"missing member), got {type(value).__name__}; list "
                    "non-text keys in `attribute_keys`",
                    path,
                    number,
                )
        rows.append(row)
        keys.append(number)
    languages = {}
    for row in rows:
        for key in row:
            if key not in attribute_keys:
                languages.setdefault(key, None)
    members = {lang: [row.get(lang) for row in rows] for lang in languages}
    attributes = {name: [row.get(name) for row in rows] for name in attribute_keys}
    # A trailing newline leaves one empty string after the split: not a blank line.
    blank -= text.endswith("\n") or text == ""
    return RawGroups(
        members, keys, attributes, {"blank lines skipped": blank}, f"{path}"
    )


def line_range(lines):
    """`(start, stop)` from a tuple, `range`, `slice` or `"start:stop"` string.

    Args:
        lines: `(start, stop)` tuple (`stop` may be `None`), `range`, `slice`,
            `"start:stop"` string of 0-based line numbers (stop excluded), or
            `None`.

    Returns:
        `(start, stop)`, or `None` for `None` (every line).

    Examples:

    >>> line_range("1800:1997"), line_range(range(5, 9)), line_range((0, None))
    ((1800, 1997), (5, 9), (0, None))
    """
    if lines is None:
        return None
    if isinstance(lines, range):
        if lines.step != 1:
            raise ValueError(f"`lines` should be a contiguous range. Received: {lines}")
        start, stop = lines.start, lines.stop
    elif isinstance(lines, slice):
        start, stop = lines.start or 0, lines.stop
    elif isinstance(lines, str):  # "1800:1997", as given on a command line
        text, _, end = lines.partition(":")
        try:
            start, stop = int(text or 0), int(end) if end else None
        except ValueError:
            raise ValueError(
                f"`lines` should be `start:stop` (0-based, stop excluded), e.g. "
                f"`1800:1997`. Received: {lines!r}"
            ) from None
    else:
        start, stop = lines
        start, stop = int(start), None if stop is None else int(stop)
    if start < 0 or (stop is not None and stop <= start):
        raise ValueError(
            f"`lines` should select at least one line: 0 <= start < stop (0-based, "
            f"stop excluded), e.g. `1800:1997`. Received: start {start}, stop {stop}"
        )
    return start, stop


def read_ntrex(
    directory: PathLike,
    languages: Iterable[str] | None = None,
    lines: tuple[int, int | None] | range | slice | str | None = NTREX_HELD_OUT,
) -> dict[str, list[str]]:
    """Reads NTREX-128 as `{language: lines}` (multi-parallel, line by line).

    `newstest2019-src.eng.txt` is English (`"eng"`) and
    `newstest2019-ref.<lang>.txt` the references; second references
    (`newstest2019-ref-2.*`) are not read (their count is logged).

    Args:
        directory: str or path-like, the `ntrex128` folder.
        languages: optional iterable of codes (`"deu"`, `"zho-CN"`, ...).
            Defaults to `None` (every language).
        lines: `(start, stop)` tuple, `range`, `slice` or `"start:stop"`
            string of 0-based line numbers, stop excluded; `None` reads all.
            Defaults to `(1800, 1997)`, the held-out lines.

    Returns:
        dict `{language: list[str]}`, sorted by language.

    Examples:

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "newstest2019-src.eng.txt").write_text("One.\\nTwo.\\n")
    >>> _ = (folder / "newstest2019-ref.deu.txt").write_text("Eins.\\nZwei.\\n")
    >>> read_ntrex(folder, lines=None)
    {'deu': ['Eins.', 'Zwei.'], 'eng': ['One.', 'Two.']}
    >>> read_ntrex(folder, ["eng"], lines="1:2")
    {'eng': ['Two.']}
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"NTREX directory not found: {directory}")
    files = {}
    extra = 0
    for path in directory.iterdir():
        match = _NTREX_REF.match(path.name)
        if match:
            files[match.group(1)] = path
        elif path.name.startswith("newstest2019-ref-"):
            extra += 1
    if (directory / _NTREX_SRC).is_file():
        files["eng"] = directory / _NTREX_SRC
    if extra:
        logger.info("read_ntrex: %d second-reference file(s) not read", extra)
    if languages is not None:
        wanted = list(dict.fromkeys(languages))
        missing = [lang for lang in wanted if lang not in files]
        if missing:
            raise FileNotFoundError(
                f"No NTREX file for language(s) {missing} in {directory}"
            )
        files = {lang: files[lang] for lang in wanted}
    if not files:
        raise FileNotFoundError(
            f"No NTREX files `newstest2019-ref.<lang>.txt` in {directory}"
        )
    span = line_range(lines)
    result = {}
    for lang in sorted(files):
        text = read_lines(files[lang])
        if span is not None:
            start, stop = span
            if start >= len(text) or (stop is not None and stop > len(text)):
                raise ValueError(
                    f"`lines` = {lines} is outside {files[lang].name} "
                    f"({len(text)} lines)"
                )
            text = text[start:stop]
        result[lang] = text
    lengths = {len(v) for v in result.values()}
    if len(lengths) != 1:
        raise ValueError(f"NTREX files have different line counts: {sorted(lengths)}")
    return result
