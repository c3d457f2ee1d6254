"""The one way genlab writes a file: whole or not at all.

:func:`atomic_write` writes to a unique temporary name beside the target (``.NAME.XXXX.tmp``),
flushes it to the disk, renames it over the target and flushes the folder: a crash, a kill or a
full disk at any moment leaves either the old file or the new one under the final name, never a
mix. Every failure to write is one :class:`GenlabError` line (a full disk says so).
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import GenlabError

TMP_SUFFIX = ".tmp"
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


DEFAULT_HINT = "nothing under that name was changed; free some space and run the command again"


class DiskFull(GenlabError):
    """No space left while writing ``path``; the message says what survived and what to do (``hint``)."""

    def __init__(self, path, hint: str | None = None):
        super().__init__(f"disk full while writing {path}; {hint or DEFAULT_HINT}")
        self.path = path


def write_error(path: Path, e: OSError, hint: str | None = None) -> GenlabError:
    """One line for an OSError while writing ``path``: a full disk (then ``hint``), a folder, permissions."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(path, hint)
    if e.errno == errno.EISDIR or Path(path).is_dir():
        return GenlabError(f"cannot write {path}: it is a folder; give a file name")
    return GenlabError(f"cannot write {path} ({e.strerror or e}); give a path in a writable folder")


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object], hint: str | None = None) -> Path:
    """Call ``write(f)`` on a binary temporary file beside ``path``, then put it in place atomically.

    The parent folder is created if needed. On any failure the temporary file is removed and the
    old ``path`` (if any) is untouched; OSErrors become one GenlabError line (``hint``: what to do on a full disk).
    """
    path = Path(path)
    if path.is_dir():
        raise GenlabError(f"cannot write {path}: it is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    except OSError as e:
        raise write_error(path, e, hint) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), 0o666 & ~_UMASK)  # mkstemp makes 0600; a result is read by others too
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise write_error(path, e, hint) from None
        raise
    fsync_dir(path.parent)
    return path


def write_text(path: str | os.PathLike, text: str, hint: str | None = None) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")), hint)
