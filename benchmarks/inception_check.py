"""genlab's Inception against the TorchScript network and torch-fidelity; speed of its CPU variants.

    .venv/bin/pip install --no-deps torch-fidelity==0.4.0
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/inception_check.py --n 1000 --threads 2

Two sets of Fashion-MNIST images, the first ``--n`` test images (A) and the first ``--n`` training
images (B), go through:

1. genlab's ``InceptionExtractor`` (the plain ``nn.Module``, fp32, channels-last): features and FID(A, B);
2. torch-fidelity 0.4.0's own InceptionV3 (``FeatureExtractorInceptionV3``: its network, its TF1
   resize, its FID code, an independent implementation), given the same converted weights from a
   local file, since it cannot download its own here. torch-fidelity's network also has the 1008-way
   logits layer, absent from the FID network; it is filled with zeros and not used (pool3 features).
   torch-fidelity imports torchvision at import time, and no torchvision build loads against this
   torch, so a stand-in ``torchvision`` package with the few names it imports (none of them called
   for InceptionV3 features) is put on ``sys.path`` from a temporary folder;
3. the TorchScript ``default_1.pt`` on a subset (largest feature difference);
4. the CPU variants, timed side by side in this one process on the same ``--time-images`` images,
   interleaved over ``--rounds`` rounds: NCHW fp32, channels-last fp32, channels-last bf16 autocast,
   and ``torch.compile`` (inductor, frozen weights) of both; FID(A, B) of the bf16 variant on the first
   ``--bf16-n`` images of each set, and of the compiled ones on the timed subset, against fp32.

Features are kept in ``--work`` (a killed run goes on where it stopped). Results:
``benchmarks/results/inception_check.json``. The machine is shared with other jobs: absolute images/s
vary from run to run, the ratios measured side by side less so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

STUB = {  # the names torch_fidelity imports from torchvision (unused for InceptionV3 features)
    "__init__.py": "from . import datasets, transforms, models, utils\n",
    "datasets.py": "class CIFAR10: pass\nclass STL10: pass\nclass CIFAR100: pass\n",
    "transforms/__init__.py": "from . import functional\nclass Compose: pass\nclass Resize: pass\n"
    "class CenterCrop: pass\nclass ToTensor: pass\n",
    "transforms/functional.py": "def normalize(*a, **k):\n    raise NotImplementedError\n",
    "models.py": "",
    "utils.py": "",
}


def import_torch_fidelity():
    root = Path(tempfile.mkdtemp(prefix="tv-stub-"))
    for name, text in STUB.items():
        (root / "torchvision" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "torchvision" / name).write_text(text)
    sys.path.insert(0, str(root))
    import torch_fidelity
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torch_fidelity.metric_fid import (
        fid_features_to_statistics,
        fid_statistics_to_metric,
    )

    return torch_fidelity.__version__, FeatureExtractorInceptionV3, fid_features_to_statistics, fid_statistics_to_metric


def fidelity_state(genlab_weights: Path, fidelity_net) -> dict:
    """torch-fidelity's state dict filled from genlab's converted tensors, conv by conv in network order
    (both networks list their convs in the same order; shapes are checked one by one)."""
    from safetensors.torch import load_file

    from genlab.evaluation.inception import InceptionV3

    tf = load_file(str(genlab_weights))
    ours = InceptionV3().conv_names()
    theirs = [n[: -len(".conv.weight")] for n in fidelity_net.state_dict() if n.endswith(".conv.weight")]
    assert len(ours) == len(theirs) == 94, (len(ours), len(theirs))
    state = {}
    for a, b in zip(ours, theirs):
        w = tf[f"{a}.weight"]
        assert w.shape == fidelity_net.state_dict()[f"{b}.conv.weight"].shape, (a, b)
        state.update(
            {
                f"{b}.conv.weight": w,
                f"{b}.bn.weight": torch.ones_like(tf[f"{a}.beta"]),
                f"{b}.bn.bias": tf[f"{a}.beta"],
                f"{b}.bn.running_mean": tf[f"{a}.mean"],
                f"{b}.bn.running_var": tf[f"{a}.var"],
                f"{b}.bn.num_batches_tracked": torch.tensor(0),
            }
        )
    state["fc.weight"] = torch.zeros(1008, 2048)  # the logits layer, not part of the FID network
    state["fc.bias"] = torch.zeros(1008)
    return state


def features(name: str, fn, images: torch.Tensor, work: Path, batch: int = 50) -> np.ndarray:
    path = work / f"{name}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    t0 = time.perf_counter()
    out = []
    for i in range(0, len(images), batch):
        out.append(np.asarray(fn(images[i : i + batch]), dtype=np.float64))
        done = i + len(out[-1])
        print(f"  {name}: {done}/{len(images)} ({done / (time.perf_counter() - t0):.1f} images/s)", flush=True)
    feats = np.concatenate(out)
    np.save(path, feats)
    return feats


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="images per set (default 1000)")
    ap.add_argument("--time-images", type=int, default=100, help="images timed per variant and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bf16-n", type=int, help="images per set for the bf16 FID (default --n)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default="runs/inception_check")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: fidelity,torchscript,variants")
    ap.add_argument("--out", default="benchmarks/results/inception_check.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    skip = set(filter(None, args.skip.split(",")))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    from genlab.data import load_dataset
    from genlab.evaluation.features import InceptionExtractor, installed_inception
    from genlab.evaluation.fid import fid_from_features

    a = load_dataset("fashion-mnist", "test").images[: args.n]  # uint8 (N, 1, 28, 28)
    b = load_dataset("fashion-mnist", "train").images[: args.n]
    ext = InceptionExtractor()
    result = {
        "command": "OMP_NUM_THREADS=2 .venv/bin/python benchmarks/inception_check.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "sets": f"A: the first {args.n} Fashion-MNIST test images; B: the first {args.n} training images",
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "load_average_at_start": os.getloadavg(),
            "note": "a 2-core machine shared with other jobs at the same time: absolute images/s "
            "vary between runs; the ratios, measured side by side, less so",
        },
        "genlab": {"features": ext.info()},
    }

    fa = features("genlab_fp32_A", ext, a, work)
    fb = features("genlab_fp32_B", ext, b, work)
    fid32 = fid_from_features(fa, fb)
    result["genlab"]["fid"] = fid32
    print(f"genlab fp32 FID(A, B) = {fid32:.6f}", flush=True)

    if "torchscript" not in skip:  # the wheel's TorchScript network on 16 images
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ts = torch.jit.load(str(installed_inception())).eval()
        x = a[:16].float().div(255).expand(-1, 3, -1, -1)
        with torch.no_grad():
            diff = (ts(ext.preprocess(x)) - ext(a[:16])).abs().max().item()
        result["torchscript"] = {"images": 16, "max_abs_feature_difference": diff}
        print(f"TorchScript vs genlab: largest feature difference {diff:.2e}", flush=True)

    if "fidelity" not in skip:
        version, Net, to_stats, to_metric = import_torch_fidelity()
        state_path = work / "torch_fidelity_inception.pth"  # written here, from genlab's safetensors file
        if not state_path.exists():

            class Skeleton(Net):  # torch-fidelity's layers as initialised, to read their names and shapes
                def load_state_dict(self, *args, **kwargs):
                    return None

            torch.save({}, work / "empty.pth")
            skeleton = Skeleton("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(work / "empty.pth"))
            torch.save(fidelity_state(ext.path, skeleton), state_path)
        net = Net("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(state_path))

        def run_fidelity(images):
            with torch.no_grad():
                return net(images.expand(-1, 3, -1, -1).contiguous())[0].numpy()

        ta = features("fidelity_A", run_fidelity, a, work)
        tb = features("fidelity_B", run_fidelity, b, work)
        fid_tf = to_metric(to_stats(torch.from_numpy(ta)), to_stats(torch.from_numpy(tb)), False)[
            "frechet_inception_distance"
        ]
        result["torch_fidelity"] = {
            "version": version,
            "fid": fid_tf,
            "fid_relative_difference": rel(fid32, fid_tf),
            "genlab_fid_of_torch_fidelity_features": fid_from_features(ta, tb),
            "max_abs_feature_difference": float(np.abs(np.concatenate([ta, tb]) - np.concatenate([fa, fb])).max()),
            "weights": f"genlab's converted safetensors mapped to torch-fidelity's names ({state_path})",
        }
        print(f"torch-fidelity FID(A, B) = {fid_tf:.6f}; relative difference {rel(fid32, fid_tf):.2e}", flush=True)

    if "variants" not in skip:
        saved = work / f"variants_{args.time_images}x{args.rounds}_bf16n{args.bf16_n or args.n}.json"
        if not saved.exists():  # measured once; a later run with every part reads it back
            saved.write_text(json.dumps(time_variants(ext, a, b, fa, fb, work, args), indent=2))
        result["variants"] = json.loads(saved.read_text())

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def time_variants(ext, a, b, fa, fb, work: Path, args) -> dict:
    from genlab.evaluation.features import InceptionExtractor
    from genlab.evaluation.fid import fid_from_features

    variants = {
        "fp32 NCHW": InceptionExtractor(channels_last=False),
        "fp32 channels-last": ext,
        "bf16 channels-last": InceptionExtractor(bf16=True),
        "fp32 channels-last + compile": InceptionExtractor(compile=True),
        "bf16 channels-last + compile": InceptionExtractor(bf16=True, compile=True),
    }
    sub = a[: args.time_images]
    out = {}
    for name, v in variants.items():  # warm-up (compilation) outside the timing
        t0 = time.perf_counter()
        v(sub[:10])
        out[name] = {"first_call_seconds": round(time.perf_counter() - t0, 1), "images_per_s": []}
        print(f"{name}: first call {out[name]['first_call_seconds']} s", flush=True)
    feats = {}
    for r in range(args.rounds):  # interleaved, so a change in the machine's load hits every variant
        for name, v in variants.items():
            t0 = time.perf_counter()
            feats[name] = v(sub).double().numpy()
            out[name]["images_per_s"].append(round(len(sub) / (time.perf_counter() - t0), 2))
        print("round", r + 1, {k: o["images_per_s"][-1] for k, o in out.items()}, flush=True)
    base = statistics.median(out["fp32 NCHW"]["images_per_s"])
    ref_sub = feats["fp32 channels-last"]
    fb_sub = fb[: args.time_images]
    fid_sub = fid_from_features(ref_sub, fb_sub)
    for name, o in out.items():
        med = statistics.median(o["images_per_s"])
        o.update(
            {
                "median_images_per_s": med,
                "speed_vs_fp32_nchw": round(med / base, 3),
                "minutes_for_10k_images": round(10_000 / med / 60, 1),
                "max_abs_feature_difference": float(np.abs(feats[name] - ref_sub).max()),
                f"fid_subset_{len(sub)}_relative_difference": rel(fid_from_features(feats[name], fb_sub), fid_sub),
            }
        )
    # bf16 on bf16_n images per set, against fp32 on the same images: the deciding figure
    m = args.bf16_n or args.n
    bf = variants["bf16 channels-last"]
    fa16 = features(f"genlab_bf16_A_{m}", bf, a[:m], work)
    fb16 = features(f"genlab_bf16_B_{m}", bf, b[:m], work)
    fid16, fid32 = fid_from_features(fa16, fb16), fid_from_features(fa[:m], fb[:m])
    out["bf16 channels-last"].update(
        {"fid_images_per_set": m, "fid_bf16": fid16, "fid_fp32": fid32, "fid_relative_difference": rel(fid16, fid32)}
    )
    print(
        f"bf16 FID(A, B) = {fid16:.6f} vs fp32 {fid32:.6f} ({m} images per set): relative difference "
        f"{rel(fid16, fid32):.2e}",
        flush=True,
    )
    return out


if __name__ == "__main__":
    raise SystemExit(main())
