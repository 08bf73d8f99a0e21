"""`TranslationGroups`: a corpus of translation groups in memory, and its readers."""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import pathlib
from typing import TYPE_CHECKING

import numpy as np

from keras_mpcl.data import readers
from keras_mpcl.data.base import BaseTranslationGroups
from keras_mpcl.data.base import check_known_languages
from keras_mpcl.data.collisions import check_collisions
from keras_mpcl.data.collisions import resolve_collisions
from keras_mpcl.data.splits import split_rows
from keras_mpcl.data.streaming import StreamingTranslationGroups
from keras_mpcl.data.summary import CorpusSummary

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from numpy.typing import ArrayLike

    from keras_mpcl.typing import PathLike

# tf.strings.strip (used when streaming) strips ASCII whitespace only; in-memory
# readers strip the same set so both paths see identical texts.
_WHITESPACE = " \t\n\r\f\v"
_SAMPLE_FILE = ("keras_mpcl", "sample_data/sample_groups.jsonl")


class TranslationGroups(BaseTranslationGroups):
    """A corpus of translation groups: sentences with their translations.

    Each group is a set of `(language, text)` members that translate one
    another; MPCL uses all members of a group as mutual positives. The corpus
    is held in memory as a `(groups, languages)` table of texts (`""` for a
    missing member). For line-aligned files too large for memory, use
    `from_aligned_files(..., streaming=True)`, which returns a
    `StreamingTranslationGroups`.

    Construction cleans the input and counts everything it changes (see
    `summary()`): texts are stripped of surrounding ASCII whitespace, empty
    members are dropped, groups left empty are dropped, and groups that share
    an identical text with another group (which would make that text a false
    negative in a batch) are merged into the earliest of them or dropped.

    Every group keeps its `group_index`: its position in the corpus as built
    (after cleaning), unchanged by `select_languages`, `split`, `shard`, ...
    `keras_mpcl.data.group_dataset` uses it as the group id of a batch row, so
    ids are unique across shards and workers.

    Args:
        members: mapping from language code to a sequence of texts, all of one
            length: item `g` of every sequence belongs to group `g`; `None` or
            `""` for a missing member.
        keys: optional sequence of the groups' keys in their source (line
            numbers, table ids, ...). Defaults to `0, 1, ...`.
        attributes: optional mapping from a name to one value per group
            (e.g. SIB-200's `category`). Defaults to `None`.
        collisions: str. What to do with groups sharing a text: `"merge"`
            (the merged group keeps the first text of each language) or
            `"drop"` (later groups are dropped). Defaults to `"merge"`.
        source: str. Description of the input, for the summary.
            Defaults to `"memory"`.
        reader_counts: optional dict of str to int. Reader-specific counts
            to carry into the summary. Defaults to `None`.

    Examples:

    >>> groups = TranslationGroups({
    ...     "en": ["Hello.", "Thank you.", "Good night."],
    ...     "de": ["Hallo.", "Danke.", " "],
    ...     "fr": ["Bonjour.", "Merci.", "Bonne nuit."],
    ... })
    >>> len(groups), groups.languages
    (3, ('en', 'de', 'fr'))
    >>> groups[2]
    {'en': 'Good night.', 'fr': 'Bonne nuit.'}
    >>> groups.summary().empty_members_dropped
    {'en': 0, 'de': 1, 'fr': 0}
    >>> train, test = groups.split({"train": 2, "test": 1}, seed=0).values()
    >>> len(train), len(test)
    (2, 1)
    >>> len(groups.select_languages(["de"]))
    2
    """

    def __init__(
        self,
        members: Mapping[str, Sequence[str | None]],
        *,
        keys: Sequence[Any] | None = None,
        attributes: Mapping[str, Sequence[Any]] | None = None,
        collisions: str = "merge",
        source: str = "memory",
        reader_counts: Mapping[str, int] | None = None,
    ) -> None:
        check_collisions(collisions)
        if not isinstance(members, dict) and hasattr(members, "items"):
            members = dict(members.items())
        if not isinstance(members, dict):
            raise TypeError(
                "`members` should be a mapping {language: list of texts}. "
                f"Received: {type(members).__name__}"
            )
        if not members:
            raise ValueError(f"Empty corpus: no language in {source}")
        languages = tuple(members)
        for language in languages:
            if not isinstance(language, str) or not language:
                raise ValueError(
                    "Language codes should be non-empty strings. "
                    f"Received: {language!r}"
                )
        lengths = {lang: len(texts) for lang, texts in members.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(
                "Every language should have one entry per group (None for a "
                f"missing member). Received lengths: {lengths}"
            )
        num_read = next(iter(lengths.values()))
        keys = list(range(num_read)) if keys is None else list(keys)
        attributes = {name: list(values) for name, values in (attributes or {}).items()}
        for name, values in [("keys", keys), *attributes.items()]:
            if len(values) != num_read:
                raise ValueError(
                    f"`{name}` should have one value per group ({num_read}). "
                    f"Received: {len(values)}"
                )

        texts = np.empty((num_read, len(languages)), dtype=object)
        empty = {}
        for column, language in enumerate(languages):
            cleaned = []
            for g, text in enumerate(members[language]):
                if text is not None and not isinstance(text, str):
                    raise TypeError(
                        f"Texts should be strings (or None). Received "
                        f"{type(text).__name__} for language {language!r}, group {g}"
                    )
                cleaned.append((text or "").strip(_WHITESPACE))
            texts[:, column] = cleaned
            # A member given as None is absent, not an empty text to report.
            given = sum(text is not None for text in members[language])
            empty[language] = given - sum(bool(t) for t in cleaned)

        nonempty = (texts != "").any(axis=1) if num_read else np.zeros(0, bool)
        rows = np.flatnonzero(nonempty)
        if rows.size == 0:
            raise ValueError(
                f"Empty corpus: no non-empty text in {source} ({num_read} groups "
                "read). Check the files and the selected languages"
            )
        texts = texts[rows]
        keys = [keys[r] for r in rows]
        attributes = {n: [v[r] for r in rows] for n, v in attributes.items()}

        kept, merged, dropped, members_lost = resolve_collisions(texts, collisions)
        texts = texts[kept]
        self._languages = languages
        self._texts = texts
        self._index = np.arange(len(kept), dtype=np.int64)
        self._keys = [keys[r] for r in kept]
        self._attributes = {n: [v[r] for r in kept] for n, v in attributes.items()}
        self._summary = CorpusSummary(
            source=source,
            languages=languages,
            groups_read=num_read,
            groups=len(kept),
            members_per_language=self._member_counts(),
            empty_members_dropped=empty,
            groups_dropped_empty=int(num_read - rows.size),
            groups_merged=merged,
            groups_dropped_collision=dropped,
            members_dropped_collision=members_lost,
            reader_counts=dict(reader_counts or {}),
        )

    # ----------------------------------------------------------------- readers

    @classmethod
    def _from_raw(cls, raw, collisions):
        groups = cls(
            raw.members,
            keys=raw.keys,
            attributes=raw.attributes,
            collisions=collisions,
            source=raw.source,
            reader_counts=raw.reader_counts,
        )
        groups._summary.log()
        return groups

    @classmethod
    def from_aligned_files(
        cls,
        files: Mapping[str, PathLike],
        *,
        collisions: str = "merge",
        streaming: bool = False,
    ) -> TranslationGroups | StreamingTranslationGroups:
        """Reads line-aligned files, one per language (line i = group i).

        This is the layout of NTREX-128, FLORES and multi-parallel Europarl-
        style releases. Files are UTF-8 and split on `\\n` (a trailing `\\r`
        is removed). A group's key is its 1-based line number.

        Args:
            files: mapping from language code to file path.
            collisions: str. `"merge"` or `"drop"` (see the class).
                Defaults to `"merge"`.
            streaming: bool. `True` returns a `StreamingTranslationGroups`
                that reads the files lazily (for corpora larger than memory;
                collisions are then guarded per batch only).
                Defaults to `False`.

        Returns:
            A `TranslationGroups` (or `StreamingTranslationGroups`).

        Raises:
            CorpusFormatError: files of different line counts, or undecodable
                bytes (naming the file and line).
        """
        if streaming:
            return StreamingTranslationGroups(files)
        check_collisions(collisions)
        return cls._from_raw(readers.read_aligned_files(files), collisions)

    @classmethod
    def from_aligned_dir(
        cls,
        directory: PathLike,
        pattern: str = "*.{lang}.txt",
        *,
        languages: Sequence[str] | Mapping[str, str] | None = None,
        collisions: str = "merge",
        streaming: bool = False,
    ) -> TranslationGroups | StreamingTranslationGroups:
        """Reads line-aligned files found in a directory by a file-name pattern.

        Args:
            directory: path of the folder.
            pattern: str. Glob pattern of the files relative to `directory`,
                with `{lang}` where the language code is, e.g.
                `"newstest2019-ref.{lang}.txt"` for NTREX-128.
                Defaults to `"*.{lang}.txt"`.
            languages: `None` (every language found), a list of codes, or a
                mapping `{name: code}` to rename languages, e.g.
                `{"en": "eng-US", "de": "deu"}`. Defaults to `None`.
            collisions: str. `"merge"` or `"drop"`. Defaults to `"merge"`.
            streaming: bool. See `from_aligned_files`. Defaults to `False`.

        Returns:
            A `TranslationGroups` (or `StreamingTranslationGroups`).
        """
        found = readers.discover_files(directory, pattern)
        where = f"{directory} (pattern {pattern!r})"
        mapping = readers.resolve_languages(found, languages, where)
        files = {name: found[code] for name, code in mapping.items()}
        return cls.from_aligned_files(files, collisions=collisions, streaming=streaming)

    @classmethod
    def from_keyed_tables(
        cls,
        tables: str | pathlib.Path | Mapping[str, str | pathlib.Path | Iterable[PathLike]],
        *,
        splits: str | Iterable[str] = "train",
        languages: Sequence[str] | Mapping[str, str] | None = None,
        pattern: str = "{lang}/{split}.tsv",
        id_column: str = "index_id",
        text_column: str = "text",
        attribute_columns: Sequence[str] | None = None,
        delimiter: str | None = None,
        collisions: str = "merge",
    ) -> TranslationGroups:
        """Reads id-keyed tables: rows with the same id in each language form a group.

        This is the layout of SIB-200 (`<lang>/{train,dev,test}.tsv` with
        columns `index_id`, `category`, `text`). Other columns become group
        attributes (`attribute("category")`).

        Args:
            tables: a directory, read with `pattern`, or a mapping from
                language code to one path or a list of paths.
            splits: str or list of str. The `{split}` values of `pattern`,
                read and concatenated. Defaults to `"train"`.
            languages: `None`, a list of codes or a mapping `{name: code}`.
                Defaults to `None` (all found).
            pattern: str. Path of a table relative to the directory, with
                `{lang}` and `{split}`. Defaults to `"{lang}/{split}.tsv"`.
            id_column: str. Defaults to `"index_id"`.
            text_column: str. Defaults to `"text"`.
            attribute_columns: list of str or `None` (all other columns).
                Defaults to `None`.
            delimiter: str or `None` (`","` for `.csv` files, else tab).
                Defaults to `None`.
            collisions: str. `"merge"` or `"drop"`. Defaults to `"merge"`.

        Returns:
            A `TranslationGroups` whose keys are the ids.
        """
        splits = [splits] if isinstance(splits, str) else list(splits)
        if isinstance(tables, (str, pathlib.Path)):
            found = {}
            for split in splits:
                for code, path in readers.discover_files(
                    tables, pattern, {"split": split}
                ).items():
                    found.setdefault(code, []).append(path)
            where = f"{tables} (pattern {pattern!r}, splits {splits})"
            incomplete = [c for c, p in found.items() if len(p) != len(splits)]
            mapping = readers.resolve_languages(found, languages, where)
            missing_split = [c for c in mapping.values() if c in incomplete]
            if missing_split:
                raise ValueError(
                    f"Language(s) {missing_split} lack one of the splits {splits} "
                    f"in {tables}"
                )
            files = {name: found[code] for name, code in mapping.items()}
        else:
            files = {
                lang: [p] if isinstance(p, (str, pathlib.Path)) else list(p)
                for lang, p in dict(tables).items()
            }
            if not files:
                raise ValueError("Empty corpus: `tables` names no language")
        check_collisions(collisions)
        raw = readers.read_keyed_tables(
            files,
            id_column=id_column,
            text_column=text_column,
            attribute_columns=attribute_columns,
            delimiter=delimiter,
        )
        return cls._from_raw(raw, collisions)

    @classmethod
    def from_pivot_pairs(
        cls,
        pairs: Mapping[str, tuple[PathLike, PathLike]],
        *,
        pivot: str,
        collisions: str = "merge",
    ) -> TranslationGroups:
        """Forms groups by joining bilingual pairs on identical pivot sentences.

        For Tatoeba-style (`tatoeba.deu-eng.deu` / `tatoeba.deu-eng.eng`) or
        OPUS Moses pairs that share a pivot language: every distinct pivot
        sentence (after stripping) is a group, with its translation from each
        pair file that has it. If one pair file translates a pivot sentence
        twice, the first translation is kept and the others are counted.

        Args:
            pairs: mapping from a language to `(text_file, pivot_file)`, two
                line-aligned files of that pair.
            pivot: str. The pivot language code, e.g. `"eng"`.
            collisions: str. `"merge"` or `"drop"`. Defaults to `"merge"`.

        Returns:
            A `TranslationGroups` with the pivot language first.
        """
        check_collisions(collisions)
        return cls._from_raw(readers.read_pivot_pairs(pairs, pivot), collisions)

    @classmethod
    def from_jsonl(
        cls,
        path: PathLike,
        *,
        languages: Sequence[str] | Mapping[str, str] | None = None,
        attribute_keys: Iterable[str] = (),
        collisions: str = "merge",
    ) -> TranslationGroups:
        """Reads JSON Lines, one group per line: `{"en": "...", "de": "...", ...}`.

        Keys are language codes; a `null` or absent key is a missing member.
        Blank lines are skipped and counted. A group's key is its line number.

        Args:
            path: path of the `.jsonl` file.
            languages: `None`, a list of codes or a mapping `{name: code}`.
                Defaults to `None` (every key found).
            attribute_keys: sequence of str. Keys holding per-group attributes
                rather than texts. Defaults to `()`.
            collisions: str. `"merge"` or `"drop"`. Defaults to `"merge"`.

        Returns:
            A `TranslationGroups`.
        """
        check_collisions(collisions)
        raw = readers.read_jsonl(path, attribute_keys=tuple(attribute_keys))
        mapping = readers.resolve_languages(raw.members, languages, str(path))
        raw = raw._replace(members={n: raw.members[c] for n, c in mapping.items()})
        return cls._from_raw(raw, collisions)

    @classmethod
    def sample(cls) -> TranslationGroups:
        """Loads the small sample corpus packaged with keras-mpcl.

        Returns:
            A `TranslationGroups` read from
            `keras_mpcl/sample_data/sample_groups.jsonl`.
        """
        package, name = _SAMPLE_FILE
        resource = importlib.resources.files(package).joinpath(name)
        if not resource.is_file():
            raise FileNotFoundError(
                f"The packaged sample corpus {package}/{name} is missing from "
                "this installation; reinstall keras-mpcl"
            )
        with importlib.resources.as_file(resource) as path:
            return cls.from_jsonl(path)

    # -------------------------------------------------------------- accessors

    @property
    def languages(self) -> tuple[str, ...]:
        """Tuple of the language codes, in column order."""
        return self._languages

    @property
    def group_index(self) -> np.ndarray:
        """int64 array: each group's index in the corpus as built (its batch id)."""
        return self._index.copy()

    @property
    def keys(self) -> list[Any]:
        """List of the groups' keys in their source (line numbers, ids, ...)."""
        return list(self._keys)

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Tuple of the per-group attribute names, e.g. `("category",)`."""
        return tuple(self._attributes)

    def attribute(self, name: str) -> list[Any]:
        """List of one attribute's value per group."""
        if name not in self._attributes:
            raise KeyError(
                f"No attribute {name!r}. The corpus has: {list(self._attributes)}"
            )
        return list(self._attributes[name])

    def texts(self, language: str) -> list[str]:
        """List of one language's texts, `""` where a group lacks it."""
        check_known_languages([language], self._languages, "language")
        return list(self._texts[:, self._languages.index(language)])

    def table(self) -> np.ndarray:
        """The `(groups, languages)` object array of texts (a copy)."""
        return self._texts.copy()

    def __len__(self):
        return self._texts.shape[0]

    def __getitem__(self, position):
        row = self._texts[position]
        return {lang: text for lang, text in zip(self._languages, row) if text}

    def __iter__(self):
        for position in range(len(self)):
            yield self[position]

    def __repr__(self):
        return (
            f"<TranslationGroups: {len(self)} groups, {len(self._languages)} "
            f"languages {list(self._languages)}>"
        )

    def _member_counts(self):
        present = self._texts != ""
        return {
            lang: int(present[:, i].sum()) for i, lang in enumerate(self._languages)
        }

    def summary(self) -> CorpusSummary:
        """The `CorpusSummary` of reading and of every selection since."""
        return dataclasses.replace(
            self._summary,
            languages=self._languages,
            groups=len(self),
            members_per_language=self._member_counts(),
        )

    # ------------------------------------------------------------- selection

    def _derive(self, rows, columns, step):
        new = object.__new__(type(self))
        new._languages = tuple(self._languages[c] for c in columns)
        new._texts = self._texts[np.ix_(rows, columns)]
        new._index = self._index[rows]
        new._keys = [self._keys[r] for r in rows]
        new._attributes = {n: [v[r] for r in rows] for n, v in self._attributes.items()}
        new._summary = dataclasses.replace(
            self._summary, derived_by=self._summary.derived_by + (step,)
        )
        return new

    def _with_languages(self, languages):
        columns = [self._languages.index(lang) for lang in languages]
        rows = np.flatnonzero((self._texts[:, columns] != "").any(axis=1))
        if rows.size == 0:
            raise ValueError(f"Empty corpus: no group has a text in {languages}")
        step = (
            f"select_languages({languages}): {len(self) - rows.size} groups "
            "without any of them dropped"
        )
        return self._derive(rows, columns, step)

    def select_groups(self, positions: ArrayLike) -> TranslationGroups:
        """Keeps the groups at `positions` (ints or a boolean mask), in that order."""
        positions = np.asarray(positions)
        if positions.size == 0:
            raise ValueError("Empty corpus: `positions` selects no group")
        rows = np.arange(len(self))[
            positions if positions.dtype == bool else positions.astype(np.int64)
        ]
        if rows.size == 0:
            raise ValueError("Empty corpus: `positions` selects no group")
        step = f"select_groups: {rows.size} of {len(self)} groups kept"
        return self._derive(rows, range(len(self._languages)), step)

    def split(
        self, fractions: dict[str, float] | dict[str, int], *, seed: int = 0
    ) -> dict[str, TranslationGroups]:
        """Splits the groups deterministically, e.g. into train/dev/test.

        Groups are ordered by a hash of `(seed, key)`, so a group's split does
        not depend on the file order, and cut into consecutive parts.

        Args:
            fractions: mapping from a split name to its fraction of the groups
                (floats summing to 1) or its number of groups (ints summing to
                at most `len(self)`).
            seed: int. Defaults to `0`.

        Returns:
            A dict from split name to `TranslationGroups`, in the given order.
        """
        result = {}
        for name, rows in split_rows(self._keys, fractions, seed).items():
            step = f"split {name!r} (seed {seed}): {rows.size} of {len(self)} groups"
            result[name] = self._derive(rows, range(len(self._languages)), step)
        return result

    def _with_shard(self, num_workers, worker_index):
        rows = np.arange(worker_index, len(self), num_workers)
        if rows.size == 0:
            raise ValueError(
                f"Empty corpus: shard {worker_index} of {num_workers} has no group "
                f"({len(self)} groups)"
            )
        step = f"shard {worker_index} of {num_workers}: {rows.size} groups"
        return self._derive(rows, range(len(self._languages)), step)

    def to_jsonl(self, path: PathLike) -> None:
        """Writes one JSON object per group (non-empty members only)."""
        with open(path, "w", encoding="utf-8") as file:
            file.writelines(
                json.dumps(group, ensure_ascii=False) + "\n" for group in self
            )


def load_sample_groups() -> TranslationGroups:
    """Loads the small sample corpus packaged with keras-mpcl.

    Same as `TranslationGroups.sample()`.

    Returns:
        A `TranslationGroups`.
    """
    return TranslationGroups.sample()
