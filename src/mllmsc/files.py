"""Checks of the user's input files that need no heavy import (the CLI runs them first)."""

from __future__ import annotations

import os
from pathlib import Path

from mllmsc.errors import UserError

StrPath = str | os.PathLike[str]

#: The files ``mllmsc transmit`` writes into its ``--out`` folder (DESIGN.md §4).
TRANSMIT_OUTPUTS = ("received.png", "importance.png", "allocation.png", "report.png", "report.json")


class ImageError(UserError):
    """A file that cannot be used as an image or mask.

    The message is one line, ``"<path>: <problem>"``, meant to be shown to the user as is (the CLI
    prints it and exits with code 2).

    Attributes:
        path: the file, as the caller named it.
        reason: what is wrong with it.
    """

    def __init__(self, path: StrPath, reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = " ".join(reason.split())  # one line, whatever a decoder's message held
        super().__init__(f"{self.path}: {self.reason}")


def check_input_file(path: StrPath) -> None:
    """Refuse a path that is not a readable, non-empty regular file, with one :class:`ImageError`.

    What Pillow would report confusingly (or, for a FIFO, block on); cheap enough to run before
    anything heavy is imported, so a missing file is reported at once.
    """
    p = Path(path)
    try:
        if not p.exists():
            raise ImageError(path, "no such file")
        if p.is_dir():
            raise ImageError(path, "is a directory, not an image file")
        if not p.is_file():
            raise ImageError(path, "not a regular file")
        if p.stat().st_size == 0:
            raise ImageError(path, "empty file (0 bytes)")
    except PermissionError:
        raise ImageError(path, "permission denied") from None
