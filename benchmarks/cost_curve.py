"""The cost curve: seconds per epoch and peak memory against the amount of data, for the VAE and the DCGAN.

    python benchmarks/cost_curve.py --fractions 0.125,0.25,0.5,1 --threads 1
    python benchmarks/cost_curve.py --families vae-dsprites --fractions 0.125,0.25,0.5,1 --threads 1

Each point is one epoch of ``genlab.training.fit`` (genlab's default conv VAE, batch 128; genlab's
default DCGAN, batch 64) on the first fraction f of Fashion-MNIST's 60k training images, in a fresh
child process, which reports its own peak resident memory (``ru_maxrss``). ``fit`` holds the
training images as they are stored (uint8, 1 byte a pixel) on the training device (on a CPU, the data
set's own tensor: no copy) and gathers and converts one batch at a time to float32, so memory should
grow with the data by the uint8 images alone (7.8 MB per 10k Fashion-MNIST images) and the rest
(networks, Adam, activations of one batch) stay flat; time per epoch should be linear in f. The fit
line (least squares) of each is reported with its R^2. ``peak_rss_mb`` is the peak from the start of
``fit`` on (Linux's peak resident memory, reset through ``/proc/self/clear_refs`` just before), the
data the fit holds included; ``load_peak_rss_mb`` the peak before it, while the whole set that the
fraction is cut from was loaded.

``vae-dsprites`` is the dSprites recipes' network (fully connected 1200-1200, latent 10, batch 64) on
the first fraction of the 100k-image dSprites training split (64x64 binary images, uint8: 4 KB an
image, 410 MB for the split; rendered from 720 sprite patches and cached bit-packed on disk, 377 MB
for the whole 737,280-image grid, which the metrics read). A set over
``training.batches.HELD_ELEMENTS`` pixel values (400M; the whole split is 410M) is not moved to the
training device whole but batch by batch, which on a GPU keeps 410 MB of device memory free; on a CPU
both paths read the same tensor.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# name: (data set, model family, model config, batch size)
FAMILIES = {
    "vae": ("fashion-mnist", "vae", {}, 128),
    "dcgan": ("fashion-mnist", "gan", {}, 64),
    "vae-dsprites": ("dsprites", "vae", {"arch": "mlp", "hidden": (1200, 1200), "latent_dim": 10}, 64),
}


def child(family: str, fraction: float, threads: int) -> None:
    import dataclasses

    import torch

    from genlab.data import load_dataset
    from genlab.data.base import ImageData
    from genlab.models import build_model
    from genlab.training import TrainConfig, fit

    torch.set_num_threads(threads)
    dataset, model_family, config, batch = FAMILIES[family]
    full = load_dataset(dataset, "train")
    n = int(len(full) * fraction)
    first = {k: getattr(full, k)[:n].clone() for k in ("images", "labels", "factors") if getattr(full, k) is not None}
    data: ImageData = dataclasses.replace(full, **first)
    del full, first
    model = build_model(model_family, image_shape=tuple(data.images.shape[1:]), **config)
    loading = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak so far (the whole set loaded), MB
    Path("/proc/self/clear_refs").write_text("5")  # Linux: reset the peak, which then is the fit's own
    t0 = time.perf_counter()
    fit(model, data, TrainConfig(epochs=1, batch_size=batch, device="cpu", log_every=10**9), quiet=True)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak resident memory since the reset, MB
    row = {
        "images": n,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak, 1),
        "load_peak_rss_mb": round(loading, 1),
    }
    print(json.dumps(row))


def point(family: str, fraction: float, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", family, str(fraction), str(threads)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    return {"family": family, "fraction": fraction, **json.loads(out.strip().splitlines()[-1])}


def fit_line(xs, ys) -> dict:
    a, b = np.polyfit(xs, ys, 1)
    pred = np.polyval([a, b], xs)
    r2 = 1 - ((np.array(ys) - pred) ** 2).sum() / max(((np.array(ys) - np.mean(ys)) ** 2).sum(), 1e-12)
    return {"slope_per_10k_images": round(a * 10_000, 3), "intercept": round(b, 3), "r2": round(float(r2), 4)}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fractions", default="0.125,0.25,0.5,1")
    p.add_argument("--families", default="vae,dcgan")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/cost_curve.json")
    args = p.parse_args()
    fractions = [float(f) for f in args.fractions.split(",")]
    rows = []
    for family in args.families.split(","):
        for f in fractions:
            rows.append(point(family, f, args.threads))
            print(json.dumps(rows[-1]), flush=True)
    fits = {}
    for family in args.families.split(","):
        mine = [r for r in rows if r["family"] == family]
        fits[family] = {
            "seconds": fit_line([r["images"] for r in mine], [r["seconds"] for r in mine]),
            "peak_rss_mb": fit_line([r["images"] for r in mine], [r["peak_rss_mb"] for r in mine]),
        }
    result = {
        "command": "python benchmarks/cost_curve.py " + " ".join(sys.argv[1:]),
        "rows": rows,
        "fits": fits,
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
