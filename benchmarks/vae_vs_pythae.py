"""genlab's VAE against pythae's VAE on Fashion-MNIST: training throughput and test loss, side by side.

Run it from the repository root with a Python that has both libraries (pythae is installed in its own
virtual environment beside the repository, never into it):

    python3 -m venv ../pythae-venv
    ../pythae-venv/bin/pip install torch==2.13.0 pythae
    ../pythae-venv/bin/pip install -e .
    ../pythae-venv/bin/python benchmarks/vae_vs_pythae.py --epochs 10 --latent-dim 16 --threads 2 --repeats 2

What is compared (one process, same machine, same data, same settings):
- The network is pythae's default VAE MLP for both: encoder 784-512-ReLU-(mu, logvar) and decoder
  latent-512-ReLU-784-Sigmoid (genlab: ``arch="mlp", hidden=(512,)``, a 2*latent head split into
  mu and logvar, sigmoid applied in the likelihood). Parameter counts are asserted equal, and both
  start from the same initial weights (genlab's, seeded with 0, copied into pythae's model).
- The loss is the same quantity: 0.5 * sum of squared errors + KL(q(z|x) || N(0, I)) per image,
  averaged over the batch (pythae ``reconstruction_loss="mse"``; genlab ``likelihood="gaussian",
  sigma=1`` without the constant). Checked here on one batch with the same noise: equal to 1e-4.
- Training: Adam, lr 1e-3, batch 128, the same number of epochs, training seed 0 (``--seeds``: the data
  order and the noise of each library; the initial weights stay the same), CPU, ``--threads`` threads.
  Each library's whole training call is timed, its per-epoch evaluation pass over the 10k test
  images and its writes included:
    pythae  ``TrainingPipeline(...)(train_data=X, eval_data=X_test)`` (float32 arrays in [0, 1]);
            it evaluates every epoch (eval batch 1000), keeps the best model, saves it at the end.
    genlab  ``fit(model, train, TrainConfig(...), run_dir, test_data=test, quiet=True)``; with a
            run directory (the realistic use: checkpoint + sample grid + TensorBoard/metrics every
            epoch, validation on the 10k test images every epoch) and, as a second figure, with
            ``run_dir=None`` (validation only).
  ``torch._dynamo``, which every torch optimiser imports when it is first built, is imported before
  any timed call (otherwise the first library timed pays about 1.1 CPU-s for both).
  Throughput = images trained on / wall time of the whole call (also per CPU-second of the process,
  a figure less sensitive to other load on the machine). pythae's DataLoader keeps the last
  partial batch (60,000 images an epoch), genlab drops it (468 * 128 = 59,904).
- Test loss: both trained networks evaluated by the same function, genlab's
  ``training.loop.validate`` (mean over the 10k test images, noise seeded with 0); pythae's network
  is first copied into a genlab model. pythae's own figures are reported too: its last-epoch eval
  loss from the pipeline, and its own forward pass over the test set with the same noise seed.

Results go to benchmarks/results/vae_vs_pythae.json (``--out`` to change).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pythae
import torch
from pythae.models import VAE as PythaeVAE
from pythae.models import VAEConfig as PythaeVAEConfig
from pythae.pipelines import TrainingPipeline
from pythae.trainers import BaseTrainerConfig
from pythae.trainers.training_callbacks import TrainingCallback

import genlab
from genlab.data import load_dataset
from genlab.models import build_model
from genlab.training import TrainConfig, fit
from genlab.training.loop import validate

REPO = Path(__file__).resolve().parents[1]
BATCH, LR, SEED, EVAL_BATCH = 128, 1e-3, 0, 1000
GENLAB_RUNS = ("genlab", "genlab-norundir", "genlab-bf16", "genlab-bf16-compile")


# ---- the two models, one set of weights -------------------------------------------------------


def genlab_vae(latent_dim: int):
    return build_model(
        "vae",
        image_shape=(1, 28, 28),
        arch="mlp",
        hidden=(512,),
        latent_dim=latent_dim,
        likelihood="gaussian",
        sigma=1.0,
    )


def pythae_vae(latent_dim: int):
    return PythaeVAE(PythaeVAEConfig(input_dim=(1, 28, 28), latent_dim=latent_dim, reconstruction_loss="mse"))


def pythae_to_genlab(sd: dict, latent_dim: int) -> dict:
    """pythae VAE state dict -> genlab VAE state dict (the mu and logvar heads stacked in one layer)."""
    return {
        "encoder.1.0.weight": sd["encoder.layers.0.0.weight"],
        "encoder.1.0.bias": sd["encoder.layers.0.0.bias"],
        "encoder.1.2.weight": torch.cat([sd["encoder.embedding.weight"], sd["encoder.log_var.weight"]]),
        "encoder.1.2.bias": torch.cat([sd["encoder.embedding.bias"], sd["encoder.log_var.bias"]]),
        "decoder.0.0.weight": sd["decoder.layers.0.0.weight"],
        "decoder.0.0.bias": sd["decoder.layers.0.0.bias"],
        "decoder.0.2.weight": sd["decoder.layers.1.0.weight"],
        "decoder.0.2.bias": sd["decoder.layers.1.0.bias"],
    }


def genlab_to_pythae(sd: dict, latent_dim: int) -> dict:
    d = latent_dim
    w, b = sd["encoder.1.2.weight"], sd["encoder.1.2.bias"]
    return {
        "encoder.layers.0.0.weight": sd["encoder.1.0.weight"],
        "encoder.layers.0.0.bias": sd["encoder.1.0.bias"],
        "encoder.embedding.weight": w[:d],
        "encoder.embedding.bias": b[:d],
        "encoder.log_var.weight": w[d:],
        "encoder.log_var.bias": b[d:],
        "decoder.layers.0.0.weight": sd["decoder.0.0.weight"],
        "decoder.layers.0.0.bias": sd["decoder.0.0.bias"],
        "decoder.layers.1.0.weight": sd["decoder.0.2.weight"],
        "decoder.layers.1.0.bias": sd["decoder.0.2.bias"],
    }


def initial_weights(latent_dim: int) -> dict:
    torch.manual_seed(SEED)
    return {k: v.clone() for k, v in genlab_vae(latent_dim).state_dict().items()}


def n_params(m) -> int:
    return sum(p.numel() for p in m.parameters())


@torch.no_grad()
def check_same_model(latent_dim: int, x: torch.Tensor) -> dict:
    """Same architecture, same loss: equal parameter counts, outputs and losses on one batch."""
    g, p = genlab_vae(latent_dim), pythae_vae(latent_dim)
    assert n_params(g) == n_params(p), (n_params(g), n_params(p))
    p.load_state_dict(genlab_to_pythae(g.state_dict(), latent_dim))
    g.eval(), p.eval()
    mu, logvar = g.encode_dist(x)
    enc = p.encoder(x)
    assert torch.allclose(mu, enc.embedding) and torch.allclose(logvar, enc.log_covariance)
    assert torch.allclose(g.decode(mu), p.decoder(mu)["reconstruction"], atol=1e-6)
    torch.manual_seed(123)
    lg = g.loss(x)
    torch.manual_seed(123)
    lp = p({"data": x})
    for a, b in ((lg["loss"], lp.loss), (lg["recon"], lp.recon_loss), (lg["kl"], lp.reg_loss)):
        assert abs(float(a) - float(b)) <= 1e-4 * max(1.0, abs(float(b))), (float(a), float(b))
    return {"params": n_params(g), "loss_genlab": float(lg["loss"]), "loss_pythae": float(lp.loss)}


@torch.no_grad()
def pythae_own_test_loss(p, x: torch.Tensor) -> float:
    """pythae's forward over the test set, chunks of 1000, noise seeded with 0 (as genlab's validate)."""
    p.eval()
    total = 0.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for s in range(0, len(x), 1000):
            xb = x[s : s + 1000]
            total += float(p({"data": xb}).loss) * len(xb)
    return total / len(x)


# ---- the timed training calls ------------------------------------------------------------------


class _EpochClock(TrainingCallback):
    def __init__(self):
        self.marks, self.logs = [], []

    def on_epoch_end(self, training_config, **kwargs):
        self.marks.append(time.perf_counter())

    def on_log(self, training_config, logs, **kwargs):
        self.logs.append(dict(logs))


def run_pythae(train_np, test_np, test_data, latent_dim, epochs, init, seed: int = SEED) -> dict:
    p = pythae_vae(latent_dim)
    p.load_state_dict(genlab_to_pythae(init, latent_dim))
    out_dir = tempfile.mkdtemp(prefix="bench_pythae_")
    cfg = BaseTrainerConfig(
        output_dir=out_dir,
        learning_rate=LR,
        per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=EVAL_BATCH,
        num_epochs=epochs,
        optimizer_cls="Adam",
        steps_saving=None,
        steps_predict=None,
        no_cuda=True,
        seed=seed,
    )
    clock = _EpochClock()
    pipe = TrainingPipeline(training_config=cfg, model=p)
    load0 = os.getloadavg()
    c0, t0 = time.process_time(), time.perf_counter()
    pipe(train_data=train_np, eval_data=test_np, callbacks=[clock])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    load1 = os.getloadavg()
    trained = pipe.trainer.model  # the last epoch's weights (pythae saves its best-on-eval copy)
    g = genlab_vae(latent_dim)
    g.load_state_dict(pythae_to_genlab(trained.state_dict(), latent_dim))
    x_test = torch.from_numpy(test_np)
    images = epochs * len(train_np)
    res = {
        "library": "pythae",
        "variant": "TrainingPipeline",
        "wall_s": wall,
        "images": images,
        "samples_per_s": images / wall,
        "cpu_s": cpu,
        "samples_per_cpu_s": images / cpu,
        "epoch_s": [float(e) for e in np.diff([t0] + clock.marks)],
        "test_loss": validate(g, test_data, 1000, torch.device("cpu")),
        "pythae_own_test_loss": pythae_own_test_loss(trained, x_test),
        "pythae_last_eval_epoch_loss": clock.logs[-1].get("eval_epoch_loss") if clock.logs else None,
        "pythae_best_eval_epoch_loss": min(e["eval_epoch_loss"] for e in clock.logs if "eval_epoch_loss" in e),
        "output_bytes": _du(out_dir),
        "loadavg_before": load0,
        "loadavg_after": load1,
    }
    shutil.rmtree(out_dir, ignore_errors=True)
    return res


def run_genlab(
    train,
    test,
    latent_dim,
    epochs,
    init,
    with_run_dir: bool,
    bf16: bool = False,
    compile: bool = False,
    seed: int = SEED,
) -> dict:
    g = genlab_vae(latent_dim)
    g.load_state_dict(init)
    run_dir = tempfile.mkdtemp(prefix="bench_genlab_") if with_run_dir else None
    marks = []
    g.on_epoch_end = lambda data: marks.append(time.perf_counter())  # instance hook: just a clock
    if compile:  # inductor compiles in this process, so that its CPU time is counted with the run's
        importlib.import_module("torch._inductor.config").compile_threads = 1
    cfg = TrainConfig(epochs=epochs, batch_size=BATCH, lr=LR, seed=seed, amp_cpu=bf16, compile=compile)
    load0 = os.getloadavg()
    c0, t0 = time.process_time(), time.perf_counter()
    fit(g, train, cfg, run_dir=run_dir, test_data=test, quiet=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    load1 = os.getloadavg()
    images = epochs * (len(train) // BATCH) * BATCH
    res = {
        "library": "genlab",
        "variant": ("fit, run_dir" if with_run_dir else "fit, run_dir=None")
        + (", amp_cpu" if bf16 else "")
        + (", compile" if compile else ""),
        "wall_s": wall,
        "images": images,
        "samples_per_s": images / wall,
        "cpu_s": cpu,
        "samples_per_cpu_s": images / cpu,
        "epoch_s": [float(e) for e in np.diff([t0] + marks)],
        "test_loss": validate(g, test, 1000, torch.device("cpu")),
        "output_bytes": _du(run_dir) if run_dir else 0,
        "loadavg_before": load0,
        "loadavg_after": load1,
    }
    if run_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    return res


def _du(path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _git(*args) -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--latent-dim", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1, help="run the whole order this many times")
    ap.add_argument(
        "--seeds",
        default=str(SEED),
        help="comma-separated training seeds (data order and noise; both libraries start from the same "
        "weights whatever the seed): each repeat runs the whole order once per seed",
    )
    ap.add_argument(
        "--order",
        default="pythae,genlab,genlab-norundir",
        help="comma-separated runs from pythae, genlab (with a run dir), genlab-norundir, genlab-bf16 "
        "(with a run dir, the forward passes in CPU bf16 autocast: amp_cpu=True), genlab-bf16-compile "
        "(the same with compile=True: its compilation is inside the timed call)",
    )
    ap.add_argument("--note", default="", help="free text stored in the JSON (load, where genlab came from)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "vae_vs_pythae.json"))
    args = ap.parse_args()
    order = [s.strip() for s in args.order.split(",") if s.strip()]
    assert set(order) <= {"pythae", *GENLAB_RUNS}, order
    torch.set_num_threads(args.threads)
    # Every torch optimiser imports torch._dynamo when it is built (about 1.1 CPU-s here): import it before
    # any timed call, or the first library to build one pays for both
    importlib.import_module("torch._dynamo")
    commit = _git("rev-parse", "HEAD")  # at the start: others may commit while this runs

    train, test = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
    train_np = train.images.numpy().astype(np.float32) / 255.0  # (60000, 1, 28, 28) in [0, 1]
    test_np = test.images.numpy().astype(np.float32) / 255.0
    same = check_same_model(args.latent_dim, torch.from_numpy(test_np[:256]))
    init = initial_weights(args.latent_dim)
    print(f"[bench] same architecture and loss: {same}", flush=True)

    seeds = [int(s) for s in args.seeds.split(",")]
    runs = []
    for rep, seed in [(rep, seed) for rep in range(args.repeats) for seed in seeds]:
        for name in order:
            print(
                f"[bench] repeat {rep + 1}/{args.repeats}, seed {seed}: {name}, {args.epochs} epochs, "
                f"load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            if name == "pythae":
                r = run_pythae(train_np, test_np, test, args.latent_dim, args.epochs, init, seed)
            else:
                r = run_genlab(
                    train,
                    test,
                    args.latent_dim,
                    args.epochs,
                    init,
                    with_run_dir=(name != "genlab-norundir"),
                    bf16=name.startswith("genlab-bf16"),
                    compile=name.endswith("compile"),
                    seed=seed,
                )
            r["repeat"], r["seed"], r["name"] = rep, seed, name
            runs.append(r)
            print(
                f"[bench] {name}: {r['samples_per_s']:.0f} samples/s ({r['wall_s']:.1f} s wall, "
                f"{r['samples_per_cpu_s']:.0f} samples per CPU-s), "
                f"test loss {r['test_loss']['loss']:.3f}, epochs {[round(e, 1) for e in r['epoch_s']]} s",
                flush=True,
            )

    summary = {}
    for name in order:
        rs = [r for r in runs if r["name"] == name]
        summary[name] = {
            "samples_per_s_median": statistics.median(r["samples_per_s"] for r in rs),
            "samples_per_s_all": [r["samples_per_s"] for r in rs],
            "samples_per_cpu_s_median": statistics.median(r["samples_per_cpu_s"] for r in rs),
            "test_loss_all": [r["test_loss"]["loss"] for r in rs],
            "test_loss_mean": statistics.mean(r["test_loss"]["loss"] for r in rs),
            "test_loss_std": statistics.stdev(r["test_loss"]["loss"] for r in rs) if len(rs) > 1 else 0.0,
        }
    for name in GENLAB_RUNS:
        if name in summary and "pythae" in summary:
            summary[f"ratio_{name}_over_pythae"] = (
                summary[name]["samples_per_s_median"] / summary["pythae"]["samples_per_s_median"]
            )
            summary[f"cpu_ratio_{name}_over_pythae"] = (
                summary[name]["samples_per_cpu_s_median"] / summary["pythae"]["samples_per_cpu_s_median"]
            )
            summary[f"ratio_{name}_over_pythae_per_repeat"] = [
                g["samples_per_s"] / p["samples_per_s"]
                for g, p in zip([r for r in runs if r["name"] == name], [r for r in runs if r["name"] == "pythae"])
            ]

    result = {
        "benchmark": "VAE (pythae default MLP) on Fashion-MNIST: genlab vs pythae",
        "settings": {
            "epochs": args.epochs,
            "latent_dim": args.latent_dim,
            "batch_size": BATCH,
            "lr": LR,
            "optimizer": "Adam",
            "seed_of_initial_weights": SEED,
            "training_seeds": seeds,
            "threads": args.threads,
            "repeats": args.repeats,
            "order": order,
            "pythae_eval_batch_size": EVAL_BATCH,
        },
        "environment": {
            "torch": torch.__version__,
            "pythae": getattr(pythae, "__version__", "0.1.2"),
            "genlab": getattr(genlab, "__version__", ""),
            "genlab_file": genlab.__file__,
            "git_commit_at_start": commit,
            "git_dirty_files": _git("status", "--porcelain", "--", "src").splitlines(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
        "note": args.note,
        "same_model_check": same,
        "runs": runs,
        "summary": summary,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print("[bench] summary:", json.dumps(summary, indent=2, default=float))
    print(f"[bench] wrote {out}")


if __name__ == "__main__":
    main()
