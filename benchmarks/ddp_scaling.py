"""Scaling from 1 to 2 data-parallel processes (torchrun, gloo, DistributedDataParallel) on this CPU.

    python benchmarks/ddp_scaling.py --steps 300 --rounds 2

For the VAE (pythae's default MLP) and the DCGAN (genlab's default) on Fashion-MNIST with the same
global batch (128 and 64), ``genlab train`` runs ``--steps`` steps as 1 process and as 2 processes of
one thread each, taking turns (1, 2, 1, 2, ...) so that other load on the machine falls on both alike.
Throughput is images per second of the steps alone, from the run's log lines (``--quiet``; the
first log interval, holding start-up, is left out). Efficiency = throughput(2) / (2 * throughput(1)):
1.0 is perfect scaling. With 2 cores, two processes of one thread each use the whole machine.

Beside them, the other way to use the same cores: 1 process of 2 threads (``OMP_NUM_THREADS=2``),
with its efficiency on the same scale; and what one gloo all-reduce costs between the 2 processes
(``torchrun`` running this script as ``--allreduce-worker``: wall-clock milliseconds per all-reduce of
each model's gradients and of 16 floats, the latency), which every step pays at least once.
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
import time
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


def train(family: str, procs: int, steps: int, out: Path, threads: int = 1) -> float:
    args, batch = RUNS[family]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
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


def gradient_size(run: Path) -> int:
    """Trained parameters of a finished run's model: what DDP all-reduces every step."""
    return sum(p.numel() for p in genlab.load(str(run)).parameters() if p.requires_grad)


def allreduce_worker(sizes: list[int], repeats: int) -> None:
    """Under torchrun: time gloo all-reduces of float32 tensors of ``sizes``; rank 0 prints them as JSON."""
    import torch.distributed as dist

    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    out = {}
    for n in sizes:
        t = torch.randn(n)
        for _ in range(5):
            dist.all_reduce(t)
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(repeats):
            dist.all_reduce(t)
        out[str(n)] = 1e3 * (time.perf_counter() - t0) / repeats
    if dist.get_rank() == 0:
        print(json.dumps(out), flush=True)
    dist.destroy_process_group()


def allreduce_ms(sizes: list[int]) -> dict[str, float]:
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node=2", __file__, "--allreduce-worker"]
    cmd += ["--sizes", ",".join(map(str, sizes))]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True).stdout
    return {k: round(v, 3) for k, v in json.loads(out.strip().splitlines()[-1]).items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/ddp_scaling.json")
    p.add_argument("--allreduce-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--sizes", default="16", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.allreduce_worker:
        allreduce_worker([int(n) for n in args.sizes.split(",")], repeats=100)
        return 0
    tmp = Path(tempfile.mkdtemp())
    load = Path("/proc/loadavg").read_text().split()[:3]
    rows = {}
    sizes: dict[str, int] = {}
    try:
        for family in RUNS:
            got: dict[str, list[float]] = {"1p": [], "2p": [], "1p2t": []}
            for r in range(args.rounds):
                for key, procs, threads in (("1p", 1, 1), ("2p", 2, 1), ("1p2t", 1, 2)):
                    got[key].append(train(family, procs, args.steps, tmp / f"{family}-{key}-{r}", threads))
                    print(family, key, round(got[key][-1]), flush=True)
            sizes[family] = gradient_size(tmp / f"{family}-1p-0")
            one, two, threads2 = (statistics.median(got[k]) for k in ("1p", "2p", "1p2t"))
            rows[family] = {
                "images_per_s_1_process": [round(x) for x in got["1p"]],
                "images_per_s_2_processes": [round(x) for x in got["2p"]],
                "images_per_s_1_process_2_threads": [round(x) for x in got["1p2t"]],
                "efficiency": round(two / (2 * one), 3),
                "efficiency_2_threads": round(threads2 / (2 * one), 3),
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
    ms = allreduce_ms([*sizes.values(), 16])
    named = {f"{k} gradients ({n:,} floats)": ms[str(n)] for k, n in sizes.items()}
    result["allreduce_ms"] = {**named, "16 floats": ms["16"]}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
