"""Where a VAE training step's time goes, genlab against pythae: the profile behind ``vae_vs_pythae.py``.

Run it with the Python that has both libraries (see ``vae_vs_pythae.py``):

    ../pythae-venv/bin/python benchmarks/vae_step_profile.py --threads 1 --steps 100 --rounds 3

The network, loss, weights and batch are those of ``vae_vs_pythae.py`` (pythae's default VAE MLP
784-512-16, 0.5 SSE + KL, batch 128, Adam 1e-3, Fashion-MNIST). Three steps are compared:

- ``pythae``: one iteration of pythae's ``BaseTrainer.train_step`` loop, as it runs it: the next batch
  of its DataLoader (``BaseDataset``, per-image ``__getitem__`` and its collate), the model's forward
  pass, ``zero_grad``, ``backward``, ``Adam.step`` (torch's default implementation on a CPU) and
  ``loss.item()``;
- ``genlab``: ``model.train_step`` as ``fit`` calls it (a gathered batch, the objective, fused Adam);
- ``genlab-bf16``: the same through the bf16 autocast view of ``amp_cpu=True``.

Timing: rounds of ``--steps`` steps, the sides taking turns in each round; the median over the rounds of
each side's CPU time (user + system of the process) and wall time per step. Profile: ``--profile-steps``
steps of each side under ``torch.profiler``, the main thread's operator time split into

- ``gemm``: ``aten::mm`` and ``aten::addmm`` (the linear layers forward and backward; both sides call
  the same kernels for the same shapes in float32, bf16 ones under autocast);
- ``optimizer``: everything inside ``Optimizer.step`` and ``Optimizer.zero_grad``;
- ``data``: the batch (pythae's DataLoader iteration; genlab's gather and conversion);
- ``copies``: ``aten::copy_`` and ``aten::_to_copy`` elsewhere: under bf16 autocast the casts of the
  weights to bf16 in the forward pass and of their gradients back to float32 in the backward pass
  (plus the inputs' casts);
- ``other``: the rest (elementwise ops of the loss and the activations, autograd and Python).

The profiler adds a few microseconds to every operator, so the split is reported as shares of the
profiled time and, scaled by them, in milliseconds of the unprofiled step. The ceiling of a ratio:
pythae's step against genlab's GEMMs alone (genlab spending nothing else).

Also measured, genlab only (``--fit``): one epoch of ``fit`` in parts, CPU seconds: the bare steps, ``fit``
without test data or run directory, with the per-epoch validation on the 10k test images, and with a
run directory (checkpoint, sample grid, metrics and TensorBoard).

Results go to benchmarks/results/vae_step_profile.json (``--out``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from vae_vs_pythae import BATCH, LR, genlab_to_pythae, genlab_vae, initial_weights, pythae_vae  # noqa: E402

from genlab.data import load_dataset  # noqa: E402
from genlab.training import TrainConfig, fit, views  # noqa: E402
from genlab.training.batches import Batches  # noqa: E402

SIDES = ("pythae", "genlab", "genlab-bf16")
GEMM = {"aten::mm", "aten::addmm"}
COPIES = {"aten::copy_", "aten::_to_copy"}  # under autocast: the bf16 casts of weights, their gradients and inputs


def pythae_step(train, init):
    """One iteration of pythae's training loop (BaseTrainer.train_step), batch by batch, epoch after epoch."""
    from pythae.data.datasets import BaseDataset, collate_dataset_output
    from torch.utils.data import DataLoader

    model = pythae_vae(16)
    model.load_state_dict(genlab_to_pythae(init, 16))
    model.train()
    x = train.images.float() / 255
    loader = DataLoader(
        BaseDataset(x, torch.zeros(len(x))), batch_size=BATCH, shuffle=True, collate_fn=collate_dataset_output
    )
    opt = torch.optim.Adam(model.parameters(), lr=LR)  # pythae's optimizer_cls="Adam", its defaults
    batches = iter(loader)

    def step():
        nonlocal batches
        with record_function("data"):
            try:
                inputs = next(batches)
            except StopIteration:
                batches = iter(loader)
                inputs = next(batches)
        out = model(inputs, epoch=0, dataset_size=len(x), uses_ddp=False)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        out.loss.item()

    return step


def genlab_step(train, init, bf16: bool):
    """``model.train_step`` as fit runs it, with the bf16 autocast view when ``bf16``."""
    model = genlab_vae(16)
    model.load_state_dict(init)
    model.train()
    if bf16:
        model.replica = views.Autocast(model, "cpu")
    opts = model.configure_optimizers(TrainConfig(lr=LR))
    batches = Batches(train, BATCH, seed=0)
    gather = batches.next

    def next_batch():
        with record_function("data"):
            return gather()

    batches.next = next_batch  # type: ignore[method-assign]
    count = [0]

    def step():
        model.train_step(batches, opts, count[0])
        count[0] += 1

    return step


def split(prof) -> dict[str, float]:
    """The main thread's operator time of a profile, in seconds, by part (see the module docstring)."""
    events = prof.events()

    def part_of(name: str) -> str | None:
        if name == "data":
            return "data"
        if name.startswith(("Optimizer.step", "Optimizer.zero_grad")):
            return "optimizer"
        return None

    spans = [(e.time_range.start, e.time_range.end, part) for e in events if (part := part_of(e.name))]
    parts = dict.fromkeys(("gemm", "optimizer", "data", "copies", "other"), 0.0)
    for e in events:
        part = next((p for a, b, p in spans if a <= e.time_range.start and e.time_range.end <= b), None)
        part = part or ("gemm" if e.name in GEMM else "copies" if e.name in COPIES else "other")
        parts[part] += e.self_cpu_time_total
    return {k: v / 1e6 for k, v in parts.items()}


def timing(steps: dict, n: int, rounds: int) -> dict:
    per: dict[str, list] = {s: [] for s in steps}
    for _ in range(rounds):
        for side, step in steps.items():
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                step()
            per[side].append(((time.process_time() - c0) / n, (time.perf_counter() - t0) / n))
    return {
        side: {
            "cpu_ms_per_step": round(1e3 * statistics.median(c for c, _ in v), 3),
            "wall_ms_per_step": round(1e3 * statistics.median(w for _, w in v), 3),
            "cpu_ms_rounds": [round(1e3 * c, 3) for c, _ in v],
        }
        for side, v in per.items()
    }


def profiled(steps: dict, n: int) -> dict:
    out = {}
    for side, step in steps.items():
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(n):
                step()
        parts = split(prof)
        total = sum(parts.values())
        out[side] = {
            "profiled_ms_per_step": round(1e3 * total / n, 3),
            "share": {k: round(v / total, 4) for k, v in parts.items()},
            "copies_by_shape": copies_by_shape(prof, n),
        }
    return out


def copies_by_shape(prof, n: int, top: int = 4) -> list[dict]:
    """The most expensive ``aten::copy_`` calls by tensor shape: calls and milliseconds per step."""
    rows = [e for e in prof.key_averages(group_by_input_shape=True) if e.key == "aten::copy_"]
    rows.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [
        {
            "shape": e.input_shapes[0] if e.input_shapes else [],
            "calls_per_step": e.count / n,
            "ms_per_step": round(e.self_cpu_time_total / 1e3 / n, 3),
        }
        for e in rows[:top]
    ]


def fit_parts(train, test, init, bf16: bool) -> dict[str, float]:
    """CPU seconds of one epoch: bare steps, then fit bare, with validation, with a run directory."""
    out = {}
    step = genlab_step(train, init, bf16)
    c0 = time.process_time()
    for _ in range(len(train) // BATCH):
        step()
    out["steps"] = time.process_time() - c0
    for name, with_test, with_dir in (
        ("fit", False, False),
        ("fit_validation", True, False),
        ("fit_validation_run_dir", True, True),
    ):
        model = genlab_vae(16)
        model.load_state_dict(init)
        run_dir = tempfile.mkdtemp(prefix="bench_vae_parts_") if with_dir else None
        cfg = TrainConfig(epochs=1, batch_size=BATCH, lr=LR, amp_cpu=bf16)
        c0 = time.process_time()
        fit(model, train, cfg, run_dir=run_dir, test_data=test if with_test else None, quiet=True)
        out[name] = time.process_time() - c0
        if run_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
    return {k: round(v, 3) for k, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=100, help="steps per side and round (timing)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile-steps", type=int, default=50)
    ap.add_argument("--fit", action="store_true", help="also one epoch of genlab's fit in parts (float32 and bf16)")
    ap.add_argument("--out", default=str(HERE / "results" / "vae_step_profile.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    importlib.import_module("torch._dynamo")  # imported by the first optimiser built: not inside a timing
    train, test = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
    init = initial_weights(16)
    load0 = os.getloadavg()
    steps = {
        "pythae": pythae_step(train, init),
        "genlab": genlab_step(train, init, bf16=False),
        "genlab-bf16": genlab_step(train, init, bf16=True),
    }
    for step in steps.values():  # warm-up
        for _ in range(10):
            step()
    result: dict = {
        "settings": vars(args),
        "environment": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S"),
            "loadavg_before": load0,
        },
    }
    result["timing"] = timing(steps, args.steps, args.rounds)
    result["profile"] = profiled(steps, args.profile_steps)
    for side, p in result["profile"].items():  # the shares applied to the unprofiled step
        cpu = result["timing"][side]["cpu_ms_per_step"]
        p["ms_per_step"] = {k: round(v * cpu, 3) for k, v in p["share"].items()}
    py = result["timing"]["pythae"]["cpu_ms_per_step"]
    result["ratios"] = {
        side: {
            "measured": round(py / result["timing"][side]["cpu_ms_per_step"], 3),
            "ceiling_gemm_only": round(py / result["profile"][side]["ms_per_step"]["gemm"], 3),
        }
        for side in SIDES[1:]
    }
    if args.fit:
        result["fit_epoch_cpu_s"] = {
            "genlab": fit_parts(train, test, init, bf16=False),
            "genlab-bf16": fit_parts(train, test, init, bf16=True),
        }
    result["environment"]["loadavg_after"] = os.getloadavg()
    print(json.dumps({k: result[k] for k in result if k not in ("settings", "environment")}, indent=1))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
