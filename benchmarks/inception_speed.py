"""How fast genlab's Inception runs on this CPU, and which faster variants keep FID within 0.1%.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/inception_speed.py precision RUN --n 2500
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/inception_speed.py speed --images 200 --rounds 2

``precision``: FID between the first ``--n`` Fashion-MNIST test images and ``--n`` samples of the
run ``RUN`` (seed 1), on features computed in fp32 (the reference), with bf16 autocast on the whole
network, and with bf16 autocast on the first layers only (``stem``: the convolutions before the first
Inception block, a quarter of the time). ``--n`` must exceed 2048 so that both covariances are of
full rank: below that FID is dominated by the rank-deficient estimate and a relative difference
says little. Features are kept under ``--work`` (a killed run goes on where it stopped).

``speed``: images per second of the fp32 network, channels-last, with one stream (torch's threads
inside each convolution) and with the batch split into one stream per thread
(``InceptionExtractor(streams=...)``), timed interleaved over ``--rounds`` on the same images, after
a warm-up batch. Run it on a quiet machine: the figures are the machine's, not the code's alone.

Results: ``benchmarks/results/inception_speed.json`` (each part updates its own key).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

STEM_LAST = "pool1"  # the stem: InceptionV3.layers up to and including this one


class _Bf16(torch.nn.Module):
    """Runs a block under bf16 autocast and returns fp32."""

    def __init__(self, block: torch.nn.Module):
        super().__init__()
        self.block = block

    def forward(self, x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.block(x).float()


def extractor(mode: str, streams: int | None = None):
    from genlab.evaluation.features import InceptionExtractor

    ext = InceptionExtractor(bf16=mode == "bf16", streams=streams)
    if mode == "stem-bf16":
        for name, block in list(ext.model.layers.named_children()):
            setattr(ext.model.layers, name, _Bf16(block))
            if name == STEM_LAST:
                break
    return ext


def precision(args) -> dict:
    from genlab.evaluation.compare import to_extractor_input
    from genlab.evaluation.fid import fid_from_features
    from genlab.evaluation.imagesets import load_image_set

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    sets = {
        "real": load_image_set("fashion-mnist:test", args.n, quiet=True).images,
        "fake": load_image_set(args.run, args.n, seed=1, quiet=True).images,
    }
    fids, rates = {}, {}
    for mode in ("fp32", "bf16", "stem-bf16"):
        ext = extractor(mode, streams=1)
        feats = {}
        for which, images in sets.items():
            path = work / f"{which}_{mode}_{args.n}.npy"
            if not path.exists():
                x, _ = to_extractor_input(images, ext)
                t0 = time.perf_counter()
                f = torch.cat([ext(x[a : a + 50]) for a in range(0, len(x), 50)]).double().numpy()
                rates[f"{mode} {which}"] = round(len(x) / (time.perf_counter() - t0), 2)
                np.save(path, f)
            feats[which] = np.load(path)
        fids[mode] = fid_from_features(feats["fake"], feats["real"])
        print(mode, f"FID {fids[mode]:.4f}", flush=True)
    return {
        "command": f"benchmarks/inception_speed.py precision {args.run} --n {args.n}",
        "sets": f"the first {args.n} Fashion-MNIST test images against {args.n} samples of {args.run} (seed 1)",
        "fid": fids,
        "relative_difference_vs_fp32": {m: (f - fids["fp32"]) / fids["fp32"] for m, f in fids.items()},
        "images_per_s_while_measuring (1 thread, shared machine)": rates,
    }


def speed(args) -> dict:
    torch.manual_seed(0)
    images = torch.rand(args.images, 1, 28, 28)
    threads = torch.get_num_threads()
    variants = {"fp32, 1 stream": extractor("fp32", streams=1), f"fp32, {threads} streams": extractor("fp32")}
    if args.stem:
        variants[f"stem-bf16, {threads} streams"] = extractor("stem-bf16")
    out: dict[str, list[float]] = {name: [] for name in variants}
    for v in variants.values():
        v(images[:10])  # warm-up
    for _ in range(args.rounds):  # interleaved: a change in the machine's load hits every variant
        for name, v in variants.items():
            t0 = time.perf_counter()
            v(images)
            out[name].append(round(len(images) / (time.perf_counter() - t0), 2))
        print({k: r[-1] for k, r in out.items()}, flush=True)
    return {
        "command": f"OMP_NUM_THREADS={threads} benchmarks/inception_speed.py speed --images {args.images} "
        f"--rounds {args.rounds}",
        "threads": threads,
        "load_average_at_start": list(os.getloadavg()),
        "images_per_s": {k: {"rounds": r, "median": statistics.median(r)} for k, r in out.items()},
        "minutes_for_10k": {k: round(10_000 / statistics.median(r) / 60, 1) for k, r in out.items()},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="part", required=True)
    p = sub.add_parser("precision")
    p.add_argument("run", help="a run directory whose samples are scored")
    p.add_argument("--n", type=int, default=2500)
    p.add_argument("--work", default="runs/inception_speed")
    s = sub.add_parser("speed")
    s.add_argument("--images", type=int, default=200)
    s.add_argument("--rounds", type=int, default=2)
    s.add_argument("--stem", action="store_true", help="time the stem-bf16 variant too")
    ap.add_argument("--out", default="benchmarks/results/inception_speed.json")
    args = ap.parse_args(argv)
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {}
    result[args.part] = precision(args) if args.part == "precision" else speed(args)
    result["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
