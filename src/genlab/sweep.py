"""Sweeps: train one model family at several settings and plot a test metric against the setting.

``sweep_latent_dim`` measures the trade-off "latent size -> reconstruction quality": the
smaller the latent, the tighter the bottleneck and the worse the reconstructions. It trains an AE
and a VAE (or any family with an encoder) at each latent size, evaluates each on the test split,
and writes into the sweep folder

    {model}_z{dim}/    one run directory per (model, latent size), as ``genlab train --out`` writes
    results.json       the settings and each run's test numbers, rewritten after every run
    latent_dim.png     test reconstruction MSE against latent size (and the VAE's test ELBO)

It is resumable: run it again with the same arguments and a run already in results.json with the
same length is skipped, an interrupted run is continued with ``genlab.resume`` (a run killed
before its first checkpoint is started again), and a run asked to be longer is extended.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import torch

from . import losses
from .atomic import write_text
from .data import load_run_data
from .data.base import to_float
from .errors import GenlabError
from .models import families_with, model_class
from .models.capabilities import Encoder, GaussianPosterior, supports
from .training import checkpoint, load, resume, train

RESULTS = "results.json"
PLOT = "latent_dim.png"
EVAL_SEED = 0  # the VAE's posterior sample in the test ELBO


def _read(out: Path) -> dict | None:
    path = out / RESULTS
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise GenlabError(f"'{path}' is unreadable ({e}); delete it to re-evaluate the runs in '{out}'") from None


def _write(out: Path, results: dict) -> None:
    write_text(out / RESULTS, json.dumps(results, indent=2))


@torch.no_grad()
def evaluate_reconstruction(model, data, batch_size: int = 500) -> dict[str, float]:
    """Test numbers of an encoder-decoder: reconstruction MSE per pixel (decode(encode(x)) vs x);
    for a VAE also, in nats per image, E_q[-log p(x|z)] (one posterior sample), KL and the ELBO."""
    sums = {"recon_mse": 0.0}
    vae = supports(model, GaussianPosterior)
    if vae:
        sums.update(recon_nll=0.0, kl=0.0)
    g = torch.Generator().manual_seed(EVAL_SEED)
    dev = next(model.parameters()).device
    n = len(data)
    for start in range(0, n, batch_size):
        x = to_float(data.images[start : start + batch_size]).to(dev)
        if vae:
            mu, logvar = model.encode_dist(x)  # (B, D) each
            x_hat = model.decode(mu)
            z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g).to(dev)
            sums["recon_nll"] -= float(model.log_px_given_z(x, z.unsqueeze(1)).sum())  # one posterior sample
            sums["kl"] += float(losses.kl_normal_standard(mu, logvar).sum())
        else:
            x_hat = model.decode(model.encode(x))
        sums["recon_mse"] += float(((x_hat - x) ** 2).flatten(1).mean(1).sum())
    out = {k: v / n for k, v in sums.items()}
    if vae:
        out["elbo"] = -(out["recon_nll"] + out["kl"])
    return out


def _check(models, dims, settings) -> tuple[list[str], list[int]]:
    models = [m.strip() for m in models if m.strip()]
    if not models:
        raise GenlabError("--model needs at least one model family, e.g. ae,vae")
    for m in models:
        if not supports(model_class(m), Encoder):
            raise GenlabError(
                f"model '{m}' has no encoder; a latent-size sweep compares reconstructions "
                f"({', '.join(families_with(Encoder))})"
            )
    dims = [int(d) for d in dims]
    if not dims or any(d < 1 for d in dims):
        raise GenlabError(f"--dims needs latent sizes >= 1, got {','.join(map(str, dims)) or 'none'}")
    if any(k.rpartition(".")[2] == "latent_dim" for k in settings):
        raise GenlabError("--set latent_dim conflicts with the sweep; give the sizes with --dims")
    return list(dict.fromkeys(models)), sorted(set(dims))


def sweep_latent_dim(
    out: str | os.PathLike,
    models=("ae", "vae"),
    data: str = "fashion-mnist",
    dims=(2, 4, 8, 16, 32),
    *,
    epochs: int | None = None,
    steps: int | None = None,
    settings: dict | None = None,
    seed: int = 0,
    device: str | None = None,
    quiet: bool = True,
    log=print,
) -> dict:
    """Train each model at each latent size in ``dims`` into ``out``, evaluate, plot; resumable.

    epochs/steps: the length of every run (default: genlab train's). settings: ``--set`` values
    passed to every run (not latent_dim). seed: every run's seed. Returns the results dict written
    to ``out/results.json``: ``{"sweep": {...settings}, "runs": {"vae_z8": {"model", "latent_dim",
    "length", "step", "test": {"recon_mse", ... "elbo"}}}}``.
    """
    settings = {k: str(v) for k, v in (settings or {}).items()}
    models, dims = _check(models, dims, settings)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    identity = {"kind": "latent-dim", "data": data, "settings": settings, "seed": seed}
    results = _read(out) or {"sweep": identity, "runs": {}}
    old = {k: results["sweep"].get(k) for k in identity}
    if old != identity:
        diff = next(k for k in identity if old[k] != identity[k])
        raise GenlabError(
            f"'{out}' holds a sweep with another {diff} ({old[diff]!r}, now {identity[diff]!r}); "
            "choose another --out, or repeat the same arguments to continue it"
        )
    length = {"epochs": epochs, "steps": steps}
    test = None
    for model_name in models:
        for dim in dims:
            key = f"{model_name}_z{dim}"
            run_dir = out / key
            done = results["runs"].get(key)
            if done and done.get("length") == length and (run_dir / checkpoint.CONFIG).exists():
                log(f"{key}: done (test recon MSE {done['test']['recon_mse']:.5g}), skipped")
                continue
            if checkpoint.resumable(run_dir) is not None:
                log(f"{key}: continuing the run in {run_dir}")
                resume(run_dir, epochs=epochs, steps=steps, device=device, quiet=quiet)
            else:
                if run_dir.exists():  # stopped before its first checkpoint: nothing to keep
                    shutil.rmtree(run_dir)
                log(f"{key}: training")
                train(
                    model_name,
                    data,
                    run_dir,
                    settings={**settings, "latent_dim": dim},
                    epochs=epochs,
                    steps=steps,
                    seed=seed,
                    device=device,
                    quiet=quiet,
                )
            model = load(run_dir, device="cpu" if device in (None, "auto") else device)
            if test is None:
                test = load_run_data(model.meta, "test")
            numbers = evaluate_reconstruction(model, test)
            step = checkpoint.step_of(checkpoint.weights_folder(run_dir))
            results["runs"][key] = {
                "model": model_name,
                "latent_dim": dim,
                "length": length,
                "step": step,
                "test": numbers,
            }
            _write(out, results)
            _plot(out, results)
            log(f"{key}: test " + " ".join(f"{k}={v:.5g}" for k, v in numbers.items() if math.isfinite(v)))
    _plot(out, results)
    return results


def _plot(out: Path, results: dict) -> None:
    from .viz.plots import plot_sweep

    if results["runs"]:
        plot_sweep(results, out / PLOT)
