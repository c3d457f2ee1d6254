"""Runs by name: build a model for a dataset, train it into a run directory, resume it, load it."""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..config import apply_settings, read_config_file, to_jsonable
from ..data import load_dataset, load_run_data
from ..errors import GenlabError
from ..models import model_class
from ..models.capabilities import Conditional, supports
from . import checkpoint
from .config import TrainConfig
from .loop import fit


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_configs(model: str, data_shape, num_classes, settings: dict | None = None, config_file=None,
                 pair_channels: int = 0):
    """The model's and the training config, from defaults, the data's shape, a file, then ``settings``."""
    cls = model_class(model)
    base = {"image_shape": tuple(data_shape)}
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


def run_config(model, train: TrainConfig, data_name: str, classes, image_size: int | None) -> dict:
    return {"format": checkpoint.FORMAT, "genlab_version": __version__, "model": model.family,
            "model_config": to_jsonable(model.config), "train": to_jsonable(train), "data": data_name,
            "image_size": image_size, "classes": classes}


def train(model: str = "vae", data: str = "fashion-mnist", out: str | Path | None = None, *,
          settings: dict | None = None, config_file: str | Path | None = None, epochs: int | None = None,
          steps: int | None = None, seed: int | None = None, device: str | None = None, quiet: bool = False,
          image_size: int | None = None):
    """Train ``model`` ('ae', 'vae', ...) on dataset ``data`` (a name or a folder) into run directory ``out``.

    ``settings`` reaches every field of the model's and the training config (``{"beta": 4}``).
    Returns the trained model (in eval mode).
    """
    model_class(model)  # unknown model: fail before loading data
    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 writes
    if out is not None and main_rank:
        out = Path(out)
        if (out / checkpoint.CONFIG).exists():
            raise GenlabError(f"run directory '{out}' already holds a run; continue it with "
                              f"genlab train --resume {out}, or choose another --out")
    settings = dict(settings or {})
    for key, value in (("epochs", epochs), ("steps", steps), ("seed", seed), ("device", device)):
        if value is not None:
            settings[f"train.{key}"] = value
    train_data = load_dataset(data, "train", image_size=image_size)
    test_data = load_dataset(data, "test", image_size=image_size)
    pair_channels = train_data.pair.shape[1] if train_data.pair is not None else 0
    configs = make_configs(model, train_data.shape, train_data.num_classes, settings, config_file, pair_channels)
    train_cfg: TrainConfig = configs["train"]
    seed_everything(train_cfg.seed)
    net = model_class(model)(configs["model"])
    if out is not None and main_rank:
        out.mkdir(parents=True, exist_ok=True)
        # the size the data was resized to (folders always are), so resume/evaluate reload it alike
        size = train_data.shape[1] if image_size is not None or Path(data).is_dir() else None
        checkpoint.write_json(out / checkpoint.CONFIG, run_config(net, train_cfg, data, train_data.classes, size))
    return fit(net, train_data, train_cfg, out, test_data=test_data, quiet=quiet)


def resume(run: str | Path, *, epochs: int | None = None, steps: int | None = None, device: str | None = None,
           quiet: bool = False):
    """Continue the run in ``run`` exactly where it stopped, to ``steps``/``epochs`` in all (or its own length)."""
    run = Path(run)
    cfg = checkpoint.read_config(run)
    model = build_from_config(cfg)
    train_cfg = TrainConfig(**_tuples(TrainConfig, cfg["train"]))
    changes = {}
    if steps is not None:
        changes.update(steps=steps, epochs=None)
    elif epochs is not None:
        changes.update(epochs=epochs, steps=None)
    if device is not None:
        changes["device"] = device
    train_cfg = dataclasses.replace(train_cfg, **changes)
    train_data, test_data = load_run_data(cfg, "train"), load_run_data(cfg, "test")
    cfg["train"] = to_jsonable(train_cfg)
    if os.environ.get("RANK", "0") == "0":
        checkpoint.write_json(run / checkpoint.CONFIG, cfg)
    return fit(model, train_data, train_cfg, run, test_data=test_data, resume=True, quiet=quiet)


def _tuples(cls, d: dict) -> dict:
    """JSON lists back to the tuples the dataclass annotates."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise GenlabError(f"config.json has unknown key '{sorted(unknown)[0]}' for {cls.__name__}; "
                          "it was written by another genlab version or edited by hand")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def build_from_config(cfg: dict):
    cls = model_class(cfg["model"])
    return cls(cls.config_class(**_tuples(cls.config_class, cfg["model_config"])))


def load(path: str | Path, device: str = "cpu"):
    """Load a trained model from its folder (config.json + safetensors); no pickle is read.

    Returns the model in eval mode, with ``sample``, ``encode``, ``decode`` (and ``translate`` for
    translation models).
    """
    path = Path(path)
    cfg = checkpoint.read_config(path)
    try:
        model = build_from_config(cfg)
    except TypeError as e:
        raise GenlabError(f"'{path / checkpoint.CONFIG}' does not describe a valid model ({e}); "
                          "restore the file or train again") from None
    checkpoint.load_weights(model, path)
    model.meta = {"data": cfg.get("data"), "image_size": cfg.get("image_size"), "classes": cfg.get("classes"),
                  "run": str(path)}
    return model.to(device).eval()
