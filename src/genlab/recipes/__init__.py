"""Recipes: named, versioned training configurations shipped with genlab.

    genlab train --recipe gan-ns-fashion --out runs/gan_ns

A recipe is a TOML file in this folder: a ``[recipe]`` table (its version, the model and the data it
trains, what it is for) and the ``[model]`` / ``[train]`` settings any ``--config`` file holds.
``--set`` still overrides single settings; ``--data`` replaces the data (the cgan-folder recipe needs
a folder). The version is bumped whenever a setting changes, so a published figure names the exact
configuration behind it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import one_of

FOLDER = Path(__file__).parent


@dataclass(frozen=True)
class Recipe:
    name: str
    version: int
    model: str
    data: str | None  # None: the user gives --data (a folder)
    about: str
    path: Path


def names() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.toml"))


def get(name: str) -> Recipe:
    """The recipe ``name`` (one-line error listing the recipes when there is none)."""
    path = FOLDER / f"{name}.toml"
    if not path.is_file():
        raise one_of("recipe", name, names())
    head = tomllib.loads(path.read_text())["recipe"]
    return Recipe(name, int(head["version"]), head["model"], head.get("data"), head["about"], path)
