"""Runs by name: build a model for a dataset, train it into a run directory, resume it, load it.

Everything is checked before anything is written: the settings, the device, the data (at least 2
images per split), the size of the model, the output folder. Only then is the run directory created,
under its lock; ``--resume`` rewrites ``config.json`` only when training really continues.
"""

from __future__ import annotations

import dataclasses
import random
import warnings
from pathlib import Path

import numpy as np
import torch

from ..config import apply_settings, from_json, read_config_file, to_jsonable
from ..data import load_dataset, load_run_data, summary
from ..device import resolve_device
from ..errors import GenlabError
from ..models import model_class
from ..models.capabilities import Conditional, supports
from . import checkpoint, distributed
from .config import TrainConfig
from .lock import run_lock
from .loop import fit, total_steps

MAX_PARAMETERS = 500_000_000  # about 8 GB to train in float32 with Adam (weights, gradients, two moments)
MAX_CHANNELS = 8192  # per convolution: wider is a typo (a step would take minutes), not a model
RATES = ("lr", "lr_g", "lr_d")  # what --resume may change: the learning rates to lower after a blow-up


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_configs(
    model: str,
    data_shape,
    num_classes,
    settings: dict | None = None,
    config_file=None,
    pair_channels: int = 0,
    data_size: int = 0,
):
    """The model's and the training config, from defaults, the data's shape, a file, then ``settings``."""
    cls = model_class(model)
    base: dict[str, object] = {"image_shape": tuple(data_shape)}
    if data_size and "dataset_size" in _fields(cls.config_class):
        base["dataset_size"] = data_size  # training images, for estimators that need N (the VAE's tc_estimator)
    if pair_channels and pair_channels != data_shape[0] and "pair_channels" in _fields(cls.config_class):
        base["pair_channels"] = pair_channels  # paired/unpaired data whose B side has other channels
    if supports(cls, Conditional) and num_classes:  # the run layer sets num_classes from the data
        base["num_classes"] = num_classes
    # defaults first (always valid), then the data's shape, a file and the settings in one validated step
    configs = {"model": cls.config_class(), "train": TrainConfig()}
    merged: dict = {f"model.{k}": v for k, v in base.items()}
    if config_file:
        merged.update(read_config_file(config_file))
    merged.update(settings or {})
    return apply_settings(configs, merged)


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def build(cls, config, where: str = "these settings"):
    """The model of ``config``, built first without memory (meta tensors) to check it can be and its size."""
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "initializing zero-element tensors": refused just below
            probe = cls(config)
    except GenlabError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure to build is the settings' fault
        reason = (str(e).splitlines() or [type(e).__name__])[0][:160]
        raise GenlabError(
            f"cannot build a '{cls.family}' model from {where} ({reason}); check the network "
            "settings (channels, hidden, latent_dim, image_shape)"
        ) from None
    empty = next((name for name, p in probe.named_parameters() if p.numel() == 0), None)
    if empty is not None:
        raise GenlabError(
            f"these settings give the '{cls.family}' model an empty layer ({empty}); widths "
            "(channels, hidden, latent_dim) must be >= 1"
        )
    wide = max(
        (max(m.in_channels, m.out_channels) for m in probe.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)),
        default=0,
    )
    if wide > MAX_CHANNELS:
        raise GenlabError(
            f"these settings give the '{cls.family}' model a convolution of {wide:,} channels, above "
            f"genlab's limit of {MAX_CHANNELS:,}; use smaller channels"
        )
    n = sum(p.numel() for p in probe.parameters())
    if n > MAX_PARAMETERS:
        raise GenlabError(
            f"these settings make a '{cls.family}' model of {n:,} parameters, above genlab's limit of "
            f"{MAX_PARAMETERS:,}; use smaller channels, hidden, latent_dim or images"
        )
    return cls(config)


def _check_data(train_data, test_data, name: str, model_config=None) -> None:
    for split, d in (("train", train_data), ("test", test_data)):
        if len(d) < 2:
            raise GenlabError(
                f"the {split} split of '{name}' has {len(d)} image(s); genlab needs at least 2 per split "
                "(a folder split 90/10 needs at least 4 images, or give train/ and test/ subfolders)"
            )
    shape = tuple(getattr(model_config, "image_shape", ()) or ())
    if shape and shape != tuple(train_data.shape):
        raise GenlabError(
            f"image_shape {'x'.join(map(str, shape))} does not match the data "
            f"({'x'.join(map(str, train_data.shape))}); image_shape comes from the data: "
            "do not set it (use --image-size to resize the images)"
        )


def _check_out(out: Path) -> None:
    """Refuse an --out that is a file or that holds a run with a checkpoint (read only)."""
    if out.exists() and not out.is_dir():
        raise GenlabError(f"--out '{out}' is a file; give a folder for the run")
    if (out / checkpoint.CONFIG).exists():
        checkpoint.read_config(out)  # a foreign config.json is refused, not overwritten
        if checkpoint.resumable(out) is not None:
            raise GenlabError(
                f"run directory '{out}' already holds a run; continue it with "
                f"genlab train --resume {out}, or choose another --out"
            )


def train(
    model: str = "vae",
    data: str = "fashion-mnist",
    out: str | Path | None = None,
    *,
    settings: dict | None = None,
    config_file: str | Path | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    quiet: bool = False,
    image_size: int | None = None,
    paired: bool | None = None,
):
    """Train ``model`` ('ae', 'vae', ...) on dataset ``data`` (a name or a folder) into run directory ``out``.

    ``settings`` reaches every field of the model's and the training config (``{"beta": 4}``).
    ``paired``: for a folder, True reads it as pairs, False as classes, None from its layout.
    Returns the trained model (in eval mode).
    """
    cls = model_class(model)  # unknown model: fail before loading data
    main = distributed.is_main()  # under torchrun only rank 0 writes
    out = Path(out) if out is not None else None
    if out is not None and main:
        _check_out(out)
    settings = dict(settings or {})
    for key, value in (("epochs", epochs), ("steps", steps), ("seed", seed), ("device", device)):
        if value is not None:
            settings[f"train.{key}"] = value
    train_data = load_dataset(data, "train", image_size=image_size, paired=paired)
    test_data = load_dataset(data, "test", image_size=image_size, paired=paired)
    pair_channels = train_data.pair.shape[1] if train_data.pair is not None else 0
    configs = make_configs(
        model, train_data.shape, train_data.num_classes, settings, config_file, pair_channels, len(train_data)
    )
    train_cfg: TrainConfig = configs["train"]
    resolve_device(train_cfg.device)
    _check_data(train_data, test_data, data, configs["model"])
    build(cls, configs["model"])  # the check only; the model is built below from the seed
    seed_everything(train_cfg.seed)
    net = cls(configs["model"])
    if main:
        print(summary(train_data, test_data), flush=True)
        for note in train_data.meta.get("notes", []):
            print(f"note: {note}", flush=True)
    if out is None or not main:
        return fit(net, train_data, train_cfg, out, test_data=test_data, quiet=quiet)
    # the size the data was loaded at, so that resume and evaluate reload it alike
    size = list(train_data.shape[1:]) if Path(data).is_dir() else image_size
    cfg = {**checkpoint.run_config(net, train_cfg, data, train_data.classes, size), "paired": paired, "history": []}
    checkpoint.make_run_dir(out)
    with run_lock(out):
        _check_out(out)  # again under the lock: another trainer may have started it meanwhile
        checkpoint.write_json(out / checkpoint.CONFIG, cfg)
        return fit(net, train_data, train_cfg, out, test_data=test_data, quiet=quiet, config=cfg)


def resume(
    run: str | Path,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    device: str | None = None,
    settings: dict | None = None,
    quiet: bool = False,
):
    """Continue the run in ``run`` exactly where it stopped, to ``steps``/``epochs`` in all (or its own length).

    ``settings`` may lower the learning rates (``lr``, ``lr_g``, ``lr_d``) after a blow-up; the change
    is recorded in config.json's ``history``. Nothing is written unless training continues.
    """
    run = Path(run)
    cfg = checkpoint.read_config(run)
    cls = model_class(cfg["model"])
    where = str(run / checkpoint.CONFIG)
    model_cfg = from_json(cls.config_class, cfg["model_config"], f"{where}: model_config")
    train_cfg = from_json(TrainConfig, cfg["train"], f"{where}: train")
    length = (
        {"steps": steps, "epochs": None}
        if steps is not None
        else ({"epochs": epochs, "steps": None} if epochs is not None else {})
    )
    train_cfg = dataclasses.replace(train_cfg, **length, **({"device": device} if device is not None else {}))
    model_cfg, train_cfg, changed = _new_rates(settings or {}, model_cfg, train_cfg)
    resolve_device(train_cfg.device)
    train_data, test_data = load_run_data(cfg, "train"), load_run_data(cfg, "test")
    _check_data(train_data, test_data, cfg["data"], model_cfg)
    build(cls, model_cfg, where)
    seed_everything(train_cfg.seed)
    model = cls(model_cfg)
    newest = checkpoint.resumable(run)
    state = checkpoint.load_checkpoint(newest, model) if newest is not None else None
    step = state["step"] if state else 0
    per_epoch = len(train_data) // min(train_cfg.batch_size, len(train_data))
    total = total_steps(train_cfg, max(1, per_epoch // model.batches_per_step))
    if step >= total:
        print(f"run already at step {step} of {total}; nothing to do (give a larger --steps or --epochs)")
        return model.eval()
    if not distributed.is_main():
        return fit(model, train_data, train_cfg, run, test_data=test_data, resume=True, quiet=quiet, state=state)
    with run_lock(run):
        if checkpoint.resumable(run) != newest:
            raise GenlabError(f"run '{run}' was checkpointed by another process meanwhile; run the command again")
        cfg = {**cfg, "model_config": to_jsonable(model_cfg), "train": to_jsonable(train_cfg)}
        if changed:
            cfg["history"] = [*cfg.get("history", []), {"step": step, "set": changed}]
        checkpoint.write_json(run / checkpoint.CONFIG, cfg)
        return fit(
            model, train_data, train_cfg, run, test_data=test_data, resume=True, quiet=quiet, config=cfg, state=state
        )


def _new_rates(settings: dict, model_cfg, train_cfg):
    """Apply ``--set`` learning rates on resume; anything else is refused (the run's other settings are fixed)."""
    if not settings:
        return model_cfg, train_cfg, {}
    usable = [k for k in RATES if k in _fields(type(model_cfg)) | _fields(TrainConfig)]
    for key in settings:
        if key.rpartition(".")[2] not in usable:
            raise GenlabError(
                f"--resume takes --set only for the learning rates ({', '.join(usable)}), got '{key}'; "
                "other settings are fixed for a run: train a new one with --out"
            )
    old = {"model": model_cfg, "train": train_cfg}
    new = apply_settings(old, settings)
    changed = {
        k: getattr(new[s], k)
        for s in old
        for k in usable
        if k in _fields(type(old[s])) and getattr(new[s], k) != getattr(old[s], k)
    }
    return new["model"], new["train"], changed


def build_from_config(cfg: dict, where: str = "config.json"):
    """The model a run's or model folder's config describes (every value checked), without its weights."""
    cls = model_class(cfg["model"])
    return build(cls, from_json(cls.config_class, cfg["model_config"], f"{where}: model_config"), where)


def load(path: str | Path, device: str = "cpu"):
    """Load a trained model from its folder (config.json + safetensors); no pickle is read.

    ``path``: a run directory (its newest checkpoint) or a model folder. ``device``: 'cpu', 'cuda',
    'mps' or 'auto'. Returns the model in eval mode, with ``sample``, ``encode``, ``decode`` (and
    ``translate`` for translation models).
    """
    path = Path(path)
    cfg = checkpoint.read_config(path)
    dev = resolve_device(device)
    model = build_from_config(cfg, str(path / checkpoint.CONFIG))
    checkpoint.load_weights(model, path)
    model.meta = {
        "data": cfg.get("data"),
        "image_size": cfg.get("image_size"),
        "classes": cfg.get("classes"),
        "paired": cfg.get("paired"),
        "run": str(path),
    }
    return model.to(dev).eval()
