"""Model folders, run directories and checkpoints, written so that a kill or a full disk never tears one.

A *model folder* is ``config.json`` + one ``{network}.safetensors`` per network: it loads from these
alone (no pickle, no code from a file). A *run directory* holds the run's ``config.json`` (its
settings and their history), ``metrics.jsonl``, ``tb/``, ``samples/`` and its newest checkpoint
``checkpoints/step-NNNNNNNN/``: a model folder plus ``training_state.pt`` (optimisers, schedulers,
RNG, step, data position, extra state such as a history pool; plain tensors and numbers, read with
``torch.load(weights_only=True)``).

A checkpoint is written into a temporary folder ``checkpoints/.step-NNNNNNNN.XXXX.tmp``, every file
flushed to the disk, and becomes visible by one rename: the weights, the training state and the
config of one step appear together or not at all. The previous checkpoint is removed only after
that rename; a resume takes the newest complete checkpoint and removes the temporary leftovers of a
killed save. Weights are checked to be finite when saved and when loaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from ..atomic import TMP_SUFFIX, atomic_write, fsync_dir, write_error
from ..config import to_jsonable
from ..errors import GenlabError
from ..version import __version__

CONFIG = "config.json"
STATE = "training_state.pt"
CHECKPOINTS = "checkpoints"
FORMAT = "genlab/1"
_STEP_DIR = re.compile(r"step-(\d{8,})")


# ---------------------------------------------------------------- files of a model folder
def run_config(
    model, train, data_name: str | None = None, classes=None, image_size: int | list[int] | None = None
) -> dict:
    """What config.json records: the model and its config, the training config, the data it was trained on."""
    return {
        "format": FORMAT,
        "genlab_version": __version__,
        "model": model.family,
        "model_config": to_jsonable(model.config),
        "train": to_jsonable(train),
        "data": data_name,
        "image_size": image_size,
        "classes": classes,
    }


def write_json(path: Path, data: dict, hint: str | None = None) -> Path:
    text = (json.dumps(data, indent=2) + "\n").encode()
    return atomic_write(path, lambda f: f.write(text), hint)


def canonical_safetensors(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """safetensors bytes whose header lists its keys sorted: identical tensors give identical files.

    (The library writes the metadata map in hash order, which changes from one process to the next.)
    """
    raw = safetensors_bytes(tensors, metadata=metadata)
    n = int.from_bytes(raw[:8], "little")
    header = json.dumps(json.loads(raw[8 : 8 + n]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # the data stays 8-byte aligned; offsets count from its start
    return len(header).to_bytes(8, "little") + header + raw[8 + n :]


def non_finite(tensors: dict[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding a NaN or an infinity, else None."""
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return name
    return None


def save_weights(model, folder: Path, step: int, hint: str | None = None) -> None:
    """One ``{name}.safetensors`` per network of ``model.networks()``, tagged with the step."""
    for name, net in model.networks().items():
        tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
        bad = non_finite(tensors)
        if bad is not None:
            raise GenlabError(f"refusing to save non-finite weights ('{name}.{bad}' holds NaN or inf) at step {step}")
        meta = {"format": FORMAT, "family": model.family, "network": name, "step": str(step)}
        atomic_write(Path(folder) / f"{name}.safetensors", _writer(canonical_safetensors(tensors, meta)), hint)


def _writer(data: bytes):
    return lambda f: f.write(data)


def read_config(folder: Path) -> dict:
    """The ``config.json`` of a run or model folder, checked to be genlab's."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GenlabError(f"'{folder}' is not a folder; give the run directory that genlab train --out wrote")
    path = folder / CONFIG
    if not path.is_file():
        raise GenlabError(f"'{folder}' has no {CONFIG}; it is not a genlab run or model folder")
    try:
        cfg = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        raise GenlabError(f"'{path}' is corrupted (not valid JSON); restore it or train the run again") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT or "model" not in cfg:
        raise GenlabError(f"'{path}' is not a genlab config (foreign or older format); train the model with genlab")
    for key, kind in (("model", str), ("model_config", dict), ("train", dict)):
        if not isinstance(cfg.get(key), kind):
            raise GenlabError(
                f"'{path}' has a malformed '{key}' (expected a {kind.__name__ if kind is str else 'mapping'}, "
                f"got {json.dumps(cfg.get(key))[:40]}); restore the file or train again"
            )
    return cfg


def weights_folder(folder: Path) -> Path:
    """The folder holding the weights: a model folder itself, or a run's newest complete checkpoint."""
    folder = Path(folder)
    if not (folder / CHECKPOINTS).is_dir() and any(folder.glob("*.safetensors")):
        return folder
    newest = latest(folder)
    if newest is None:
        raise GenlabError(
            f"'{folder}' has no checkpoint yet (training stopped before its first save); "
            f"continue it with genlab train --resume {folder}"
        )
    return newest


def load_weights(model, folder: Path) -> int:
    """Load every network's safetensors into ``model``; returns the step they were saved at."""
    folder = weights_folder(folder)
    steps = set()
    for name, net in model.networks().items():
        path = folder / f"{name}.safetensors"
        if not path.is_file():
            raise GenlabError(f"'{folder}' has no {path.name}; the run was never checkpointed or the file was removed")
        try:
            tensors = load_file(str(path))
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
        except (SafetensorError, OSError, ValueError, RuntimeError):
            raise GenlabError(f"'{path}' is corrupted or truncated; restore it or train again") from None
        if meta.get("family") != model.family:
            raise GenlabError(
                f"'{path}' holds weights of a '{meta.get('family')}' model, not '{model.family}'; "
                "the folder mixes files from different runs"
            )
        own = net.state_dict()
        if set(tensors) != set(own) or any(tensors[k].shape != own[k].shape for k in own):
            raise GenlabError(
                f"'{path}' does not match the network that {CONFIG} describes; "
                "the folder mixes files from different runs"
            )
        bad = non_finite(tensors)
        if bad is not None:
            raise GenlabError(
                f"'{path}' holds NaN or infinite weights ('{bad}'); this model diverged and cannot be "
                "used: train it again with a lower learning rate"
            )
        net.load_state_dict(tensors)
        steps.add(int(meta.get("step", -1)))
    return steps.pop() if len(steps) == 1 else -1


def save_state(folder: Path, state: dict, hint: str | None = None) -> None:
    atomic_write(Path(folder) / STATE, lambda f: torch.save(state, f), hint)


def load_state(folder: Path, map_location="cpu") -> dict:
    folder = weights_folder(folder)
    path = folder / STATE
    if not path.is_file():
        raise GenlabError(f"'{folder}' has no {STATE}; it holds a model but not the state to resume training")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception:  # noqa: BLE001 - truncated zip, foreign pickle: both refused the same way
        raise GenlabError(f"'{path}' is corrupted, truncated or not genlab's; it cannot be resumed") from None


# ---------------------------------------------------------------- checkpoints of a run
def make_run_dir(run: Path) -> None:
    try:
        Path(run).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GenlabError(
            f"cannot create the run directory '{run}' ({e.strerror}); give --out in a writable folder"
        ) from None


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """The complete checkpoints of ``run``, oldest first, as (step, folder)."""
    folder = Path(run) / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_DIR.fullmatch(p.name)) and p.is_dir()]
    return sorted(found)


def latest(run: Path) -> Path | None:
    """The newest complete checkpoint folder of ``run``, or None."""
    found = checkpoints(run)
    return found[-1][1] if found else None


def step_of(checkpoint: Path) -> int:
    """The step a checkpoint folder (``step-NNNNNNNN``) was saved at."""
    match = _STEP_DIR.fullmatch(Path(checkpoint).name)
    if match is None:
        raise GenlabError(f"'{checkpoint}' is not a checkpoint folder (step-NNNNNNNN); give the run directory")
    return int(match.group(1))


def resume_hint(run: Path) -> str:
    return f"the previous checkpoint is kept; free some space and continue with genlab train --resume {run}"


def save_checkpoint(run: Path, step: int, model, state: dict, config: dict) -> Path:
    """Write weights, training state and config of ``step`` as one checkpoint, visible by one rename.

    The previous checkpoint is removed once the new one is complete. Any failure (a full disk, a
    kill) leaves the previous checkpoint whole; failures are one GenlabError line.
    """
    run = Path(run)
    folder = run / CHECKPOINTS
    final = folder / f"step-{step:08d}"
    hint = resume_hint(run)
    if final.is_dir():  # this step is saved whole already (a save repeated right after a resume)
        return final
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f".{final.name}.", suffix=TMP_SUFFIX))
    except OSError as e:
        raise write_error(final, e, hint) from None
    try:
        write_json(tmp / CONFIG, config, hint)
        save_weights(model, tmp, step, hint)
        save_state(tmp, state, hint)
        tmp.chmod(0o755)
        os.rename(tmp, final)  # the commit: before it the old checkpoint is the newest, after it this one
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise write_error(final, e, hint) from None
        raise
    fsync_dir(folder)
    for _, old in checkpoints(run):
        if old != final:
            _remove(old)
    if (run / STATE).is_file():  # an older genlab's checkpoint beside config.json, now superseded
        for p in [*(run / f"{name}.safetensors" for name in model.networks()), run / STATE]:
            p.unlink(missing_ok=True)
    return final


def _remove(folder: Path) -> None:
    """Remove a folder so that no half-removed one keeps a checkpoint's name: rename, then delete."""
    doomed = folder.with_name(f".{folder.name}.old{TMP_SUFFIX}")
    try:
        os.rename(folder, doomed)
    except OSError:
        return
    shutil.rmtree(doomed, ignore_errors=True)


def clean_stale(run: Path) -> list[Path]:
    """Remove what killed saves left behind in ``run``: temporary files and folders, superseded checkpoints.

    Call only while holding the run's lock (nothing else is writing). Returns what was removed.
    """
    run = Path(run)
    removed = []
    for folder in (run, run / CHECKPOINTS, run / "samples"):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if p.name.startswith(".") and p.name.endswith(TMP_SUFFIX):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                removed.append(p)
    for _, old in checkpoints(run)[:-1]:
        _remove(old)
        removed.append(old)
    return removed


def resumable(run: Path) -> Path | None:
    """Where ``run`` resumes from: its newest checkpoint, or the run folder itself when an older genlab
    wrote the weights and training state beside config.json; None before the first checkpoint."""
    newest = latest(run)
    if newest is None and (Path(run) / STATE).is_file():
        return Path(run)
    return newest


def load_checkpoint(checkpoint: Path, model) -> dict:
    """Load a checkpoint's weights into ``model`` and return its training state, checked to agree."""
    state = load_state(checkpoint)
    weights_step = load_weights(model, checkpoint)
    step = step_of(checkpoint) if _STEP_DIR.fullmatch(Path(checkpoint).name) else weights_step
    if not isinstance(state, dict) or state.get("step") != step or weights_step != step:
        raise GenlabError(
            f"checkpoint '{checkpoint}' is inconsistent (weights, state and folder name disagree "
            "on the step); it was not written by genlab: remove it or train again"
        )
    return state
