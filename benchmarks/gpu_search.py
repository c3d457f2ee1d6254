"""A search on one CUDA device for settings worth a CPU run: VAE variants on Fashion-MNIST (Inception
FID along training) and beta-VAE / beta-TCVAE settings on dSprites over seeds (MIG, FactorVAE, DCI).

    python benchmarks/gpu_search.py --out OUT --inception-int8 W8 --deadline-s 480
    python benchmarks/gpu_search.py --smoke --out /tmp/search    # the same plumbing on the CPU, tiny sizes

Every job is one process that trains with ``genlab train`` exactly as a user would (``--device cuda
--set amp=false``: float32 as on a CPU, TF32 off through ``NVIDIA_TF32_OVERRIDE=0``), in segments
resumed with ``genlab train --resume``, and measures each segment's end: ``genlab evaluate RUN
--metrics samples`` (10k samples against the 10k test images, genlab's classifier features and the
FID Inception, Lucic et al. 2018's protocol) for the VAEs, ``genlab evaluate``'s disentanglement
metrics (disentanglement_lib's counts) for dSprites. ``--parallel`` jobs run at once, one CPU thread each;
every result is appended to ``OUT/results.jsonl`` as soon as it exists, and jobs still running at
``--deadline-s`` are stopped, so what was measured before then is kept.

Measured once (``benchmarks/results/gpu_search_h200.json``): all 16 jobs at once on one H200 with
16 CPU cores finished no Inception FID and no dSprites metric within 8 minutes (the metrics are CPU
work: gradient-boosted trees for DCI, and 16 processes shared the GPU); the training itself was
fast (a 5,000-step dSprites segment in about 40 s, a Fashion-MNIST VAE epoch in about 3 s). Hence
``--parallel`` (default 6).

``--inception-int8 FILE``: the FID Inception's weights stored as int8 per output channel with float
scales (22 MB instead of 87 MB, for a machine the weights must be copied to; ``--quantize SRC DST``
writes such a file). Its pool3 features differ from float32's by 5.6% (mean relative L2 distance on
64 test images), so its FIDs are for ranking: ``calibration`` measures a model whose float32
Inception FID is known on the same network, and the settings chosen are measured again on a CPU with
the float32 network.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

EPOCH = 468  # Fashion-MNIST batches of 128 in an epoch (the last partial batch dropped)
S1 = 40 * EPOCH  # first-stage length of the 2-stage VAE jobs: 40 epochs, about 52 CPU-minutes here

# the learned-gamma VAE of Dai & Wipf: a Gaussian likelihood whose std is learned, latent 64
GAMMA64 = [
    "--recipe",
    "vae-fashion",
    "--set",
    "latent_dim=64",
    "--set",
    "likelihood=gaussian",
    "--set",
    "learn_sigma=true",
]
SECOND = ["--set", "second_hidden=1024,1024", "--set"]  # + second_stage_start=S
# Fashion-MNIST VAEs: name -> (genlab train settings, [(label, total steps)] measured at each end)
VAE_JOBS = {
    "bern32-2stage": (
        ["--recipe", "vae-fashion", *SECOND, f"second_stage_start={S1}"],
        [
            ("e10", 10 * EPOCH),
            ("e20", 20 * EPOCH),
            ("e40", S1),
            ("e40+s20", S1 + 20 * EPOCH),
            ("e40+s60", S1 + 60 * EPOCH),
        ],
    ),
    "gamma64-2stage": (
        [*GAMMA64, *SECOND, f"second_stage_start={S1}"],
        [("e20", 20 * EPOCH), ("e40", S1), ("e40+s20", S1 + 20 * EPOCH), ("e40+s60", S1 + 60 * EPOCH)],
    ),
    "gamma64-2stage-s8": (  # Dai & Wipf's first stage is short next to their second: 8 epochs, then 60
        [*GAMMA64, *SECOND, f"second_stage_start={8 * EPOCH}"],
        [("e8", 8 * EPOCH), ("e8+s20", 28 * EPOCH), ("e8+s60", 68 * EPOCH)],
    ),
}
DSPRITES_STEPS = 20_000  # about 28 CPU-minutes of training here (5k steps: 7)
DSPRITES_SEGMENT = 5_000  # trained in segments: a job short of time measures where it is
DSPRITES_SETTINGS = {
    "vae": ["--recipe", "vae-dsprites"],
    "tcvae-b4": ["--recipe", "tcvae-dsprites"],
    "tcvae-b6": ["--recipe", "tcvae-dsprites", "--set", "beta=6"],
    "bvae-b4": ["--recipe", "vae-dsprites", "--set", "beta=4"],
}
SEEDS = [0, 1, 2]


def quantize(src: str, dst: str) -> None:
    """Weights of >= 4096 elements as int8 per output channel (absmax scale), the rest as they are."""
    import torch
    from safetensors.torch import load_file, save_file

    out = {}
    for k, v in load_file(src).items():
        v = v.float()
        if v.ndim >= 2 and v.numel() >= 4096:
            flat = v.reshape(v.shape[0], -1)
            scale = flat.abs().amax(1).clamp_min(1e-12) / 127.0  # (out,)
            out[k + ".q"] = torch.round(flat / scale[:, None]).clamp(-127, 127).to(torch.int8).reshape(v.shape)
            out[k + ".s"] = scale
        else:
            out[k] = v.contiguous()
    save_file(out, dst)


def dequantize(src: str, dst: str) -> None:
    from safetensors.torch import load_file, save_file

    st, out = load_file(src), {}
    for k, v in st.items():
        if k.endswith(".q"):
            out[k[:-2]] = (v.float().reshape(v.shape[0], -1) * st[k[:-2] + ".s"][:, None]).reshape(v.shape).contiguous()
        elif not k.endswith(".s"):
            out[k] = v
    save_file(out, dst)


def genlab(*args: str, log: Path) -> None:
    with open(log, "a") as f:
        subprocess.run([sys.executable, "-m", "genlab", *args], check=True, stdout=f, stderr=subprocess.STDOUT)


def train_to(settings: list[str], run: Path, steps: int, a: argparse.Namespace, log: Path) -> None:
    """``genlab train`` a new run (float32) to ``steps``, or resume it there."""
    if (run / "config.json").exists():
        genlab("train", "--resume", str(run), "--steps", str(steps), "--quiet", log=log)
    else:
        new = ["--steps", str(steps), "--out", str(run), "--device", a.device, "--set", "amp=false", "--quiet"]
        genlab("train", *settings, *new, log=log)


def emit(record: dict) -> None:
    print("RESULT " + json.dumps(record), flush=True)


def time_left() -> float:
    return float(os.environ["SEARCH_DEADLINE"]) - time.time()


def run_vae(name: str, root: Path, a: argparse.Namespace) -> None:
    settings, points = VAE_JOBS[name]
    run, log = root / name, root / f"{name}.log"
    for label, steps in points:
        steps = steps if not a.smoke else max(2, steps // 400)
        if time_left() < 60:
            emit({"job": name, "point": label, "skipped": "deadline"})
            return
        t0 = time.time()
        train_to(settings, run, steps, a, log)
        record = {"job": name, "point": label, "steps": steps, "train_s": round(time.time() - t0, 1)}
        record.update(evaluate_samples(run, root / f"{name}_{label}", a, log))
        emit(record)


def evaluate_samples(model: Path, prefix: Path, a: argparse.Namespace, log: Path) -> dict:
    out = {}
    for features in ("classifier", "inception"):
        path = prefix.with_name(prefix.name + f"_{features}.json")
        extra = ["--features", "inception"] if features == "inception" else []
        extra += ["--inception-weights", a.weights] if features == "inception" and a.weights else []
        n = ["--num-samples", "100"] if a.smoke else []
        genlab(
            "evaluate",
            str(model),
            "--out",
            str(path),
            "--metrics",
            "samples",
            "--device",
            a.device,
            "--quiet",
            *extra,
            *n,
            log=log,
        )
        report = json.loads(path.read_text())
        out[features] = {k: report.get(k) for k in ("fid", "kid", "precision", "recall")}
    return out


def run_dsprites(name: str, root: Path, a: argparse.Namespace) -> None:
    setting, seed = name.rsplit("-s", 1)
    run, log = root / name, root / f"{name}.log"
    total, segment = (a.dsprites_steps, a.dsprites_segment) if not a.smoke else (20, 10)
    steps, train_s, last = 0, 0.0, 0.0
    while steps < total and (steps == 0 or time_left() > 1.5 * last + a.metrics_s):
        steps += segment
        t0 = time.time()
        train_to([*DSPRITES_SETTINGS[setting], "--seed", seed], run, steps, a, log)
        last = time.time() - t0
        train_s += last
    t0 = time.time()
    values = fast_metrics(run, a) if a.fast_metrics else all_metrics(run, a)
    emit(
        {
            "job": name,
            "setting": setting,
            "seed": int(seed),
            "steps": steps,
            "train_s": round(train_s, 1),
            "metrics_s": round(time.time() - t0, 1),
            **values,
        }
    )


def all_metrics(run: Path, a: argparse.Namespace) -> dict:
    """BetaVAE, FactorVAE, MIG and DCI exactly as ``genlab evaluate RUN --metrics disentanglement``."""
    from genlab.evaluation.report import EvalSettings, disentanglement_metrics
    from genlab.training import load

    scale = 0.01 if a.smoke else 1.0
    values, _ = disentanglement_metrics(
        load(run, device=a.device), EvalSettings(quiet=True, disentanglement_scale=scale)
    )
    keep = ("mig", "factor_vae_score", "dci_disentanglement", "beta_vae_score", "dci_completeness")
    return {k: values[k] for k in keep}


def fast_metrics(run: Path, a: argparse.Namespace) -> dict:
    """MIG and the FactorVAE score only (the same functions and counts), from every grid image encoded once."""
    import torch

    from genlab.data import DSprites
    from genlab.data.base import to_float
    from genlab.evaluation import disentanglement as d
    from genlab.evaluation.progress import bar
    from genlab.evaluation.report import _EncodedGrid
    from genlab.training import load

    model = load(run, device=a.device)
    source = DSprites()
    k = 0.01 if a.smoke else 1.0
    n = lambda v: max(50, int(v * k))  # noqa: E731

    def encode(images):
        with torch.no_grad():
            return model.encode(to_float(torch.as_tensor(images)).to(model.device)).cpu().numpy()

    with bar(source.num_images, "grid", True, unit="img") as progress:
        grid = _EncodedGrid(source, encode, progress)
    out = d.factor_vae_score(
        grid.represent, grid, seed=0, num_train=n(10_000), num_eval=n(5_000), num_variance_estimate=n(10_000)
    )
    out.update(d.mig(grid.represent, grid, seed=0, num_train=n(10_000)))
    return {key: out[key] for key in ("mig", "factor_vae_score")}


def run_calibration(name: str, root: Path, a: argparse.Namespace) -> None:
    """A model whose float32 Inception FID was measured on a CPU, measured here with --inception-weights."""
    for snap in sorted(Path(a.calibrate).iterdir()) if a.calibrate else []:
        record = {"job": name, "model": snap.name}
        known = snap / "known.json"
        if known.exists():
            record["cpu_float32"] = json.loads(known.read_text())
        record.update(evaluate_samples(snap, root / f"calib_{snap.name}", a, root / "calibration.log"))
        emit(record)


def job_names() -> list[str]:
    return [*(f"{s}-s{seed}" for s in DSPRITES_SETTINGS for seed in SEEDS), *VAE_JOBS, "calibration"]


def child(name: str, a: argparse.Namespace) -> None:
    root = Path(a.out)
    if name == "calibration":
        run_calibration(name, root, a)
    elif name in VAE_JOBS:
        run_vae(name, root, a)
    else:
        run_dsprites(name, root, a)


def parent(a: argparse.Namespace) -> int:
    root = Path(a.out)
    root.mkdir(parents=True, exist_ok=True)
    deadline = time.time() + a.deadline_s
    env = {**os.environ, "SEARCH_DEADLINE": str(deadline), "OMP_NUM_THREADS": "1", "NVIDIA_TF32_OVERRIDE": "0"}
    if a.inception_int8:
        a.weights = str(root / "inception_dequantized.safetensors")
        dequantize(a.inception_int8, a.weights)
    from genlab.data import DSprites

    DSprites().packed()  # render the grid cache once, before the jobs read it
    results = root / "results.jsonl"
    lock = threading.Lock()
    import torch

    header = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "torch": torch.__version__,
        "device": a.device,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "inception": "int8 per channel, dequantized" if a.inception_int8 else a.weights,
    }
    with open(results, "a") as f:
        f.write(json.dumps({"header": header}) + "\n")
    names = [n for n in job_names() if not a.only or any(n.startswith(o) for o in a.only)]

    def run_job(n: str) -> None:
        """One child: started when a slot is free, its RESULT lines appended as they come, killed at the deadline."""
        if deadline - time.time() < 60:
            return
        cmd = [sys.executable, __file__, "--child", n, "--out", a.out, "--device", a.device]
        cmd += ["--weights", a.weights or "", "--metrics-s", str(a.metrics_s), "--deadline-s", str(a.deadline_s)]
        cmd += ["--dsprites-steps", str(a.dsprites_steps), "--dsprites-segment", str(a.dsprites_segment)]
        cmd += ["--smoke"] if a.smoke else []
        cmd += ["--fast-metrics"] if a.fast_metrics else []
        cmd += ["--calibrate", a.calibrate] if a.calibrate else []
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        killer = threading.Timer(max(1.0, deadline - time.time()), p.kill)
        killer.start()
        with open(root / f"{n}.out", "w") as raw:
            for line in p.stdout:  # type: ignore[union-attr]
                raw.write(line)
                raw.flush()
                if line.startswith("RESULT "):
                    with lock, open(results, "a") as f:
                        f.write(line[7:])
                    print(line[7:], end="", flush=True)
        p.wait()
        killer.cancel()
        if p.returncode:
            with lock, open(results, "a") as f:
                f.write(json.dumps({"job": n, "returncode": p.returncode}) + "\n")

    with ThreadPoolExecutor(max_workers=a.parallel) as pool:
        list(pool.map(run_job, names))
    print(f"done in {time.time() - deadline + a.deadline_s:.0f} s", flush=True)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--deadline-s", type=float, default=480)
    p.add_argument("--inception-int8", default=None)
    p.add_argument("--metrics-s", type=float, default=240, help="time kept for a dSprites job's metrics")
    p.add_argument("--dsprites-steps", type=int, default=DSPRITES_STEPS)
    p.add_argument("--dsprites-segment", type=int, default=DSPRITES_SEGMENT)
    p.add_argument("--fast-metrics", action="store_true", help="dSprites: MIG and FactorVAE only (no DCI, BetaVAE)")
    p.add_argument("--weights", default=None, help="float32 safetensors FID Inception weights (default: genlab's)")
    p.add_argument("--calibrate", default=None, help="folder of model folders with known.json: measured here too")
    p.add_argument("--parallel", type=int, default=6, help="jobs at once (each holds one CPU thread and the GPU)")
    p.add_argument("--only", nargs="*", default=None, help="job-name prefixes to run")
    p.add_argument("--smoke", action="store_true", help="CPU, tiny sizes: the plumbing only")
    p.add_argument("--child", default=None)
    p.add_argument("--quantize", nargs=2, metavar=("SRC", "DST"))
    a = p.parse_args()
    if a.quantize:
        quantize(*a.quantize)
        return 0
    if a.smoke:
        a.device = "cpu"
    if a.child:
        a.weights = a.weights or None
        child(a.child, a)
        return 0
    return parent(a)


if __name__ == "__main__":
    sys.exit(main())
