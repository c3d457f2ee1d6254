"""Where a training step's time goes, per family, and the share of this CPU's matmul/conv throughput it reaches.

For each family (default network, ``fit`` with a run directory, as a user trains), N steps after a
warm-up are split by timers into:

    data       ``Batches.next`` (gather of the batch from the in-memory set, uint8 -> float)
    forward    the rest of ``train_step``: forward passes, losses, EMA / history-pool updates
    backward   ``Tensor.backward``
    optimiser  ``Optimizer.zero_grad`` + ``Optimizer.step`` (Adam)
    loop       between two steps: loss tracking, NaN checks, log lines, metrics.jsonl, TensorBoard

Then one more step runs under ``torch.utils.flop_counter.FlopCounterMode`` (forward and backward
FLOPs, a multiply-add = 2) and under ``torch.profiler`` (the five most expensive operators). The
achieved rate, step FLOPs / step time, is compared with this CPU's own rates measured in the same
process just before: a 1024^3 float32 matmul and a float32 3x3 conv (32 x 128 x 16 x 16 -> 128),
both at the same thread count. On a machine shared with other jobs the rates move with the load;
each family's peak is measured next to its profile, so the share is taken under the same load.

Every part is timed twice: wall-clock (``time.perf_counter``) and the process's CPU time (user + system
of all its threads, ``time.process_time``). On a loaded machine the wall-clock figures include the
time the process waited for a core, so its shares of peak are lower bounds; the CPU-time figures
(``parts_cpu_s``, ``achieved_gflops_per_cpu_s``, and the peaks in GFLOP per CPU-second) leave the
waiting out, and at one thread they are what the kernels reach while they run.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/step_profile.py --threads 1 --steps 10

Results: ``benchmarks/results/step_profile.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

from genlab.data import load_dataset
from genlab.data.base import ImageData
from genlab.models import build_model
from genlab.training import TrainConfig, fit
from genlab.training.batches import Batches

HERE = Path(__file__).resolve().parent

# family -> (data set, image size, batch, extra config): each family's default network
FAMILIES = {
    "ae": ("fashion-mnist", None, 128, {}),
    "vae": ("fashion-mnist", None, 128, {}),
    "vqvae": ("fashion-mnist", None, 128, {}),
    "gan": ("fashion-mnist", None, 64, {}),
    "cgan": ("fashion-mnist", None, 64, {}),
    "pix2pix": ("maps", None, 1, {}),
    "cyclegan": ("fashion-stripes", 64, 1, {}),
}


def measured_peaks(reps: int = 5) -> dict:
    """This CPU's float32 matmul and 3x3 conv GFLOP/s (best of ``reps``) at the current thread count."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    x, w = torch.randn(32, 128, 16, 16), torch.randn(128, 128, 3, 3)

    def best(fn, flops):
        fn()
        ts, cs = [], []
        for _ in range(reps):
            t, c = clock()
            fn()
            t1, c1 = clock()
            ts.append(t1 - t)
            cs.append(c1 - c)
        return flops / min(ts) / 1e9, flops / min(cs) / 1e9

    mm, mm_cpu = best(lambda: a @ b, 2 * 1024**3)
    conv, conv_cpu = best(lambda: torch.nn.functional.conv2d(x, w, padding=1), 2 * 32 * 128 * 16 * 16 * 128 * 9)
    return {
        "matmul_gflops": mm,
        "conv3x3_gflops": conv,
        "matmul_gflops_per_cpu_s": mm_cpu,
        "conv3x3_gflops_per_cpu_s": conv_cpu,
    }


def clock() -> tuple[float, float]:
    """(wall-clock, process CPU time) in seconds."""
    return time.perf_counter(), time.process_time()


class Timers:
    """Wall-clock and CPU seconds by part, accumulated while ``on``."""

    def __init__(self):
        self.t = {"data": 0.0, "backward": 0.0, "optimiser": 0.0}
        self.cpu = dict.fromkeys(self.t, 0.0)
        self.on = False

    def wrap(self, owner, name: str, part: str):
        orig = getattr(owner, name)
        timers = self

        def timed(*a, **kw):
            if not timers.on:
                return orig(*a, **kw)
            t0, c0 = clock()
            try:
                return orig(*a, **kw)
            finally:
                t1, c1 = clock()
                timers.t[part] += t1 - t0
                timers.cpu[part] += c1 - c0

        setattr(owner, name, timed)
        return lambda: setattr(owner, name, orig)


def data_for(family: str):
    name, size, batch, extra = FAMILIES[family]
    data = load_dataset(name, "train", image_size=size)
    if family in ("ae", "vae", "vqvae", "gan"):
        data = ImageData(data.name, data.images)  # unconditional: no labels needed
    return data, batch, extra


def profile_family(family: str, steps: int, warmup: int) -> dict:
    data, batch, extra = data_for(family)
    kw = dict(image_shape=tuple(data.shape))
    if data.pair is not None:
        kw["pair_channels"] = data.pair.shape[1]
    if family == "cgan":
        kw["num_classes"] = data.num_classes
    torch.manual_seed(0)
    model = build_model(family, **kw, **extra)
    timers = Timers()
    undo = [
        timers.wrap(Batches, "next", "data"),
        timers.wrap(torch.Tensor, "backward", "backward"),
        timers.wrap(torch.optim.Adam, "step", "optimiser"),
        timers.wrap(torch.optim.Optimizer, "zero_grad", "optimiser"),
    ]
    spans: list[tuple[float, float]] = []  # wall-clock (start, end) of each step
    cpu_spans: list[tuple[float, float]] = []  # the same in process CPU time
    step_fn = model.train_step

    def timed_step(*a, **k):
        timers.on = len(spans) >= warmup
        t0, c0 = clock()
        out = step_fn(*a, **k)
        t1, c1 = clock()
        spans.append((t0, t1))
        cpu_spans.append((c0, c1))
        timers.on = False
        return out

    model.train_step = timed_step
    run_dir = Path(tempfile.mkdtemp(prefix="genlab_profile_"))
    peaks = measured_peaks()
    try:
        fit(model, data, TrainConfig(batch_size=batch, steps=warmup + steps, seed=0, log_every=1), run_dir, quiet=True)
    finally:
        for u in undo:
            u()
        del model.train_step
    step_s, parts = split_steps(spans[warmup:], timers.t)
    step_cpu_s, parts_cpu = split_steps(cpu_spans[warmup:], timers.cpu)

    flops, top = one_step_counts(model, data, batch)
    total = step_s + parts["loop"]
    total_cpu = step_cpu_s + parts_cpu["loop"]
    shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "family": family,
        "batch": batch,
        "image_shape": list(data.shape),
        "params": sum(p.numel() for p in model.parameters()),
        "seconds_per_step": total,
        "parts_s": parts,
        "parts_share": {k: v / total for k, v in parts.items()},
        "cpu_seconds_per_step": total_cpu,
        "parts_cpu_s": parts_cpu,
        "parts_cpu_share": {k: v / total_cpu for k, v in parts_cpu.items()},
        "step_gflop": flops / 1e9,
        "achieved_gflops": flops / step_s / 1e9,
        "achieved_gflops_per_cpu_s": flops / step_cpu_s / 1e9,
        "peaks_gflops": peaks,
        "share_of_matmul_peak": flops / step_s / 1e9 / peaks["matmul_gflops"],
        "share_of_conv_peak": flops / step_s / 1e9 / peaks["conv3x3_gflops"],
        "cpu_share_of_matmul_peak": flops / step_cpu_s / 1e9 / peaks["matmul_gflops_per_cpu_s"],
        "cpu_share_of_conv_peak": flops / step_cpu_s / 1e9 / peaks["conv3x3_gflops_per_cpu_s"],
        "top_ops": top,
    }


def split_steps(spans: list[tuple[float, float]], timed_parts: dict) -> tuple[float, dict]:
    """Mean step time and its parts, from the steps' (start, end) on one clock and the timed parts' totals."""
    n = len(spans)
    step = sum(b - a for a, b in spans) / n
    parts = {k: v / n for k, v in timed_parts.items()}
    parts["forward"] = step - sum(parts.values())  # the rest of train_step
    # the loop's own work between two steps (log_every=1: a log line every step, the worst case)
    parts["loop"] = sum(spans[i + 1][0] - spans[i][1] for i in range(n - 1)) / max(1, n - 1)
    return step, parts


def one_step_counts(model, data, batch) -> tuple[int, list]:
    """FLOPs of one training step (forward + backward + optimiser) and its five most expensive operators."""
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    opts = model.configure_optimizers(TrainConfig(batch_size=batch))
    batches = Batches(data, batch, seed=1)
    with FlopCounterMode(display=False) as fc:
        model.train_step(batches, opts, 1)
    with profile(activities=[ProfilerActivity.CPU]) as p:
        model.train_step(batches, opts, 2)
    ops = sorted(p.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:5]
    total = sum(e.self_cpu_time_total for e in p.key_averages())
    top = [{"op": e.key, "self_ms": e.self_cpu_time_total / 1e3, "share": e.self_cpu_time_total / total} for e in ops]
    return fc.get_total_flops(), top


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "results" / "step_profile.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {"families": {}}
    for family in args.families.split(","):
        load0 = os.getloadavg()
        r = profile_family(family, args.steps, args.warmup)
        r["loadavg"] = [load0[0], os.getloadavg()[0]]
        result["families"][family] = r
        p = r["parts_share"]
        print(
            f"{family}: {r['seconds_per_step'] * 1000:.1f} ms/step, {r['step_gflop']:.2f} GFLOP, "
            f"{r['achieved_gflops']:.1f} GFLOP/s = {100 * r['share_of_conv_peak']:.0f}% of conv, "
            f"{100 * r['share_of_matmul_peak']:.0f}% of matmul; "
            + ", ".join(f"{k} {100 * v:.0f}%" for k, v in p.items()),
            flush=True,
        )
        print(
            f"{family} (CPU time): {r['cpu_seconds_per_step'] * 1000:.1f} CPU-ms/step, "
            f"{r['achieved_gflops_per_cpu_s']:.1f} GFLOP per CPU-s = {100 * r['cpu_share_of_conv_peak']:.0f}% of conv, "
            f"{100 * r['cpu_share_of_matmul_peak']:.0f}% of matmul; "
            + ", ".join(f"{k} {100 * v:.0f}%" for k, v in r["parts_cpu_share"].items()),
            flush=True,
        )
        result["environment"] = {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": args.threads,
            "cpu_count": os.cpu_count(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
