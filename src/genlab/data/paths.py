"""Where datasets are looked for and cached (written with :func:`genlab.atomic.atomic_write`).

Lookup order for a dataset ``name``: ``$GENLAB_DATA/<name>``, ``~/.cache/genlab/<name>``,
``/usr/share/datasets/<name>`` (Debian's ``dataset-*`` packages). Downloads and rendered caches go
to the first writable of ``$GENLAB_DATA/<name>`` (when set) and ``~/.cache/genlab/<name>``.
"""

from __future__ import annotations

import os
from pathlib import Path

from genlab.atomic import atomic_write

__all__ = ["SYSTEM_DIR", "atomic_write", "cache_dir", "cache_root", "search_dirs"]

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
