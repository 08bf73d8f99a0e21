"""`BaseTranslationGroups`: language selection and sharding shared by both corpora."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keras_mpcl.validation import check_int
from keras_mpcl.validation import is_int

if TYPE_CHECKING:
    from collections.abc import Iterable

    from typing_extensions import Self


def check_known_languages(
    requested: Iterable[str], available: Iterable[str], argument: str = "languages"
) -> list[str]:
    """Returns `requested` as a list; raises naming unknown languages and the available ones.

    Args:
        requested: iterable of str. The language codes asked for.
        available: iterable of str. The language codes of the corpus.
        argument: str. The argument name used in the error messages.
            Defaults to `"languages"`.

    Returns:
        `requested` as a list, in its order.

    Examples:

    >>> check_known_languages(("de", "en"), ["en", "de", "fr"])
    ['de', 'en']
    >>> check_known_languages(["it"], ["en", "de"])
    Traceback (most recent call last):
    ...
    ValueError: Unknown language(s) ['it'] in `languages`. The corpus has: ['en', 'de']
    """
    if isinstance(requested, str):
        raise TypeError(
            f"`{argument}` should be a list of language codes, not a string. "
            f"Received: `{argument}` = {requested!r}; "
            f"write `{argument}=[{requested!r}]`"
        )
    requested = list(requested)
    unknown = [lang for lang in requested if lang not in available]
    if unknown:
        raise ValueError(
            f"Unknown language(s) {unknown} in `{argument}`. "
            f"The corpus has: {list(available)}"
        )
    return requested


def check_shard(num_workers: int, worker_index: int) -> None:
    """Raises unless `num_workers >= 1` and `worker_index` is an int in `[0, num_workers)`.

    Args:
        num_workers: int. Number of workers.
        worker_index: int. This worker's index.

    Examples:

    >>> check_shard(4, 3)
    >>> check_shard(4, 4)
    Traceback (most recent call last):
    ...
    ValueError: `worker_index` should be an int in [0, num_workers). Received: ...
    """
    check_int("num_workers", num_workers)
    if not is_int(worker_index) or not 0 <= worker_index < num_workers:
        raise ValueError(
            "`worker_index` should be an int in [0, num_workers). Received: "
            f"`worker_index` = {worker_index!r} with `num_workers` = {num_workers}"
        )


class BaseTranslationGroups:
    """What `TranslationGroups` and `StreamingTranslationGroups` share.

    Checks the arguments of `select_languages`, `drop_languages` and `shard`
    once, here; a subclass only says how it keeps some languages
    (`_with_languages`) or one worker's groups (`_with_shard`), and provides
    the `languages` property.

    Examples:

    >>> from keras_mpcl.data import TranslationGroups
    >>> groups = TranslationGroups({"en": ["Hi.", "Yes."], "de": ["Hallo.", ""]})
    >>> isinstance(groups, BaseTranslationGroups)
    True
    >>> groups.drop_languages(["en"]).languages
    ('de',)
    """

    @property
    def languages(self) -> tuple[str, ...]:
        """Tuple of the language codes, in column order."""
        raise NotImplementedError

    def _with_languages(self, languages: list[str]) -> Self:
        """A new corpus keeping only `languages` (checked, non-empty list)."""
        raise NotImplementedError

    def _with_shard(self, num_workers: int, worker_index: int) -> Self:
        """A new corpus of one worker's groups (arguments checked)."""
        raise NotImplementedError

    def select_languages(self, languages: Iterable[str]) -> Self:
        """Keeps only `languages`, in that order.

        A corpus in memory also drops the groups left without any member.

        Args:
            languages: list of language codes, e.g. the 15 XNLI languages.

        Returns:
            A new corpus of the same class.
        """
        languages = check_known_languages(languages, self.languages)
        if not languages:
            raise ValueError("`languages` should name at least one language")
        return self._with_languages(languages)

    def drop_languages(self, languages: Iterable[str]) -> Self:
        """Removes `languages`, e.g. to hold them out as unseen languages.

        Args:
            languages: list of language codes.

        Returns:
            A new corpus of the same class without them.
        """
        languages = check_known_languages(languages, self.languages)
        kept = [lang for lang in self.languages if lang not in languages]
        if not kept:
            raise ValueError("`drop_languages` would remove every language")
        return self.select_languages(kept)

    def shard(self, num_workers: int, worker_index: int) -> Self:
        """The groups of one worker: positions (lines) `worker_index::num_workers`.

        Shards of one corpus are disjoint and together hold every group once;
        group ids stay global (`group_index` in memory, the line number when
        streamed), so batches of different workers never reuse an id for
        different groups. A streamed corpus still reads the whole files but
        keeps only its lines; sharding a shard subdivides it.

        Args:
            num_workers: int. Number of workers (hosts or input pipelines).
            worker_index: int in `[0, num_workers)`.

        Returns:
            A new corpus of the same class.
        """
        check_shard(num_workers, worker_index)
        return self._with_shard(num_workers, worker_index)
