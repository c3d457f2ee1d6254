"""Speed-ups for the VAE step on a CPU, each measured against the plain step in one interleaved run.

    python benchmarks/vae_speedups.py --rounds 5 --steps 150 --threads 2

The model is pythae's default VAE MLP (784-512-16, Gaussian likelihood) on Fashion-MNIST, batch 128,
Adam 1e-3, as in ``vae_vs_pythae.py``. Variants of one training step:

- ``fp32``: genlab's step as it is (the reference);
- ``bf16``: the forward pass under CPU bf16 autocast (AVX-512 BF16 / AMX kernels where the CPU has
  them), float32 out, backward accumulation and Adam in float32 (``genlab.training.views.Autocast``);
- ``compile``: the model's objective compiled with ``torch.compile`` (inductor, C++ on CPU);
- ``bf16+compile``: both.

Timing: after a warm-up (compilation included), rounds of ``--steps`` steps, the variants taking
turns in every round (fp32, bf16, compile, ... then again), so that a machine shared with other jobs
slows them alike; the ratio of each round's time to the fp32 time of the same round, its median over
the rounds, and the process CPU time are reported. Quality: each variant is then trained from the
same weights for ``--epochs`` epochs and the test loss (the objective on the 10k test images, noise
seeded, in float32) compared with fp32's. A variant is worth keeping only where it is faster and its
test loss holds (within ``--loss-tolerance``, relative).

Also measured: the per-epoch validation pass (10k test images) at its chunk of 1000 against one pass
of 10k under inference_mode, and the log line's host synchronisation.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import genlab
from genlab.data import load_dataset
from genlab.models import build_model
from genlab.training import TrainConfig, fit, views
from genlab.training.batches import Batches
from genlab.training.loop import validate

VARIANTS = ("fp32", "bf16", "compile", "bf16+compile")


def vae():
    torch.manual_seed(0)
    return build_model(
        "vae", image_shape=(1, 28, 28), arch="mlp", hidden=(512,), latent_dim=16, likelihood="gaussian", sigma=1.0
    )


def prepared(variant: str, weights: dict):
    model = vae()
    model.load_state_dict(weights)
    if "compile" in variant:
        model.compile()
    if "bf16" in variant:
        model.replica = views.Autocast(model, "cpu")  # the step runs the objective through it
    return model


def run_steps(model, opt, batches, n: int) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    for step in range(n):
        model.train_step(batches, {"model": opt}, step)
    return time.perf_counter() - t0, time.process_time() - c0


def timing(train, args, weights) -> dict:
    models = {v: prepared(v, weights) for v in VARIANTS}
    opts = {v: m.configure_optimizers(TrainConfig())["model"] for v, m in models.items()}
    batches = {v: Batches(train, 128, seed=0) for v in VARIANTS}
    for v in VARIANTS:  # warm-up, compilation included
        run_steps(models[v], opts[v], batches[v], 20)
    rounds: dict[str, list] = {v: [] for v in VARIANTS}
    for _ in range(args.rounds):
        for v in VARIANTS:
            rounds[v].append(run_steps(models[v], opts[v], batches[v], args.steps))
    out = {}
    for v in VARIANTS:
        ratios = [ref[0] / r[0] for r, ref in zip(rounds[v], rounds["fp32"])]
        out[v] = {
            "images_per_s": [round(args.steps * 128 / r[0]) for r in rounds[v]],
            "speedup_median": round(statistics.median(ratios), 3),
            "speedup_per_cpu_s": round(sum(r[1] for r in rounds["fp32"]) / sum(r[1] for r in rounds[v]), 3),
        }
    return out


def quality(train, test, args, weights) -> dict:
    out = {}
    for v in VARIANTS:
        model = prepared(v, weights)
        torch.manual_seed(0)
        fit(model, train, TrainConfig(epochs=args.epochs, batch_size=128, lr=1e-3, device="cpu"), quiet=True)
        model.replica = None
        out[v] = round(validate(model, test, 1000, torch.device("cpu"))["loss"], 4)
        print(f"{v}: test loss {out[v]} after {args.epochs} epoch(s)", flush=True)
    return out


def validation(test, weights, repeats: int = 5) -> dict:
    model = prepared("fp32", weights)
    times: dict[str, list] = {"validate (chunks of 1000)": [], "one 10k pass, inference_mode": []}
    x = test.images[:10_000].float() / 255
    for _ in range(repeats):
        t0 = time.perf_counter()
        validate(model, test, 1000, torch.device("cpu"))
        times["validate (chunks of 1000)"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with torch.inference_mode(), torch.random.fork_rng():
            torch.manual_seed(0)
            model.loss(x)
        times["one 10k pass, inference_mode"].append(time.perf_counter() - t0)
    return {k: round(statistics.median(v), 4) for k, v in times.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--loss-tolerance", type=float, default=0.005)
    p.add_argument("--out", default="benchmarks/results/vae_speedups.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    train, test = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
    weights = {k: v.clone() for k, v in vae().state_dict().items()}
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    result = {
        "settings": vars(args),
        "torch": torch.__version__,
        "genlab": genlab.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": torch.get_num_threads(),
        "bf16_kernels": torch.backends.mkldnn.is_available(),
        "load_average_at_start": load,
    }
    result["timing"] = timing(train, args, weights)
    print(json.dumps(result["timing"], indent=1), flush=True)
    result["validation_s"] = validation(test, weights)
    print(json.dumps(result["validation_s"]), flush=True)
    result["test_loss"] = quality(train, test, args, weights)
    ref = result["test_loss"]["fp32"]
    result["keep"] = {
        v: result["timing"][v]["speedup_median"] > 1.05
        and abs(result["test_loss"][v] - ref) <= args.loss_tolerance * abs(ref)
        for v in VARIANTS[1:]
    }
    result["load_average_at_end"] = Path("/proc/loadavg").read_text().split()[:3] if load else []
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
