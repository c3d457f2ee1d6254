"""Generation speed: images generated (or translated) per second by each family's default network, on this CPU.

    python benchmarks/generation_speed.py --threads 1 --batch 64 --seconds 5

Each generator is genlab's default network for its data (28x28 grey for the AE, VAE, VQ-VAE, GAN and
cGAN; 64x64 RGB maps for pix2pix and CycleGAN), built with seed 0: the cost of a forward pass does not
depend on the training, so untrained weights give the speed of trained ones. ``sample(n)`` (or
``translate``) is called on batches of ``--batch`` for at least ``--seconds`` after one warm-up call,
as ``genlab sample`` and the explorer call it (eval mode, no gradients).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import genlab
from genlab.models import build_model

GENERATORS = {"ae": {}, "vae": {}, "vqvae": {}, "gan": {}, "cgan": {"num_classes": 10}}
TRANSLATORS = {"pix2pix": {}, "cyclegan": {}}


def rate(call, batch: int, seconds: float) -> float:
    call()  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        call()
        n += batch
    return n / (time.perf_counter() - t0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--out", default="benchmarks/results/generation_speed.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = {}
    with torch.inference_mode():
        for family, extra in GENERATORS.items():
            torch.manual_seed(0)
            m = build_model(family, image_shape=(1, 28, 28), **extra).eval()
            rows[family] = round(rate(lambda m=m: m.sample(args.batch), args.batch, args.seconds), 1)
            print(family, rows[family], flush=True)
        x = torch.rand(args.batch, 3, 64, 64)
        for family, extra in TRANSLATORS.items():
            torch.manual_seed(0)
            m = build_model(family, image_shape=(3, 64, 64), **extra).eval()
            rows[family] = round(rate(lambda m=m: m.translate(x), args.batch, args.seconds), 1)
            print(family, rows[family], flush=True)
    result = {
        "torch": torch.__version__,
        "genlab": genlab.__version__,
        "threads": args.threads,
        "batch": args.batch,
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
        "command": f"python benchmarks/generation_speed.py --threads {args.threads} --batch {args.batch} "
        f"--seconds {args.seconds}",
        "images_per_s": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
