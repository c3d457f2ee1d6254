"""genlab's pix2pix and CycleGAN training step alone, at the PyTorch-GAN networks of ``translation_vs_peers.py``,
in float32, bf16 autocast and channels-last: CPU time per step.

The step (``model.train_step``, batch 1, random images) after ``--warmup`` steps, timed over ``--steps``
by the process's CPU time (user + system; load-robust on a shared machine), each variant in a fresh
process, 1 thread, the variants taking turns ``--rounds`` times:

    fp32     genlab's default
    bf16     the step under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (what ``amp_cpu=True``
             does around each forward pass)
    cl       the networks and the batch in channels-last memory format
    bf16cl   both
    separate (CycleGAN) every network pass on its own batch, as before genlab ran a network's passes on
             different images as one call (``cycle_update(..., batched=False)``; the default with
             instance norm is batched)

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/translation_step_variants.py --side genlab-cyc --steps 4
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def time_step(side: str, variant: str, steps: int, warmup: int, paper_layers: bool) -> float:
    sys.path.insert(0, str(HERE))
    from translation_vs_peers import genlab_config

    from genlab.data.base import ImageData
    from genlab.models import build_model
    from genlab.training.batches import Batches
    from genlab.training.config import TrainConfig

    torch.set_num_threads(1)
    if variant == "separate":
        from genlab.models import cyclegan

        batched_update = cyclegan.cycle_update
        cyclegan.cycle_update = lambda *a, **kw: batched_update(*a, **{**kw, "batched": False})
    family, cfg = genlab_config(side, paper_layers)
    torch.manual_seed(0)
    model = build_model(family, **cfg)
    opts = model.configure_optimizers(TrainConfig())
    if "cl" in variant:
        model.to(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (8, *cfg["image_shape"]), generator=g, dtype=torch.uint8)
    batches = Batches(ImageData("random", images, pair=images.flip(-1)), 1, seed=0)
    amp = torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant.startswith("bf16"))
    for i in range(warmup):
        with amp:
            model.train_step(batches, opts, i)
    t0 = time.process_time()
    for i in range(steps):
        with amp:
            model.train_step(batches, opts, i)
    return (time.process_time() - t0) / steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", default="genlab-cyc", choices=["genlab-p2p", "genlab-cyc"])
    ap.add_argument("--variants", default="fp32,cl,bf16,bf16cl")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--paper-layers", action="store_true", help="genlab's own layers, not the peer's")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(time_step(args.side, args.child, args.steps, args.warmup, args.paper_layers))
        return
    times: dict[str, list[float]] = {}
    for rnd in range(args.rounds):
        for v in args.variants.split(","):
            cmd = [sys.executable, __file__, "--side", args.side, "--child", v]
            cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
            cmd += ["--paper-layers"] if args.paper_layers else []
            s = float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()[-1])
            times.setdefault(v, []).append(s)
            print(f"round {rnd} {args.side} {v}: {s * 1000:.0f} CPU-ms/step", flush=True)
    base = statistics.median(next(iter(times.values())))
    for v, ts in times.items():
        m = statistics.median(ts)
        print(f"{args.side} {v}: median {m * 1000:.0f} CPU-ms/step, {base / m:.2f}x {next(iter(times))}")


if __name__ == "__main__":
    main()
