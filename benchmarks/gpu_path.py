"""The GPU path: training throughput with bf16 autocast and torch.compile against plain float32, on CUDA.

    python benchmarks/gpu_path.py --out benchmarks/results/gpu_path.json

For the VAE (pythae's default MLP, 784-512-16, batch 128) and the DCGAN (genlab's default, batch 64)
on 28x28 single-channel images, each of four settings trains a fresh model (seed 0) through
``genlab.training.fit`` (no run directory): float32 eager, bf16 autocast eager, float32 compiled,
bf16 compiled. A warm-up fit (compilation included) comes first; then ``--steps`` steps are timed.
The images are Fashion-MNIST's when the dataset is installed, else uniform noise of the same shape
(the step's cost does not depend on the pixels). Each setting's last logged losses are kept, to see
that bf16 trains as float32 does. On a machine without CUDA it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import genlab
from genlab.data.base import ImageData
from genlab.models import build_model
from genlab.training import TrainConfig, fit

MODELS = {
    "vae": ({"arch": "mlp", "hidden": (512,), "latent_dim": 16, "likelihood": "gaussian"}, 128),
    "gan": ({}, 64),
}


def images() -> ImageData:
    try:
        from genlab.data import load_dataset

        return load_dataset("fashion-mnist", "train")
    except Exception:  # noqa: BLE001 - no dataset on this machine: noise of the same shape
        g = torch.Generator().manual_seed(0)
        return ImageData("noise", torch.randint(0, 256, (60_000, 1, 28, 28), generator=g, dtype=torch.uint8))


def timed_fit(family: str, data: ImageData, amp: bool, compile: bool, steps: int, warmup: int) -> dict:
    config, batch = MODELS[family]
    torch.manual_seed(0)
    model = build_model(family, image_shape=(1, 28, 28), **config)
    train = TrainConfig(steps=warmup, batch_size=batch, device="cuda", amp=amp, compile=compile, log_every=10**9)
    fit(model, data, train, quiet=True)  # warm-up: kernels chosen, graphs compiled
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    train = TrainConfig(steps=steps, batch_size=batch, device="cuda", amp=amp, compile=compile, log_every=steps)
    fit(model, data, train, quiet=True)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    return {
        "family": family,
        "amp_bf16": amp,
        "compile": compile,
        "steps": steps,
        "batch": batch,
        "images_per_s": round(steps * batch / seconds, 1),
        "seconds": round(seconds, 2),
        "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--out", default="benchmarks/results/gpu_path.json")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device here: nothing to measure")
        return 0
    data = images()
    rows = []
    for family in MODELS:
        for compile in (False, True):
            for amp in (False, True):
                rows.append(timed_fit(family, data, amp, compile, args.steps, args.warmup))
                print(json.dumps(rows[-1]), flush=True)
    for family in MODELS:
        base = next(r for r in rows if r["family"] == family and not r["amp_bf16"] and not r["compile"])
        for r in rows:
            if r["family"] == family:
                r["speedup_vs_fp32_eager"] = round(r["images_per_s"] / base["images_per_s"], 2)
    result = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "genlab": genlab.__version__,
        "data": data.name,
        "command": f"python benchmarks/gpu_path.py --steps {args.steps}",
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
