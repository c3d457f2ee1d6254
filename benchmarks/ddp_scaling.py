"""Scaling from 1 to 2 data-parallel processes (torchrun, gloo, DistributedDataParallel) on this CPU.

    python benchmarks/ddp_scaling.py --steps 300 --rounds 2

For the VAE (pythae's default MLP) and the DCGAN (genlab's default) on Fashion-MNIST with the same
global batch (128 and 64), ``genlab train`` runs ``--steps`` steps as 1 process and as 2 processes of
one thread each, taking turns (1, 2, 1, 2, ...) so that other load on the machine falls on both alike.
Throughput is images per second of the steps alone, from the run's log lines (``--quiet``; the
first log interval, holding start-up, is left out). Efficiency = throughput(2) / (2 * throughput(1)):
1.0 is perfect scaling. With 2 cores, two processes of one thread each use the whole machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

import genlab

RUNS = {
    "vae": (
        [
            "--model",
            "vae",
            "--set",
            "arch=mlp",
            "--set",
            "hidden=512",
            "--set",
            "latent_dim=16",
            "--set",
            "likelihood=gaussian",
        ],
        128,
    ),
    "dcgan": (["--model", "gan"], 64),
}


def throughput(log: str) -> float:
    """The median of the --quiet log lines' images_per_s, the first interval (holding start-up) left out."""
    rates = [float(w.split("=")[1]) for line in log.splitlines() for w in line.split() if w.startswith("images_per_s=")]
    return statistics.median(rates[1:]) if len(rates) > 1 else float("nan")


def train(family: str, procs: int, steps: int, out: Path) -> float:
    args, batch = RUNS[family]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).with_name("torchrun")
    launch = (
        [sys.executable, "-m", "genlab"]
        if procs == 1
        else [str(torchrun), "--standalone", f"--nproc_per_node={procs}", "-m", "genlab"]
    )
    cmd = [
        *launch,
        "train",
        *args,
        "--data",
        "fashion-mnist",
        "--steps",
        str(steps),
        "--quiet",
        "--set",
        f"batch_size={batch}",
        "--set",
        "log_every=25",
        "--out",
        str(out),
    ]
    return throughput(subprocess.run(cmd, check=True, env=env, capture_output=True, text=True).stdout)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/ddp_scaling.json")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    load = Path("/proc/loadavg").read_text().split()[:3]
    rows = {}
    try:
        for family in RUNS:
            got: dict[int, list[float]] = {1: [], 2: []}
            for r in range(args.rounds):
                for procs in (1, 2):
                    got[procs].append(train(family, procs, args.steps, tmp / f"{family}-{procs}-{r}"))
                    print(family, procs, round(got[procs][-1]), flush=True)
            one, two = statistics.median(got[1]), statistics.median(got[2])
            rows[family] = {
                "images_per_s_1_process": [round(x) for x in got[1]],
                "images_per_s_2_processes": [round(x) for x in got[2]],
                "efficiency": round(two / (2 * one), 3),
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "torch": torch.__version__,
        "genlab": genlab.__version__,
        "cpu_count": os.cpu_count(),
        "load_average": [load, Path("/proc/loadavg").read_text().split()[:3]],
        "command": f"python benchmarks/ddp_scaling.py --steps {args.steps} --rounds {args.rounds}",
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
