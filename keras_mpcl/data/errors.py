"""The error raised for malformed corpus files, naming the file and line."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keras_mpcl.typing import PathLike


class CorpusFormatError(ValueError):
    """A corpus file cannot be read as the format it was given as.

    The message names the file and, where there is one, the 1-based line, and
    says how to fix the input. `path` and `line` are also kept as attributes
    so that tools can point at the spot.

    Args:
        message: str. What is wrong and how to fix it.
        path: str, path-like or `None`. The file. Defaults to `None`.
        line: int or `None`. The 1-based line number. Defaults to `None`.

    Examples:

    >>> error = CorpusFormatError("bad row", path="de.txt", line=3)
    >>> str(error)
    'de.txt, line 3: bad row'
    >>> error.line
    3
    """

    def __init__(
        self, message: str, path: PathLike | None = None, line: int | None = None
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        where = self.path or ""
        if line is not None:
            where = f"{where}, line {line}" if where else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)
