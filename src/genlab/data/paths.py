"""Where datasets are looked for and cached, and atomic writes into the cache.

Lookup order for a dataset ``name``: ``$GENLAB_DATA/<name>``, ``~/.cache/genlab/<name>``,
``/usr/share/datasets/<name>`` (Debian's ``dataset-*`` packages). Downloads and rendered caches go
to the first writable of ``$GENLAB_DATA/<name>`` (when set) and ``~/.cache/genlab/<name>``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SYSTEM_DIR = Path("/usr/share/datasets")


def cache_root() -> Path:
    return Path(os.path.expanduser("~")) / ".cache" / "genlab"


def search_dirs(name: str) -> list[Path]:
    """The folders searched for dataset ``name``, in order."""
    dirs = []
    if os.environ.get("GENLAB_DATA"):
        dirs.append(Path(os.environ["GENLAB_DATA"]) / name)
    dirs += [cache_root() / name, SYSTEM_DIR / name]
    return dirs


def cache_dir(name: str) -> Path:
    """The folder genlab writes downloads and rendered caches of ``name`` into (created)."""
    base = Path(os.environ["GENLAB_DATA"]) if os.environ.get("GENLAB_DATA") else cache_root()
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: Path, write) -> Path:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it into place.

    A crash or a full disk leaves no half-written file under the final name.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
