"""The README's results table: every row is one ``genlab train`` and one ``genlab evaluate``.

    .venv/bin/python benchmarks/results.py            # about 1.5 hours of CPU on 2 cores for all rows

A run or report that already exists under ``--root`` is kept (delete it to redo that row). The
table is printed in Markdown, each row with its two commands, and saved with the reports'
figures to ``benchmarks/results/results.json``.

Protocol, the defaults of ``genlab evaluate``: 10k generated images against the 10k test images,
features of genlab's classifier for the dataset (Fashion-MNIST: 91.88% test accuracy;
fashion-stripes: its domain-B classifier), seed 0; translation metrics on every test pair. Here
``nll_iwae`` uses k = 100 importance samples on the 10k test images (the default, 1000, is ten
times the decoder passes: a GPU setting).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _cli import run_genlab

# name, what, train arguments, evaluate arguments, the keys shown
VAE_KEYS = [
    "elbo",
    "nll_iwae",
    "active_units",
    "fid",
    "kid",
    "precision",
    "recall",
    "latent_completeness",
    "latent_continuity",
]
ROWS = [
    (
        "vae",
        "VAE, 10 epochs",
        "--model vae --data fashion-mnist --epochs 10",
        "--iwae-k 100",
        VAE_KEYS,
    ),
    (
        "bvae",
        "beta-VAE (beta = 4), 10 epochs",
        "--model vae --data fashion-mnist --epochs 10 --set beta=4",
        "--iwae-k 100",
        VAE_KEYS,
    ),
    (
        "ae",
        "AE, 10 epochs (samples: decoded draws of the fitted code Gaussian)",
        "--model ae --data fashion-mnist --epochs 10",
        "",
        ["recon_mse", "recon_bce", "fid", "kid", "precision", "recall", "latent_completeness", "latent_continuity"],
    ),
    (
        "gan",
        "DCGAN, 3 epochs",
        "--model gan --data fashion-mnist --epochs 3",
        "",
        ["fid", "kid", "precision", "recall"],
    ),
    (
        "cgan",
        "conditional GAN, 2 epochs",
        "--model cgan --data fashion-mnist --epochs 2",
        "",
        ["fid", "kid", "precision", "recall", "cond_accuracy"],
    ),
    (
        "edges",
        "pix2pix edges2fashion, 800 steps",
        "--model pix2pix --data edges2fashion --steps 800 --set batch_size=16",
        "",
        ["l1", "psnr", "ssim"],
    ),
    (
        "maps",
        "pix2pix maps aerial -> map, 3 epochs",
        "--model pix2pix --data maps --epochs 3 --set batch_size=8",
        "",
        ["l1", "psnr", "ssim", "pixel_accuracy"],
    ),
    (
        "cyclegan",
        "CycleGAN fashion-stripes, 600 steps (FID: A -> B against real B)",
        "--model cyclegan --data fashion-stripes --steps 600 --set batch_size=4",
        "",
        ["cycle_l1", "label_preservation", "fid", "kid"],
    ),
]
UNITS = {"elbo": " nats", "nll_iwae": " nats", "recon_bce": " nats", "psnr": " dB"}


def shown(key: str, value) -> str:
    if isinstance(value, int):
        return str(value)
    if key in ("elbo", "nll_iwae", "recon_bce", "psnr"):
        return f"{value:.1f}{UNITS[key]}"
    if key == "fid":
        return f"{value:.2f}"
    return f"{value:.3f}" if abs(value) >= 0.01 else f"{value:.4f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="runs")
    ap.add_argument("--only", nargs="+", help="these rows only (names: " + ", ".join(r[0] for r in ROWS) + ")")
    ap.add_argument("--out", default="benchmarks/results/results.json")
    args = ap.parse_args(argv)
    root = Path(args.root)
    lines = ["| run | commands | metrics |", "|---|---|---|"]
    saved = {}
    for name, what, train, evaluate, keys in ROWS:
        if args.only and name not in args.only:
            continue
        run, report_path = root / name, root / f"eval_{name}.json"
        train_args = [*train.split(), "--out", str(run)]
        eval_args = ["evaluate", str(run), "--out", str(report_path), *evaluate.split()]
        if not (run / "config.json").exists():
            run_genlab(["train", *train_args, "--quiet"])
        if not report_path.exists():
            run_genlab(eval_args)
        report = json.loads(report_path.read_text())
        metrics = ", ".join(f"{k} {shown(k, report[k])}" for k in keys if k in report)
        commands = f"`genlab train {' '.join(train_args)}`<br>`genlab {' '.join(eval_args)}`"
        lines.append(f"| {what} | {commands} | {metrics} |")
        saved[name] = {
            "train": "genlab train " + " ".join(train_args),
            "evaluate": "genlab " + " ".join(eval_args),
            **{k: report[k] for k in keys if k in report},
            "measured": report["measured"],
        }
    print("\n".join(lines))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": saved, "markdown": lines}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
