"""VAE (beta = 1) against beta-VAE (beta >= 4) on dSprites: the four disentanglement metrics, over seeds.

    .venv/bin/python benchmarks/disentanglement.py --betas 1 4 --seeds 0 1 --steps 5000

For every (beta, seed) it runs, unless the run already exists, exactly these two commands:

    genlab train --model vae --data dsprites --steps STEPS --seed SEED --set arch=mlp \\
        --set hidden=[1200,1200] --set latent_dim=10 --set beta=BETA --set batch_size=64 --out runs/ds_betaB_seedS
    genlab evaluate runs/ds_betaB_seedS --out runs/ds_betaB_seedS/eval.json --metrics reconstruction,disentanglement

The network is that of Higgins et al. 2017 for dSprites (fully connected 4096-1200-1200-10 encoder, the
mirror decoder, Bernoulli likelihood, latent 10); Adam 1e-3, batch 64. The metrics use
disentanglement_lib's settings (Locatello et al. 2019): BetaVAE and FactorVAE 10k training / 5k
evaluation points, MIG 10k points and 20 bins, DCI 10k training / 5k test points, on the posterior
means, evaluation seed 0. The table (mean and standard deviation over seeds) is printed in Markdown
and written with every per-run figure to ``benchmarks/results/disentanglement.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

from _cli import run_genlab

KEYS = ["beta_vae_score", "factor_vae_score", "mig", "dci_disentanglement", "recon_bce"]


def train_command(beta: float, seed: int, steps: int, out: Path) -> list[str]:
    return [
        "train",
        "--model",
        "vae",
        "--data",
        "dsprites",
        "--steps",
        str(steps),
        "--seed",
        str(seed),
        "--set",
        "arch=mlp",
        "--set",
        "hidden=[1200,1200]",
        "--set",
        "latent_dim=10",
        "--set",
        f"beta={beta:g}",
        "--set",
        "batch_size=64",
        "--out",
        str(out),
        "--quiet",
    ]


def eval_command(run: Path) -> list[str]:
    return ["evaluate", str(run), "--out", str(run / "eval.json"), "--metrics", "reconstruction,disentanglement"]


def last_step(run: Path) -> int:
    """The last step the run logged (0 if none)."""
    path = run / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return max((json.loads(line).get("step", 0) for line in lines if line.strip()), default=0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--betas", type=float, nargs="+", default=[1.0, 4.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--root", default="runs")
    ap.add_argument("--out", default="benchmarks/results/disentanglement.json")
    args = ap.parse_args(argv)

    per_run, seconds = {}, {}
    for seed in args.seeds:
        for beta in args.betas:
            out = Path(args.root) / f"ds_beta{beta:g}_seed{seed}"
            if not (out / "config.json").exists():
                seconds[f"train {out}"] = run_genlab(train_command(beta, seed, args.steps, out))
            elif last_step(out) < args.steps:  # stopped part-way: resuming is exact
                seconds[f"resume {out}"] = run_genlab(
                    ["train", "--resume", str(out), "--steps", str(args.steps), "--quiet"]
                )
            if not (out / "eval.json").exists():
                seconds[f"evaluate {out}"] = run_genlab(eval_command(out))
            report = json.loads((out / "eval.json").read_text())
            per_run[str(out)] = {
                "beta": beta,
                "seed": seed,
                **{k: report[k] for k in KEYS},
                "dci_completeness": report.get("dci_completeness"),
                "dci_informativeness": report.get("dci_informativeness"),
                "train_command": "genlab " + " ".join(train_command(beta, seed, args.steps, out)),
                "evaluate_command": "genlab " + " ".join(eval_command(out)),
            }

    table = {}
    for beta in args.betas:
        rows = [r for r in per_run.values() if r["beta"] == beta]
        table[f"{beta:g}"] = {
            k: {
                "mean": statistics.mean(r[k] for r in rows),
                "std": statistics.stdev(r[k] for r in rows) if len(rows) > 1 else 0.0,
                "values": [r[k] for r in rows],
            }
            for k in KEYS
        }
    lines = ["| beta | seeds | " + " | ".join(KEYS) + " |", "|---|---|" + "---|" * len(KEYS)]
    for beta, stats in table.items():
        cells = [
            f"{stats[k]['mean']:.3f} ± {stats[k]['std']:.3f}"
            if k != "recon_bce"
            else f"{stats[k]['mean']:.1f} ± {stats[k]['std']:.1f}"
            for k in KEYS
        ]
        lines.append(f"| {beta} | {len(args.seeds)} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "steps": args.steps,
                "seeds": args.seeds,
                "table": table,
                "runs": per_run,
                "seconds": seconds,
                "cpus": os.cpu_count(),
                "markdown": lines,
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
