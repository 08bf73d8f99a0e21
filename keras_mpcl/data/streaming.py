"""`StreamingTranslationGroups`: line-aligned corpora read lazily from disk."""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING

from keras_mpcl.data.base import BaseTranslationGroups
from keras_mpcl.data.lines import check_file
from keras_mpcl.data.lines import scan_lines
from keras_mpcl.data.readers import check_equal_line_counts
from keras_mpcl.data.summary import CorpusSummary
from keras_mpcl.validation import check_int

if TYPE_CHECKING:
    import tensorflow as tf

    from keras_mpcl.typing import PathLike

# Above this total size the scan shows a progress bar (with verbose="auto").
_PROGRESS_BYTES = 256 * 2**20


class StreamingTranslationGroups(BaseTranslationGroups):
    """Line-aligned translation files read lazily, for corpora larger than memory.

    Line `i` of every file is group `i` (its group id in batches is the
    0-based line number). Construction scans each file once, in fixed-size
    chunks, to check that all have the same number of lines and are valid
    UTF-8 and to count blank lines; texts are then read from disk while
    batching (`keras_mpcl.data.group_dataset`), so memory stays flat as the
    corpus grows. Unlike `TranslationGroups`, identical texts in different
    groups cannot be merged ahead of time: `group_dataset` guards each batch
    instead, blanking a group that repeats a text of an earlier group of the
    batch.

    Usually created with
    `TranslationGroups.from_aligned_files(files, streaming=True)` or
    `TranslationGroups.from_aligned_dir(..., streaming=True)`.

    Args:
        files: dict from language code to file path (str or path-like).
        chunk_bytes: int. Bytes read at a time by the scan.
            Defaults to `4194304`.
        verbose: `"auto"`, `True` or `False`. Show a progress bar while
            scanning (`"auto"`: when the files exceed 256 MiB).
            Defaults to `"auto"`.

    Examples:

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "en.txt").write_text("Hello.\\nThank you.\\n")
    >>> _ = (folder / "de.txt").write_text("Hallo.\\n\\n")
    >>> groups = StreamingTranslationGroups(
    ...     {"en": folder / "en.txt", "de": folder / "de.txt"})
    >>> len(groups), groups.languages
    (2, ('en', 'de'))
    >>> groups.summary().empty_members_dropped
    {'en': 0, 'de': 1}
    >>> for texts, line in groups.as_tf_dataset().as_numpy_iterator():
    ...     print(texts.tolist(), line)
    [b'Hello.', b'Hallo.'] 0
    [b'Thank you.', b''] 1
    """

    def __init__(
        self,
        files: dict[str, PathLike],
        *,
        chunk_bytes: int = 1 << 22,
        verbose: bool | str = "auto",
    ) -> None:
        if not isinstance(files, dict) or not files:
            raise TypeError(
                "`files` should be a non-empty mapping {language: path}. "
                f"Received: {files!r}"
            )
        check_int("chunk_bytes", chunk_bytes)
        paths = {lang: pathlib.Path(p) for lang, p in files.items()}
        for path in paths.values():
            check_file(path)
        total = sum(p.stat().st_size for p in paths.values())
        progress = None
        if verbose is True or (verbose == "auto" and total > _PROGRESS_BYTES):
            import keras

            bar = keras.utils.Progbar(total, unit_name="byte")
            seen = [0]

            def progress(n):
                seen[0] += n
                bar.update(seen[0])

        counts, blanks, boms = {}, {}, {}
        for lang, path in paths.items():
            counts[lang], blanks[lang], boms[lang] = scan_lines(
                path, chunk_bytes, progress
            )
        check_equal_line_counts(counts, paths)
        num_lines = next(iter(counts.values()))
        if num_lines == 0:
            raise ValueError(
                f"Empty corpus: the files {list(map(str, paths.values()))} are empty"
            )
        self._files = paths
        self._has_bom = boms
        self._num_lines = num_lines
        self._shard = (1, 0)
        self._summary = CorpusSummary(
            source=f"streamed aligned files ({len(paths)} languages, "
            f"e.g. {next(iter(paths.values()))})",
            languages=tuple(paths),
            groups_read=num_lines,
            groups=num_lines,
            members_per_language={k: counts[k] - blanks[k] for k in paths},
            empty_members_dropped=blanks,
            reader_counts={
                "streamed (empty members are skipped and text collisions "
                "guarded per batch by group_dataset)": num_lines
            },
        )
        self._summary.log()

    @property
    def languages(self) -> tuple[str, ...]:
        """Tuple of the language codes, in column order."""
        return tuple(self._files)

    @property
    def files(self) -> dict[str, pathlib.Path]:
        """Dict from language code to file path."""
        return dict(self._files)

    def __len__(self):
        num_workers, index = self._shard
        return len(range(index, self._num_lines, num_workers))

    def __repr__(self):
        return (
            f"<StreamingTranslationGroups: {len(self)} groups, "
            f"{len(self._files)} languages {list(self._files)}>"
        )

    def summary(self) -> CorpusSummary:
        """The `CorpusSummary` of the scan (member counts are for whole files)."""
        return self._summary

    def _derive(self, files, shard, step):
        new = object.__new__(type(self))
        new._files = files
        new._has_bom = {k: self._has_bom[k] for k in files}
        new._num_lines = self._num_lines
        new._shard = shard
        s = self._summary
        new._summary = CorpusSummary(
            source=s.source,
            languages=tuple(files),
            groups_read=s.groups_read,
            groups=len(range(shard[1], self._num_lines, shard[0])),
            members_per_language={k: s.members_per_language[k] for k in files},
            empty_members_dropped={k: s.empty_members_dropped[k] for k in files},
            reader_counts=s.reader_counts,
            derived_by=s.derived_by + (step,),
        )
        return new

    def _with_languages(self, languages):
        files = {lang: self._files[lang] for lang in languages}
        return self._derive(files, self._shard, f"select_languages({languages})")

    def _with_shard(self, num_workers, worker_index):
        outer, offset = self._shard
        shard = (outer * num_workers, offset + outer * worker_index)
        if shard[1] >= self._num_lines:
            raise ValueError(
                f"Empty corpus: shard {worker_index} of {num_workers} has no line "
                f"({len(self)} lines)"
            )
        return self._derive(
            dict(self._files), shard, f"shard {worker_index} of {num_workers}"
        )

    def as_tf_dataset(self) -> tf.data.Dataset:
        """The groups as a `tf.data.Dataset` of `(texts, line)`, read from disk.

        `texts` is a `tf.string` tensor of shape `(len(languages),)`, stripped
        of surrounding ASCII whitespace (`""` for a missing member), and
        `line` the group's 0-based line number (an `int64` scalar), its
        group id. Only this shard's lines are read out; every group is given,
        including those with fewer than two members.

        Returns:
            A `tf.data.Dataset`, deterministic in line order.
        """
        import tensorflow as tf

        columns = []
        for lang, path in self._files.items():
            lines = tf.data.TextLineDataset(str(path))
            if self._has_bom[lang]:
                lines = lines.map(lambda t: tf.strings.regex_replace(t, "^\ufeff", ""))
            columns.append(lines)
        dataset = tf.data.Dataset.zip(tuple(columns)).enumerate()
        num_workers, index = self._shard
        if num_workers > 1:
            dataset = dataset.shard(num_workers, index)
        return dataset.map(
            lambda i, texts: (tf.strings.strip(tf.stack(texts)), i),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
