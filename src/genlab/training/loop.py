"""The one training loop, for every family.

Each step calls ``model.train_step(batches, optimizers, step)``; the model pulls the batches it
needs (a GAN with d_steps=k takes k real batches) and performs its own updates. The loop owns
everything else: the seeded data order, schedulers, logging (progress bar, metrics.jsonl,
TensorBoard), sample grids, validation, NaN checks, and checkpoints that resume exactly.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ..errors import GenlabError
from ..viz.grid import save_grid
from . import checkpoint, distributed
from .batches import Batches
from .config import TrainConfig


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GenlabError(f"unknown device '{name}'; use cpu, cuda, cuda:N, mps or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GenlabError(f"device '{name}' asked for but CUDA is not available here; use --device cpu")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise GenlabError(f"device '{name}' asked for but MPS is not available here; use --device cpu")
    return device


def total_steps(train: TrainConfig, steps_per_epoch: int) -> int:
    if train.steps is not None:
        return train.steps
    return (train.epochs or 10) * steps_per_epoch


class _Log:
    """metrics.jsonl (append-only) and TensorBoard events."""

    def __init__(self, run_dir: Path | None):
        self.run_dir = run_dir
        self.tb = None
        if run_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tb"))
            except ImportError:  # tensorboard is a dependency; keep training if a user removed it
                self.tb = None

    def write(self, record: dict, step: int) -> None:
        if self.run_dir is None:
            return
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    self.tb.add_scalar(k, v, step)

    def image(self, tag: str, grid_path: Path, images: torch.Tensor, step: int) -> None:
        if self.tb is not None:
            from ..viz.grid import make_grid

            self.tb.add_image(tag, make_grid(images), step)

    def close(self):
        if self.tb is not None:
            self.tb.close()


def fit(model, data, train: TrainConfig, run_dir: str | Path | None = None, test_data=None,
        resume: bool = False, quiet: bool = False):
    """Train ``model`` on ``data`` (an ImageData) for the length in ``train``; returns the model.

    With ``run_dir``, writes weights, training state, metrics and sample grids there; with
    ``resume=True``, first restores the state saved there and continues to the same total length.
    """
    run_dir = resume_dir = Path(run_dir) if run_dir is not None else None
    device = resolve_device(train.device)
    ddp = distributed.setup(device)
    device = distributed.local_device(device, ddp)
    if not ddp.main:
        run_dir, quiet = None, True  # only rank 0 writes
    model.to(device)
    if ddp.enabled:
        for net in model.networks().values():
            distributed.broadcast_module(net)
    torch.manual_seed(train.seed + ddp.rank)  # the global stream drives the noise; each rank its own
    optimizers = model.configure_optimizers(train)
    if ddp.enabled:
        distributed.average_gradients_before_step(optimizers)
    batches = Batches(data, train.batch_size, train.seed, device, rank=ddp.rank, world=ddp.world)
    steps_per_epoch = max(1, batches.per_epoch // model.batches_per_step)
    total = total_steps(train, steps_per_epoch)
    schedulers = model.configure_schedulers(optimizers, train, total)
    step = 0
    if resume:
        state = checkpoint.load_state(resume_dir)
        weights_step = checkpoint.load_weights(model, resume_dir)
        if weights_step != state["step"]:
            raise GenlabError(f"weights (step {weights_step}) and training state (step {state['step']}) in "
                              f"'{resume_dir}' differ; the last save was interrupted: train again from scratch")
        step = state["step"]
        for name, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, sch in schedulers.items():
            sch.load_state_dict(state["schedulers"][name])
        batches.epoch, batches.index = state["data"]["epoch"], state["data"]["index"]
        batches._order = batches._permutation(batches.epoch)
        rng = state["rng"]["torch"]
        torch.set_rng_state(rng[ddp.rank] if isinstance(rng, list) else rng)
        if device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], device)
        model.load_extra_state(state.get("extra", {}))
        if step >= total:
            if ddp.main:
                print(f"run already at step {step} of {total}; nothing to do (give a larger --steps or --epochs)")
            return model
    if train.compile:
        for net in model.networks().values():
            net.compile()

    def save():
        all_rng = distributed.gather_rng(ddp)  # every rank takes part, only rank 0 writes
        if run_dir is None:
            return
        checkpoint.save_weights(model, run_dir, step)
        rng = {"torch": all_rng if ddp.enabled else all_rng[0]}
        if device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(device)
        checkpoint.save_state(run_dir, {
            "step": step, "data": batches.state(), "rng": rng,
            "optimizers": {k: v.state_dict() for k, v in optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in schedulers.items()},
            "extra": model.extra_state(),
        })

    log = _Log(run_dir)
    preview_gen_seed = train.seed + 12345
    preview_batch = Batches(test_data if test_data is not None else data, train.num_samples, train.seed + 1, device).next()
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" and train.amp
                else contextlib.nullcontext())
    sums: dict[str, torch.Tensor] = {}
    count, t0, images_seen = 0, time.perf_counter(), 0
    bar = tqdm(total=total, initial=step, disable=quiet, dynamic_ncols=True, desc=model.family, unit="step")
    model.train()
    in_step = False
    try:
        while step < total:
            in_step = True
            with autocast:
                out = model.train_step(batches, optimizers, step)
            for sch in schedulers.values():
                sch.step()
            step += 1
            in_step = False
            count += 1
            images_seen += batches.batch_size * model.batches_per_step
            for k, v in out.items():
                sums[k] = sums.get(k, 0) + v.float()
            epoch_end = step % steps_per_epoch == 0
            if step % train.log_every == 0 or epoch_end or step == total:
                means = {k: float(v) / count for k, v in sums.items()}
                bad = [k for k, v in means.items() if not math.isfinite(v) or abs(v) > 1e12]
                if bad:
                    raise GenlabError(f"loss '{bad[0]}' became {'NaN' if math.isnan(means[bad[0]]) else 'too large'}"
                                      f" by step {step}; stopped, the last good checkpoint is kept in "
                                      f"'{run_dir}': lower the learning rate (--set lr=...) and resume or retrain")
                elapsed = time.perf_counter() - t0
                record = {"step": step, "epoch": step / steps_per_epoch, **means,
                          "images_per_s": images_seen / max(elapsed, 1e-9)}
                log.write(record, step)
                bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
                if quiet and ddp.main:
                    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()),
                          flush=True)
                sums, count, t0, images_seen = {}, 0, time.perf_counter(), 0
            bar.update(1)
            if epoch_end:
                epoch = step // steps_per_epoch
                model.on_epoch_end(data)
                if test_data is not None:
                    val = validate(model, test_data, train.batch_size, device)
                    if val:
                        log.write({"step": step, "epoch": epoch, **{f"test/{k}": v for k, v in val.items()}}, step)
                if epoch % train.sample_every == 0:
                    _grid(model, preview_batch, preview_gen_seed, run_dir, f"epoch_{epoch:03d}", log, step)
            if (epoch_end and train.checkpoint_every == 0) or (train.checkpoint_every and step % train.checkpoint_every == 0):
                save()
    except KeyboardInterrupt:
        if not in_step:  # between two whole steps the state is consistent: --resume continues from here
            save()
        raise
    else:
        if step % steps_per_epoch != 0:
            model.on_epoch_end(data)
        save()
        _grid(model, preview_batch, preview_gen_seed, run_dir, "final", log, step)
    finally:
        bar.close()
        log.close()
    model.eval()
    return model


@torch.no_grad()
def validate(model, data, batch_size: int, device) -> dict[str, float]:
    """Mean of the model's losses over (up to 10k images of) ``data``; the global RNG is left untouched."""
    if not hasattr(model, "loss"):
        return {}
    was = model.training
    model.eval()
    n = min(len(data), 10_000)
    sums: dict[str, float] = {}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        for start in range(0, n, 1000):
            x = data.images[start:min(n, start + 1000)].to(device).float().div_(255)
            for k, v in model.loss(x).items():
                sums[k] = sums.get(k, 0.0) + float(v) * x.shape[0]
    model.train(was)
    return {k: v / n for k, v in sums.items()}


@torch.no_grad()
def _grid(model, batch, seed: int, run_dir: Path | None, name: str, log: _Log, step: int) -> None:
    if run_dir is None:
        return
    was = model.training
    model.eval()
    with torch.random.fork_rng(devices=[]):
        images = model.preview(batch, torch.Generator().manual_seed(seed)).float().cpu()
    model.train(was)
    path = save_grid(images, run_dir / "samples" / f"{name}.png")
    log.image("samples", path, images, step)
