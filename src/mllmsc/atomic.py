"""Atomic file writes: a temporary file beside the target, fsync, then ``os.replace``.

Every output of mllmsc (images, reports, CSVs, weights, checkpoints) goes through here, so a crash
or an error never leaves a half-written file nor destroys the file that was there before.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

StrPath = str | os.PathLike[str]


def atomic_write_bytes(path: StrPath, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, replace).

    The parent directory is created. On failure an existing file at ``path`` is untouched.
    """
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: StrPath, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically, encoded as given; newlines are written as is."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write(path: StrPath, write: Callable[[IO[bytes]], object]) -> None:
    """Run ``write`` on a temporary file beside ``path``, then move it over ``path``.

    ``os.replace`` within one directory (one filesystem) is atomic: readers see the old file or
    the new one, never a mix, and a crash or exception leaves the old file as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_name: str | None = None
    try:
        # A hidden temp name, so a crash mid-write leaves nothing that looks like a result.
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix, delete=False
        ) as tmp:
            tmp_name = tmp.name
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        # mkstemp creates the file 0600; give it the mode a plain open() would have (or keep
        # the mode of the file it replaces), so outputs stay readable by others as usual.
        mode = target.stat().st_mode & 0o7777 if target.is_file() else 0o666 & ~_umask()
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself; best effort (not possible on every OS or filesystem)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@functools.cache
def _umask() -> int:
    # The only portable way to read the umask is to set it; done once, then cached.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
