"""genlab's GAN training step alone, for one of the peers' networks, in float32, bf16 autocast and channels-last.

The step (``model.train_step``: D's update, then G's on D's fake batch) on one random batch of 64,
after ``--warmup`` steps, timed over ``--steps``, each variant in turn in a fresh process, 1 thread:

    fp32     genlab's default
    bf16     the step under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (what ``amp_cpu=True``
             does around each forward pass; fast on CPUs with AVX-512 BF16 or AMX)
    cl       the networks and the batch in channels-last memory format
    bf16cl   both

The networks are those of ``dcgan_vs_peers.py``: ``genlab-pg`` (PyTorch-GAN's DCGAN, 32x32),
``genlab-ex`` (Radford et al.'s, 64x64), ``genlab-default`` (genlab's recipe, 28x28).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/gan_step_variants.py --network genlab-pg --steps 8
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def time_step(network: str, variant: str, steps: int, warmup: int) -> float:
    sys.path.insert(0, str(HERE))
    from dcgan_vs_peers import genlab_config

    from genlab.models import build_model
    from genlab.training.batches import Batch
    from genlab.training.config import TrainConfig

    torch.set_num_threads(1)
    cfg = genlab_config(network)
    torch.manual_seed(0)
    model = build_model("gan", **cfg)
    opts = model.configure_optimizers(TrainConfig())
    cl = "cl" in variant
    if cl:
        model.to(memory_format=torch.channels_last)
    x = torch.rand(64, *cfg["image_shape"])
    x = x.contiguous(memory_format=torch.channels_last) if cl else x

    class OneBatch:
        def next(self):
            return Batch(x)

    amp = torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant.startswith("bf16"))
    for i in range(warmup):
        with amp:
            model.train_step(OneBatch(), opts, i)
    t0 = time.perf_counter()
    for i in range(steps):
        with amp:
            model.train_step(OneBatch(), opts, i)
    return (time.perf_counter() - t0) / steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--network", default="genlab-pg", choices=["genlab-pg", "genlab-ex", "genlab-default"])
    ap.add_argument("--variants", default="fp32,bf16,cl,bf16cl")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(time_step(args.network, args.child, args.steps, args.warmup))
        return
    base = None
    for v in args.variants.split(","):
        cmd = [sys.executable, __file__, "--network", args.network, "--child", v]
        cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
        s = float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()[-1])
        base = base or s
        print(f"{args.network} {v}: {s * 1000:.0f} ms/step, {64 / s:.1f} images/s, {base / s:.2f}x fp32", flush=True)


if __name__ == "__main__":
    main()
