"""Speed-ups for the VAE step on a CPU, each measured against the plain step in one interleaved run.

    python benchmarks/vae_speedups.py --rounds 5 --steps 150 --threads 2
    python benchmarks/vae_speedups.py --variants fp32,bf16,bf16-weights --rounds 3 --steps 100 --threads 1

The model is pythae's default VAE MLP (784-512-16, Gaussian likelihood) on Fashion-MNIST, batch 128,
Adam 1e-3, as in ``vae_vs_pythae.py``. Variants of one training step (``--variants``, default all):

- ``fp32``: genlab's step as it is (``model.train_step``, fused Adam; the reference);
- ``fp32-foreach``: the same with torch's multi-tensor ("foreach") Adam in place of the fused kernel;
- ``bf16``: the forward pass under CPU bf16 autocast (AVX-512 BF16 / AMX kernels where the CPU has
  them), float32 out, backward accumulation and Adam in float32 (``genlab.training.views.Autocast``);
- ``bf16-weights``: bf16 copies of the weights kept between steps (refreshed from the float32 weights
  after each Adam step, in place) and used by the forward and backward passes, their gradients copied
  into the float32 weights' gradient buffers; autocast re-casts every weight each step instead;
- ``compile``: the model's objective compiled with ``torch.compile`` (inductor, C++ on CPU), the
  noise drawn from torch's generator as in eager mode (``fallback_random``, as ``fit`` sets it);
- ``bf16+compile``: both;
- ``bf16+compile-step``: the objective and the optimiser's step both compiled;
- ``bf16+compile-whole``: the whole step (forward, backward under compiled autograd, Adam) as one
  compiled function;
- ``bf16+autotune``: the objective compiled with ``mode="max-autotune-no-cudagraphs"`` (inductor may
  pick its own GEMM templates).

Timing: after a warm-up (compilation included: its CPU seconds are reported), rounds of ``--steps``
steps, the variants taking turns in every round, so that a machine shared with other jobs slows them
alike; the ratio of each round's time to the fp32 time of the same round, its median over the rounds,
and the ratio of the summed process CPU time are reported. Quality: each variant then trains from the
same weights with its own step for ``--epochs`` epochs (same seed, same data order) and the test loss
(the objective on the 10k test images, noise seeded, in float32) is compared with fp32's. A variant is
worth keeping only where it is faster and its test loss holds (within ``--loss-tolerance``, relative).

Also measured: the per-epoch validation pass (10k test images) at its chunk of 1000 against one pass
of 10k under inference_mode.
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
from genlab.models.base import adam
from genlab.training import views
from genlab.training.batches import Batches
from genlab.training.loop import validate

VARIANTS = (
    "fp32",
    "fp32-foreach",
    "bf16",
    "bf16-weights",
    "compile",
    "bf16+compile",
    "bf16+compile-step",
    "bf16+compile-whole",
    "bf16+autotune",
)


def vae():
    torch.manual_seed(0)
    return build_model(
        "vae", image_shape=(1, 28, 28), arch="mlp", hidden=(512,), latent_dim=16, likelihood="gaussian", sigma=1.0
    )


def prepared(variant: str, weights: dict, train, seed: int = 0):
    """(model, step): ``step()`` runs one training step of ``variant`` on the next batch."""
    from torch._inductor import config as inductor

    inductor.fallback_random = True  # compiled graphs draw the same noise as eager ones
    model = vae()
    model.load_state_dict(weights)
    model.train()
    batches = Batches(train, 128, seed=seed)
    if variant == "fp32-foreach":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    else:
        opt = adam(model.parameters(), lr=1e-3)
    bf16 = variant.startswith("bf16")
    objective = views.Autocast(model, "cpu") if bf16 else model
    if variant == "bf16-weights":
        return model, _bf16_weights_step(model, opt, batches)
    if "compile" in variant or "autotune" in variant:
        mode = "max-autotune-no-cudagraphs" if "autotune" in variant else None
        if variant == "bf16+compile-whole":
            return model, _whole_step(objective, opt, batches)
        model.compile(mode=mode)
    opt_step = torch.compile(opt.step) if variant == "bf16+compile-step" else opt.step
    count = [0]

    def step():
        out = objective(batches.next().x, count[0])
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt_step()
        count[0] += 1
        return out

    return model, step


def _bf16_weights_step(model, opt, batches):
    """Forward and backward on bf16 copies of the weights; Adam on the float32 weights; copies refreshed."""
    from torch.func import functional_call

    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    copies = [p.detach().to(torch.bfloat16).requires_grad_() for p in params]
    for p in params:
        p.grad = torch.zeros_like(p)
    count = [0]

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16):  # activations in bf16; the weights are already
            out = functional_call(model, dict(zip(names, copies)), (batches.next().x, count[0]))
        out = views._float32(out)
        for c in copies:
            c.grad = None
        out["loss"].backward()
        torch._foreach_copy_([p.grad for p in params], [c.grad for c in copies])
        opt.step()
        with torch.no_grad():
            torch._foreach_copy_(copies, params)
        count[0] += 1
        return out

    return step


def _whole_step(objective, opt, batches):
    """Forward, backward (compiled autograd) and Adam's step compiled as one function."""
    torch._dynamo.config.compiled_autograd = True

    def whole(x, step):
        out = objective(x, step)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        return {k: v.detach() for k, v in out.items()}

    compiled = torch.compile(whole)
    count = [0]

    def step():
        out = compiled(batches.next().x, count[0])
        count[0] += 1
        return out

    return step


def run_steps(step, n: int) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        step()
    return time.perf_counter() - t0, time.process_time() - c0


def timing(train, args, weights, variants) -> dict:
    steps, warmup_cpu = {}, {}
    for v in variants:  # warm-up, compilation included
        c0 = time.process_time()
        steps[v] = prepared(v, weights, train)[1]
        run_steps(steps[v], 20)
        warmup_cpu[v] = round(time.process_time() - c0, 2)
    rounds: dict[str, list] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for v in variants:
            rounds[v].append(run_steps(steps[v], args.steps))
    out = {}
    for v in variants:
        ratios = [ref[0] / r[0] for r, ref in zip(rounds[v], rounds["fp32"])]
        out[v] = {
            "images_per_s": [round(args.steps * 128 / r[0]) for r in rounds[v]],
            "cpu_ms_per_step": [round(1e3 * r[1] / args.steps, 3) for r in rounds[v]],
            "speedup_median": round(statistics.median(ratios), 3),
            "speedup_per_cpu_s": round(sum(r[1] for r in rounds["fp32"]) / sum(r[1] for r in rounds[v]), 3),
            "warmup_cpu_s": warmup_cpu[v],
        }
    return out


def quality(train, test, args, weights, variants) -> dict:
    out = {}
    for v in variants:
        model, step = prepared(v, weights, train)
        torch.manual_seed(0)
        for _ in range(args.epochs * (len(train) // 128)):
            step()
        out[v] = round(validate(model, test, 1000, torch.device("cpu"))["loss"], 4)
        print(f"{v}: test loss {out[v]} after {args.epochs} epoch(s)", flush=True)
    return out


def validation(test, weights, repeats: int = 5) -> dict:
    model = vae()
    model.load_state_dict(weights)
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
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, fp32 first: {', '.join(VARIANTS)}")
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
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if variants[0] != "fp32" or not set(variants) <= set(VARIANTS):
        p.error(f"--variants: fp32 first, then any of {', '.join(VARIANTS[1:])}")
    result["timing"] = timing(train, args, weights, variants)
    print(json.dumps(result["timing"], indent=1), flush=True)
    result["validation_s"] = validation(test, weights)
    print(json.dumps(result["validation_s"]), flush=True)
    result["test_loss"] = quality(train, test, args, weights, variants)
    ref = result["test_loss"]["fp32"]
    result["keep"] = {
        v: result["timing"][v]["speedup_median"] > 1.05
        and abs(result["test_loss"][v] - ref) <= args.loss_tolerance * abs(ref)
        for v in variants[1:]
    }
    result["load_average_at_end"] = Path("/proc/loadavg").read_text().split()[:3] if load else []
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
