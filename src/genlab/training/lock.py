"""One trainer per run directory: an advisory lock on ``RUN/.lock`` held while anything writes the run.

The lock is ``flock`` on that file, so the kernel releases it when its holder ends, however it
ends (a SIGKILL, a crash, a power cut). The file names its holder (PID, host, start time) while it
is held and is emptied on a clean release: a second trainer is refused with the holder's name,
and a lock whose file still names a holder that is gone (killed) is recognised and taken over.
Reentrant within one process (``train`` holds it while creating the run and ``fit`` inside it).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from pathlib import Path

from ..atomic import write_error
from ..errors import GenlabError

LOCK = ".lock"
_held: set[Path] = set()


def _flock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # no flock (Windows): one trainer per run is then the user's care
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 512).decode("utf-8", "replace").strip()


@contextlib.contextmanager
def run_lock(run: str | os.PathLike, quiet: bool = False):
    """Hold ``run``'s lock for the ``with`` block, or raise a one-line GenlabError if another process holds it."""
    path = (Path(run) / LOCK).resolve()
    if path in _held:
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise write_error(path, e) from None
    if not _flock(fd):
        holder = _read(fd) or "another process"
        os.close(fd)
        raise GenlabError(
            f"run '{run}' is being trained by {holder}; one trainer per run: wait for it to end "
            f"(or stop it), then continue with genlab train --resume {run}"
        )
    stale = _read(fd)
    if stale and not quiet:
        print(f"note: '{run}' was left locked by {stale}, which is no longer running; lock taken over", file=sys.stderr)
    with contextlib.suppress(OSError):  # the name is for messages; a full disk must not stop the lock
        os.ftruncate(fd, 0)
        os.pwrite(
            fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0
        )
    _held.add(path)
    try:
        yield
    finally:
        _held.discard(path)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # a clean release: the next holder finds an empty file
        os.close(fd)  # closing releases the flock
