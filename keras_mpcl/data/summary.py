"""`CorpusSummary`: the counts of what a corpus reader kept, dropped and merged."""

from __future__ import annotations

import dataclasses
import logging

logger = logging.getLogger("keras_mpcl.data")
# Reports list at most this many languages by name.
_LISTED = 12


@dataclasses.dataclass(frozen=True)
class CorpusSummary:
    """Counts describing how a corpus of translation groups was read.

    Every member or group that a reader or a selection leaves out is counted
    here, so nothing disappears silently. `str(summary)` gives a readable
    report; readers log it to the `"keras_mpcl.data"` logger at INFO level.

    Args:
        source: str. Where the groups came from (reader and paths).
        languages: tuple of str. The languages of the corpus, in column order.
        groups_read: int. Groups (lines, ids, pivot sentences, JSON objects)
            found in the input.
        groups: int. Groups kept.
        members_per_language: dict of str to int. Non-empty members kept per
            language.
        empty_members_dropped: dict of str to int. Members that were empty or
            whitespace only, per language.
        groups_dropped_empty: int. Groups left without any member.
        groups_merged: int. Groups folded into an earlier group because they
            shared a text with it (`collisions="merge"`).
        groups_dropped_collision: int. Groups dropped because they shared a
            text with an earlier group (`collisions="drop"`).
        members_dropped_collision: int. Members lost while merging: a merged
            group keeps the first text of each language.
        reader_counts: dict of str to int. Counts specific to one reader,
            e.g. blank JSONL lines or conflicting pivot translations.
        derived_by: tuple of str. The selections applied since reading, each
            with its own counts.

    Examples:

    >>> summary = CorpusSummary(
    ...     source="example", languages=("de", "en"), groups_read=3, groups=2,
    ...     members_per_language={"de": 2, "en": 2},
    ...     empty_members_dropped={"de": 1, "en": 0})
    >>> summary.members
    4
    >>> print(summary)
    TranslationGroups from example
      languages: 2 (de, en)
      groups read: 3, kept: 2
      members kept: 4 (de 2, en 2)
      empty members dropped: 1 (de 1)
      groups dropped as empty: 0
      text collisions: 0 groups merged (0 members dropped), 0 groups dropped
    """

    source: str
    languages: tuple
    groups_read: int
    groups: int
    members_per_language: dict
    empty_members_dropped: dict
    groups_dropped_empty: int = 0
    groups_merged: int = 0
    groups_dropped_collision: int = 0
    members_dropped_collision: int = 0
    reader_counts: dict = dataclasses.field(default_factory=dict)
    derived_by: tuple = ()

    @property
    def members(self) -> int:
        """Total number of members kept."""
        return sum(self.members_per_language.values())

    def __str__(self):
        def per_language(counts):
            counts = {k: v for k, v in counts.items() if v}
            if len(counts) > _LISTED:
                low, high = min(counts, key=counts.get), max(counts, key=counts.get)
                return f"min {low} {counts[low]}, max {high} {counts[high]}"
            return ", ".join(f"{k} {v}" for k, v in counts.items())

        listed = ", ".join(self.languages[:_LISTED])
        if len(self.languages) > _LISTED:
            listed += ", ..."

        dropped = sum(self.empty_members_dropped.values())
        lines = [
            f"TranslationGroups from {self.source}",
            f"  languages: {len(self.languages)} ({listed})",
            f"  groups read: {self.groups_read}, kept: {self.groups}",
            (
                f"  members kept: {self.members} "
                f"({per_language(self.members_per_language)})"
            ),
            (
                f"  empty members dropped: {dropped}"
                + (f" ({per_language(self.empty_members_dropped)})" if dropped else "")
            ),
            f"  groups dropped as empty: {self.groups_dropped_empty}",
            (
                f"  text collisions: {self.groups_merged} groups merged "
                f"({self.members_dropped_collision} members dropped), "
                f"{self.groups_dropped_collision} groups dropped"
            ),
        ]
        lines += [f"  {name}: {value}" for name, value in self.reader_counts.items()]
        lines += [f"  then {step}" for step in self.derived_by]
        return "\n".join(lines)

    def log(self) -> CorpusSummary:
        """Logs the report to the `"keras_mpcl.data"` logger at INFO level; returns `self`."""
        logger.info("%s", self)
        return self
