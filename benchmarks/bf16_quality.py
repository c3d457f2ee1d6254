"""Does bf16 autocast (``--set amp_cpu=true``) keep the translation models' quality after a full run?

The README's measured runs of pix2pix and CycleGAN (``genlab train`` then ``genlab evaluate``, the
commands of its "Measured with genlab evaluate" table), each in float32 and with ``amp_cpu=true``,
for several training seeds, one process at a time, ``--threads`` threads each:

    cyclegan  CycleGAN on fashion-stripes, 600 steps of batch 4: cycle L1, label preservation, FID, KID
    maps      pix2pix on maps (aerial -> map), 3 epochs of batch 8: L1, PSNR, SSIM, pixel accuracy
    edges     pix2pix on edges2fashion, 800 steps of batch 16: L1, PSNR, SSIM

(the rows of ``results.py``, their training arguments and metrics taken from there)

    python benchmarks/bf16_quality.py --root runs/bf16_quality --seeds 0,1,2

Per task and precision: the mean and standard deviation of every metric over the seeds, and the
training CPU seconds (user + system of the ``genlab train`` process). A metric is called level when
the two means differ by no more than the larger of the two standard deviations (with two seeds or
more; one seed has no spread to judge by). Resumable: a run
whose evaluation is in ``--root`` is not trained again. Results: ``benchmarks/results/bf16_quality.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path

from _cli import run_genlab
from results import ROWS

HERE = Path(__file__).resolve().parent
# name -> (genlab train arguments, the metrics compared): the translation rows of the README's table
TASKS = {name: (train.split(), keys) for name, _, train, _, keys in ROWS if name in ("cyclegan", "maps", "edges")}
SIDES = {"fp32": [], "bf16": ["--set", "amp_cpu=true"]}


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(root: Path, task: str, side: str, seed: int) -> dict:
    """Train and evaluate one run (unless its evaluation is there); its metrics and training CPU seconds."""
    name = f"{task}_{side}_s{seed}"
    evaluation, record = root / f"eval_{name}.json", root / f"train_{name}.json"
    if not evaluation.exists():
        args, _ = TASKS[task]
        c0 = children_cpu()
        run_genlab(["train", *args, *SIDES[side], "--seed", str(seed), "--out", str(root / name), "--quiet"])
        record.write_text(json.dumps({"train_cpu_s": children_cpu() - c0}) + "\n")
        run_genlab(["evaluate", str(root / name), "--out", str(evaluation)])
    out = json.loads(evaluation.read_text())
    out["train_cpu_s"] = json.loads(record.read_text())["train_cpu_s"] if record.exists() else None
    return out


def summarise(runs: dict) -> dict:
    summary = {}
    for task, (_, metrics) in TASKS.items():
        per = {}
        for side in SIDES:
            rs = runs.get(task, {}).get(side, [])
            if not rs:
                continue
            per[side] = {
                m: {
                    "mean": statistics.mean(r[m] for r in rs),
                    "std": statistics.stdev(r[m] for r in rs) if len(rs) > 1 else 0.0,
                    "runs": [r[m] for r in rs],
                }
                for m in [*metrics, "train_cpu_s"]
                if all(r.get(m) is not None for r in rs)
            }
        seeds = min(len(runs.get(task, {}).get(side, [])) for side in SIDES)
        if len(per) == 2 and seeds >= 2:  # one seed has no spread to judge a difference by
            per["level"] = {
                m: abs(per["bf16"][m]["mean"] - per["fp32"][m]["mean"])
                <= max(per["bf16"][m]["std"], per["fp32"][m]["std"])
                for m in metrics
            }
        summary[task] = per
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default="runs/bf16_quality", help="folder of the runs and their evaluations")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "results" / "bf16_quality.json"))
    args = ap.parse_args()
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # for every genlab process this runs
    runs: dict = {}
    for seed in map(int, args.seeds.split(",")):
        for task in args.tasks.split(","):
            for side in SIDES:
                runs.setdefault(task, {}).setdefault(side, []).append(run(root, task, side, seed))
    result = {
        "summary": summarise(runs),
        "settings": vars(args),
        "environment": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    for task, per in result["summary"].items():
        for side in SIDES:
            if side in per:
                cells = [f"{m} {v['mean']:.4g} ± {v['std']:.2g}" for m, v in per[side].items()]
                print(f"{task} {side}: " + "; ".join(cells))
        if "level" in per:
            print(f"{task} level: " + ", ".join(f"{m} {'yes' if ok else 'NO'}" for m, ok in per["level"].items()))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
