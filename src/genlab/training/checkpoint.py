"""Saved models and training state: ``config.json`` + one safetensors file per network, written atomically.

A model folder loads from its config and weights alone (no pickle, no code from the file). The
training state for ``--resume`` (optimisers, schedulers, RNG, step, data position, extra state
such as a history pool) is a separate ``training_state.pt`` of plain tensors and numbers, read
with ``torch.load(weights_only=True)``. Every file is written to a temporary name and renamed,
so a crash or a full disk leaves the previous checkpoint whole.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import GenlabError

CONFIG = "config.json"
STATE = "training_state.pt"
FORMAT = "genlab/1"


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)``, fsync, then rename onto ``path``; on failure the old file stays."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise GenlabError(f"disk full while writing {path}; the previous checkpoint is kept: "
                              "free some space and run again with --resume") from None
        raise GenlabError(f"cannot write {path}: {e.strerror}; check the folder's permissions and space") from None


def write_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"))


def save_weights(model, folder: Path, step: int) -> None:
    """One ``{name}.safetensors`` per network of ``model.networks()``, tagged with the step."""
    for name, net in model.networks().items():
        tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
        meta = {"format": FORMAT, "family": model.family, "network": name, "step": str(step)}
        atomic_write(folder / f"{name}.safetensors", lambda tmp, t=tensors, m=meta: save_file(t, str(tmp), metadata=m))


def read_config(folder: Path) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise GenlabError(f"'{folder}' is not a folder; give the run directory that genlab train --out wrote")
    path = folder / CONFIG
    if not path.is_file():
        raise GenlabError(f"'{folder}' has no {CONFIG}; it is not a genlab run or model folder")
    try:
        cfg = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise GenlabError(f"'{path}' is corrupted (not valid JSON); restore it or train the run again") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT or "model" not in cfg:
        raise GenlabError(f"'{path}' is not a genlab config (foreign or older format); train the model with genlab")
    return cfg


def load_weights(model, folder: Path) -> int:
    """Load every network's safetensors into ``model``; returns the step they were saved at."""
    steps = set()
    for name, net in model.networks().items():
        path = Path(folder) / f"{name}.safetensors"
        if not path.is_file():
            raise GenlabError(f"'{folder}' has no {path.name}; the run was never checkpointed or the file was removed")
        try:
            tensors = load_file(str(path))
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
        except (SafetensorError, OSError, ValueError, RuntimeError):
            raise GenlabError(f"'{path}' is corrupted or truncated; restore it or train again") from None
        if meta.get("family") != model.family:
            raise GenlabError(f"'{path}' holds weights of a '{meta.get('family')}' model, not '{model.family}'; "
                              "the folder mixes files from different runs")
        own = net.state_dict()
        if set(tensors) != set(own) or any(tensors[k].shape != own[k].shape for k in own):
            raise GenlabError(f"'{path}' does not match the network that {CONFIG} describes; "
                              "the folder mixes files from different runs")
        net.load_state_dict(tensors)
        steps.add(int(meta.get("step", -1)))
    return steps.pop() if len(steps) == 1 else -1


def save_state(folder: Path, state: dict) -> None:
    atomic_write(Path(folder) / STATE, lambda tmp: torch.save(state, tmp))


def load_state(folder: Path, map_location="cpu") -> dict:
    path = Path(folder) / STATE
    if not path.is_file():
        raise GenlabError(f"'{folder}' has no {STATE}; it holds a model but not the state to resume training")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception:  # noqa: BLE001 - truncated zip, foreign pickle: both refused the same way
        raise GenlabError(f"'{path}' is corrupted, truncated or not genlab's; it cannot be resumed") from None
