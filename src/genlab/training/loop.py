"""The one training loop, for every family.

Each step calls ``model.train_step(batches, optimizers, step)``; the model pulls the batches it
needs (a GAN with d_steps=k takes k real batches) and performs its own updates. The loop owns
everything else, as the named steps :func:`fit` calls in order: set up (device, optimisers, the
seeded data order), restore (the newest checkpoint of a resumed run), step, track and check the
losses (every step's losses, for NaN and blow-ups), log (progress bar, metrics.jsonl, TensorBoard),
the end of an epoch (validation, sample grid) and save (an atomic checkpoint, never of non-finite
weights).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from .. import shards
from ..atomic import DiskFull, atomic_write, write_error
from ..data.base import to_float
from ..device import resolve_device
from ..errors import GenlabError
from ..models.base import GenerativeModel
from ..viz.grid import save_grid
from . import checkpoint, distributed, views
from .batches import Batch, Batches
from .config import TrainConfig
from .lock import run_lock

METRICS = "metrics.jsonl"
EXPLODED = 1e12  # a loss above this is a blow-up, not a value to keep training on


def total_steps(train: TrainConfig, steps_per_epoch: int) -> int:
    if train.steps is not None:
        return train.steps
    return (train.epochs or 10) * steps_per_epoch


class _Log:
    """metrics.jsonl (the run's numbers, nothing else: a resumed run writes the same file) and TensorBoard."""

    def __init__(self, run_dir: Path | None):
        self.run_dir = run_dir
        self.tb = None
        if run_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tb"))
            except ImportError:  # tensorboard is a dependency; keep training if a user removed it
                self.tb = None

    def truncate(self, step: int) -> None:
        """Keep the records up to ``step`` (a resumed run's checkpoint); drop later and torn lines."""
        if self.run_dir is None or not (self.run_dir / METRICS).exists():
            return
        path = self.run_dir / METRICS
        kept = []
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                if json.loads(line)["step"] <= step:
                    kept.append(line + "\n")
        atomic_write(path, lambda f: f.write("".join(kept).encode()), checkpoint.resume_hint(self.run_dir))

    def write(self, record: dict, step: int, extra: dict | None = None) -> None:
        if self.run_dir is None:
            return
        try:
            with open(self.run_dir / METRICS, "a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as e:
            raise write_error(self.run_dir / METRICS, e) from None
        if self.tb is not None:
            for k, v in {**record, **(extra or {})}.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    self.tb.add_scalar(k, v, step)

    def sync(self) -> None:
        """Flush metrics.jsonl to the disk, so that a checkpoint never gets ahead of its log."""
        path = self.run_dir / METRICS if self.run_dir is not None else None
        if path is not None and path.exists():
            with open(path, "rb+") as f:
                os.fsync(f.fileno())

    def image(self, tag: str, images: torch.Tensor, step: int) -> None:
        if self.tb is not None:
            from ..viz.grid import make_grid

            self.tb.add_image(tag, make_grid(images), step)

    def close(self):
        if self.tb is not None:
            self.tb.close()


@dataclass
class _Training:
    """Everything one call of :func:`fit` works on."""

    model: GenerativeModel
    data: object
    test_data: object
    train: TrainConfig
    run_dir: Path | None  # None on ranks that do not write
    config: dict  # the run's config, written into every checkpoint
    quiet: bool
    device: torch.device
    ddp: distributed.Dist
    views: dict  # the networks a step runs through (autocast, DistributedDataParallel), by attribute name
    optimizers: dict
    schedulers: dict
    batches: Batches
    steps_per_epoch: int
    total: int
    preview: Batch
    log: _Log
    step: int = 0
    saved_step: int | None = None  # the step of the newest checkpoint on disk
    sums: dict = field(default_factory=dict)  # loss sums since the last log line
    count: int = 0
    pending: list = field(default_factory=list)  # (step, losses) not yet checked for NaN
    timer: tuple = (0.0, 0)  # (time, images) at the last log line, for the throughput


def fit(
    model,
    data,
    train: TrainConfig,
    run_dir: str | Path | None = None,
    test_data=None,
    resume: bool = False,
    quiet: bool = False,
    config: dict | None = None,
    state: dict | None = None,
):
    """Train ``model`` on ``data`` (an ImageData) for the length in ``train``; returns the model.

    With ``run_dir``, writes checkpoints, metrics and sample grids there (holding the run's lock);
    with ``resume=True``, first restores the newest checkpoint there (or ``state``, a training state
    already loaded with the weights) and continues to the same total length. ``config`` is the run's
    config.json, copied into every checkpoint.
    """
    run_dir = Path(run_dir) if run_dir is not None else None
    writer = run_dir if distributed.is_main() else None  # only rank 0 writes
    if writer is not None:
        checkpoint.make_run_dir(writer)
    with run_lock(writer) if writer is not None else contextlib.nullcontext():
        t = _setup(model, data, train, writer, test_data, quiet, config)
        if resume:
            _restore(t, run_dir, state)
        if t.run_dir is not None:
            checkpoint.clean_stale(t.run_dir)
            t.log.truncate(t.step)  # a resumed run's log continues exactly where its checkpoint stood
        if t.step >= t.total:
            t.log.close()
            if t.ddp.main:
                print(f"run already at step {t.step} of {t.total}; nothing to do (give a larger --steps or --epochs)")
            model.replica = None
            return model
        try:
            _train(t)
        except DiskFull as e:  # a log line or a sample grid: what survives is the last checkpoint, as for a save
            raise DiskFull(e.path, checkpoint.resume_hint(run_dir) if run_dir is not None else None) from None
    model.eval()
    return model


def _setup(model, data, train, run_dir, test_data, quiet, config) -> _Training:
    device = resolve_device(train.device)
    ddp = distributed.setup(device)
    device = distributed.local_device(device, ddp)
    model.to(device)
    distributed.check_batch(train.batch_size, ddp)
    torch.manual_seed(train.seed)  # the same stream on every rank: each draws its rows of the batch (genlab.shards)
    optimizers = model.configure_optimizers(train)
    if train.compile:
        # torch 2.11's inductor turns the GAN convolutions channels-last, and the backward of D run with
        # frozen weights (G's step) then fails its stride check on CUDA: keep the layouts as they are
        from torch._inductor import config as inductor

        inductor.layout_optimization = False
        # the noise (a VAE's reparameterisation, a GAN's z) from torch's own generator, as in eager mode: a
        # compiled run follows the eager run's trajectory and its seed, instead of inductor's random stream
        inductor.fallback_random = True
        for net in model.networks().values():
            net.compile()
    amp = (train.amp and device.type == "cuda") or (train.amp_cpu and device.type == "cpu")
    step_views = views.make(model, optimizers, ddp, device, amp=amp)
    batches = Batches(data, train.batch_size, train.seed, device, rank=ddp.rank, world=ddp.world)
    steps_per_epoch = max(1, batches.per_epoch // model.batches_per_step)
    total = total_steps(train, steps_per_epoch)
    schedulers = model.configure_schedulers(optimizers, train, total)
    preview = Batches(test_data if test_data is not None else data, train.num_samples, train.seed + 1, device).next()
    config = dict(config or checkpoint.run_config(model, train))
    return _Training(
        model,
        data,
        test_data,
        train,
        run_dir,
        config,
        quiet or not ddp.main,
        device,
        ddp,
        step_views,
        optimizers,
        schedulers,
        batches,
        steps_per_epoch,
        total,
        preview,
        _Log(run_dir),
    )


def _restore(t: _Training, run_dir: Path | None, state: dict | None) -> None:
    """Put model, optimisers, schedulers, data position, RNG and log sums back as the newest checkpoint had them."""
    if state is None:
        newest = checkpoint.resumable(run_dir) if run_dir is not None else None
        if newest is None:
            return  # stopped before its first checkpoint: the seeded start is the same, so begin again
        state = checkpoint.load_checkpoint(newest, t.model)
    t.step = t.saved_step = state["step"]
    configured = {name: [g.get("initial_lr", g["lr"]) for g in opt.param_groups] for name, opt in t.optimizers.items()}
    for name, opt in t.optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    for name, sch in t.schedulers.items():
        sch.load_state_dict(state["schedulers"][name])
    _keep_configured_rates(t, configured)
    t.batches.epoch, t.batches.index = state["data"]["epoch"], state["data"]["index"]
    t.batches._order = t.batches._permutation(t.batches.epoch)
    rng = state["rng"]["torch"]  # one state for every rank, however many processes wrote it
    torch.set_rng_state(rng[0] if isinstance(rng, list) else rng)
    if t.device.type == "cuda" and "cuda" in state["rng"]:
        torch.cuda.set_rng_state(state["rng"]["cuda"], t.device)
    t.model.load_extra_state(state.get("extra", {}))
    log = state.get("log", {"sums": {}, "count": 0})
    t.sums = {k: v.to(t.device) for k, v in log["sums"].items()}
    t.count = log["count"]


def _keep_configured_rates(t: _Training, configured: dict) -> None:
    """The run's configured base rates win over the saved ones: a resume may lower them (``--set lr=...``).

    Each rate is scaled by new base / saved base, so a schedule's progress (CycleGAN's decay) is kept.
    """
    for name, opt in t.optimizers.items():
        for group, base in zip(opt.param_groups, configured[name]):
            saved = group.get("initial_lr", group["lr"])
            if saved != base:
                group["lr"] *= base / saved
                if "initial_lr" in group:
                    group["initial_lr"] = base
    for sch in t.schedulers.values():
        if hasattr(sch, "base_lrs"):
            sch.base_lrs = [g.get("initial_lr", g["lr"]) for g in sch.optimizer.param_groups]


def _train(t: _Training) -> None:
    train = t.train
    bar = tqdm(total=t.total, initial=t.step, disable=t.quiet, dynamic_ncols=True, desc=t.model.family, unit="step")
    t.timer = (time.perf_counter(), 0)
    t.model.train()
    in_step = False
    try:
        while t.step < t.total:
            in_step = True
            out = _step(t)
            in_step = False
            _track(t, out)
            epoch_end = t.step % t.steps_per_epoch == 0
            if t.step % train.log_every == 0 or epoch_end or t.step == t.total:
                _log(t, bar)
            bar.update(1)
            if epoch_end:
                _end_of_epoch(t)
            if (epoch_end and train.checkpoint_every == 0) or (
                train.checkpoint_every and t.step % train.checkpoint_every == 0
            ):
                _save(t)
    except KeyboardInterrupt:
        if not in_step:  # between two whole steps the state is consistent: --resume continues from here
            _save(t)
        raise
    else:
        if t.step % t.steps_per_epoch != 0:
            t.model.on_epoch_end(t.data)
        _save(t)
        _grid(t, "final")
    finally:
        bar.close()
        t.log.close()
        t.model.replica = None


def _step(t: _Training) -> dict[str, torch.Tensor]:
    """One training iteration of the model (through its views, drawing its rows' noise), then its schedulers."""
    with views.swapped(t.model, t.views), shards.rows_of(t.ddp.rank, t.ddp.world):
        out = t.model.train_step(t.batches, t.optimizers, t.step)
    for sch in t.schedulers.values():
        sch.step()
    t.step += 1
    return out


def _track(t: _Training, out: dict[str, torch.Tensor]) -> None:
    """Add the step's losses to the log sums and queue them for the NaN check (no device sync here)."""
    for k, v in out.items():
        t.sums[k] = t.sums.get(k, 0) + v.detach().float()
    t.count += 1
    t.pending.append((t.step, list(out), torch.stack([v.detach().float().reshape(()) for v in out.values()])))


def _check_losses(t: _Training) -> None:
    """Every queued step's losses are finite and not exploding, or training stops naming the first bad step."""
    if not t.pending:
        return
    # (steps, terms), the mean over the ranks: one device sync for all of them, and every rank stops together
    values = distributed.mean_across(torch.stack([v for _, _, v in t.pending]), t.ddp)
    bad = ~torch.isfinite(values) | (values.abs() > EXPLODED)
    rows = bad.any(1).nonzero()
    if rows.numel():
        step, names, v = t.pending[int(rows[0])]
        terms = ", ".join(f"{n}={float(x):.4g}" for n, x in zip(names, v.tolist()))
        raise _diverged(t, step, f"losses {terms}")
    t.pending.clear()


def _diverged(t: _Training, step: int, what: str) -> GenlabError:
    """The one-line stop: which step and terms, what is kept, and a command that continues with a lower rate."""
    first = next(iter(t.optimizers.values())).param_groups[0]  # the base rate, when no per-network rate is set
    rates = {k: v for k in ("lr_g", "lr_d") if (v := getattr(t.model.config, k, None))} or {
        "lr": first.get("initial_lr", first["lr"])
    }
    lower = " ".join(f"--set {k}={v / 10:.3g}" for k, v in rates.items())
    if t.run_dir is None:
        return GenlabError(
            f"training diverged at step {step} ({what}); stopped: train again with a lower learning "
            f"rate ({', '.join(f'{k}={v / 10:.3g}' for k, v in rates.items())})"
        )
    kept = (
        f"the last good checkpoint (step {t.saved_step}) is kept"
        if t.saved_step is not None
        else "no checkpoint had been saved yet"
    )
    return GenlabError(
        f"training diverged at step {step} ({what}); stopped, {kept}: continue with a lower "
        f"learning rate: genlab train --resume {t.run_dir} {lower}"
    )


def _log(t: _Training, bar) -> None:
    """One metrics.jsonl line of the mean losses since the last one (checked first), and the bar's postfix."""
    _check_losses(t)
    means = {k: float(distributed.mean_across(v, t.ddp)) / t.count for k, v in t.sums.items()}  # the global batch's
    record = {"step": t.step, "epoch": t.step / t.steps_per_epoch, **means}
    now, seen = time.perf_counter(), t.count * t.batches.batch_size * t.model.batches_per_step
    throughput = {"images_per_s": seen / max(now - t.timer[0], 1e-9)}
    t.log.write(record, t.step, throughput)
    bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
    if t.quiet and t.ddp.main:
        print(
            " ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in {**record, **throughput}.items()
            ),
            flush=True,
        )
    t.sums, t.count, t.timer = {}, 0, (now, 0)


def _end_of_epoch(t: _Training) -> None:
    epoch = t.step // t.steps_per_epoch
    t.model.on_epoch_end(t.data)
    if t.test_data is not None and t.ddp.main:  # only rank 0 writes the numbers
        val = validate(t.model, t.test_data, t.train.batch_size, t.device, step=t.step)
        if val:
            t.log.write({"step": t.step, "epoch": epoch, **{f"test/{k}": v for k, v in val.items()}}, t.step)
    if epoch % t.train.sample_every == 0:
        _grid(t, f"epoch_{epoch:03d}")


def _save(t: _Training) -> None:
    """An atomic checkpoint of this step, after checking its losses and weights are finite."""
    _check_losses(t)
    if t.run_dir is None:  # only rank 0 writes; every rank holds the same state
        return
    for name, net in t.model.networks().items():
        bad = checkpoint.non_finite(dict(net.state_dict()))
        if bad is not None:
            raise _diverged(t, t.step, f"weights '{name}.{bad}' are NaN or inf")
    rng = {"torch": torch.get_rng_state()}
    if t.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(t.device)
    state = {
        "step": t.step,
        "data": t.batches.state(),
        "rng": rng,
        "optimizers": {k: v.state_dict() for k, v in t.optimizers.items()},
        "schedulers": {k: v.state_dict() for k, v in t.schedulers.items()},
        "extra": t.model.extra_state(),
        "log": {"sums": {k: v.detach().cpu() for k, v in t.sums.items()}, "count": t.count},
    }
    config = {**t.config, "train": checkpoint.to_jsonable(t.train), "step": t.step}
    t.log.sync()
    checkpoint.save_checkpoint(t.run_dir, t.step, t.model, state, config)
    t.saved_step = t.step


@torch.no_grad()
def validate(model, data, batch_size: int, device, step: int = 0) -> dict[str, float]:
    """Mean of the model's losses over (up to 10k images of) ``data``, as training computes them at ``step``.

    The objective is the one being trained at that step (a VAE's KL warm-up and capacity C included);
    the global RNG is left untouched.
    """
    if not hasattr(model, "loss"):
        return {}
    was = model.training
    model.eval()
    n = min(len(data), 10_000)
    sums: dict[str, float] = {}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        for start in range(0, n, 1000):
            x = to_float(data.images[start : min(n, start + 1000)]).to(device)
            for k, v in model.loss(x, step).items():
                sums[k] = sums.get(k, 0.0) + float(v) * x.shape[0]
    model.train(was)
    return {k: v / n for k, v in sums.items()}


@torch.no_grad()
def _grid(t: _Training, name: str) -> None:
    if t.run_dir is None:
        return
    was = t.model.training
    t.model.eval()
    with torch.random.fork_rng(devices=[]):
        images = t.model.preview(t.preview, torch.Generator().manual_seed(t.train.seed + 12345)).float().cpu()
    t.model.train(was)
    save_grid(images, t.run_dir / "samples" / f"{name}.png")
    t.log.image("samples", images, t.step)
