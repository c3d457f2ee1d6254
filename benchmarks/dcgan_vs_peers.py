"""genlab's GAN against the reference DCGAN scripts on Fashion-MNIST: throughput, peak memory, FID, side by side.

The peers, run unmodified from a folder outside this repository (copied out of their repositories
with ``git show``; ``--peers-dir``, default ``/work/peers``):

    pg   PyTorch-GAN ``implementations/dcgan/dcgan.py``   -> PEERS/pytorch-gan/dcgan/dcgan.py
         (its defaults: 32x32, batch 64, latent 100, Adam 2e-4 (0.5, 0.999), BCE; G = linear to
         128x8x8, BatchNorm, 2 x (nearest upsampling, 3x3 conv, BatchNorm(eps 0.8), LeakyReLU), 3x3 conv;
         D = 4 x (3x3 stride-2 conv, LeakyReLU, Dropout2d 0.25, BatchNorm(eps 0.8) but the first))
    ex   pytorch/examples ``dcgan/main.py``                 -> PEERS/examples-dcgan/main.py
         (``--dataset mnist --workers 0``: 64x64, batch 64, nz 100, ngf = ndf = 64; Radford et al.'s
         network; ``--workers 0`` keeps its data loading in the one process, as the thread budget says)

They import torchvision; :mod:`peers` writes a small stand-in package for the calls they make
(``PEERS/torchvision_standin``, Fashion-MNIST served as ``datasets.MNIST``) and runs each script with
``runpy``, stopping it after the same number of training images as genlab.

The runs (each in a fresh process, ``nice -n 10``, ``OMP_NUM_THREADS`` = ``--threads``; every pair
measured in turns, round by round, so that the machine's other load falls on both sides alike):

    pg, genlab-pg    (a) the same networks: genlab ``arch=dcgan-upsample, channels=16,32,64,128,
                     g_channels=128,128,64, latent_dim=100`` at 32x32 (images resized by genlab), the
                     peer's BatchNorm eps of 0.8 set on the same layers, started from the peer's own
                     initial weights (taken when the script builds its optimiser; the outputs of both
                     networks on the same noise are compared before training)
    ex, genlab-ex    (a) the same: genlab ``arch=dcgan-radford, latent_dim=100`` at 64x64, from the
                     peer's initial weights
    genlab-pg-bf16, genlab-ex-bf16   the same with genlab's ``amp_cpu=True`` (bf16 autocast of the
                     forward passes on a CPU with AVX-512 BF16; the peers have no such option)
    genlab-default   (b) genlab's ``gan-ns-fashion`` recipe (28x28, its DCGAN, latent 64, EMA), as the
                     peers' default runs above are their own defaults: equal images
    genlab-default-time  (b) the same for the wall-clock time of the pg run of the round
    genlab-default-time-ex  (b) the same for the wall-clock time of the ex run of the round

genlab trains with ``fit`` and a run directory (metrics, TensorBoard, checkpoint at the end), its
defaults otherwise (EMA of G, G's update on D's fake batch). Throughput is taken between the 5th and
the last training batch (each side's log line or step: data, both updates and logging included; the
start-up, data loading and sampling excluded). Peak RSS is the process's, read at the end of
training. FID: ``--n-fid`` (default 5,000) samples of each trained generator (eval mode; genlab's
EMA and raw G, the peer's
G also in training mode, batches of 64) against the 10k Fashion-MNIST test images on genlab's
Fashion-MNIST classifier features (``genlab.evaluation.fid_between``, ``classifier:fashion-mnist``;
32 and 64 px samples resized to 28 by it).

    python benchmarks/dcgan_vs_peers.py --pairs pg,ex,default --images 6400 --images-ex 1280 --n-fid 2000 --threads 1

Resumable: runs already in ``benchmarks/results/dcgan_vs_peers.json`` (same round and side) are
kept; delete the file or give ``--fresh`` to start again.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import peers  # noqa: E402

BATCH = 64
N_FID = 5000
PAIRS = {
    "pg": ["pg", "genlab-pg", "genlab-pg-bf16"],
    "ex": ["ex", "genlab-ex", "genlab-ex-bf16"],
    "default": ["genlab-default"],
    "default-time": ["genlab-default-time"],
    "default-time-ex": ["genlab-default-time-ex"],
}
# (b) at equal wall-clock time: the peer run of the round whose time each such side gets
TIMED_AGAINST = {"genlab-default-time": "pg", "genlab-default-time-ex": "ex"}
PEER = {
    "pg": {
        "script": "pytorch-gan/dcgan/dcgan.py",
        "args": ["--n_epochs", "1"],
        "line": r"\[Batch \d+/\d+\]",
        "g": "generator",
        "d": "discriminator",
        "size": 32,
    },
    "ex": {
        "script": "examples-dcgan/main.py",
        "args": ["--dataset", "mnist", "--dataroot", "data", "--workers", "0", "--niter", "1", "--manualSeed", "0"],
        "line": r"Loss_D: .* Loss_G: ",
        "g": "netG",
        "d": "netD",
        "size": 64,
    },
}


# ---- the networks: genlab configured as each peer, and the peer's weights in genlab's names ----


def genlab_config(side: str) -> dict:
    common = dict(loss="nonsaturating", latent_dim=100)
    side = side.removesuffix("-bf16")
    if side == "genlab-pg":
        return dict(
            image_shape=(1, 32, 32),
            arch="dcgan-upsample",
            channels=(16, 32, 64, 128),
            g_channels=(128, 128, 64),
            **common,
        )
    if side == "genlab-ex":
        return dict(image_shape=(1, 64, 64), arch="dcgan-radford", channels=(64, 128, 256, 512), **common)
    # gan-ns-fashion's values, with the model's default reuse_fake=True (the recipe file pins False, as
    # its literature runs were measured)
    return dict(image_shape=(1, 28, 28), loss="nonsaturating", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999))


def peer_to_genlab(peer: str, g: dict, d: dict) -> tuple[dict, dict]:
    """The peer's G and D state dicts under genlab's names (and shapes: a 4x4 transposed conv on the
    1x1 noise is a linear layer, a 4x4 conv on the last 4x4 map too)."""
    if peer == "pg":
        gmap = {"l1.0": "net.fc", "conv_blocks.0": "net.start_norm", "conv_blocks.2": "net.convs.0"}
        gmap |= {"conv_blocks.3": "net.norms.0", "conv_blocks.6": "net.convs.1", "conv_blocks.7": "net.norms.1"}
        gmap |= {"conv_blocks.9": "net.out"}
        dmap = {f"model.{i}": f"phi.{i}" for i in range(15)} | {"adv_layer.0": "psi"}
    else:
        gmap = {"main.1": "net.start_norm"}
        gmap |= {f"main.{3 * i + 3}": f"net.ups.{i}" for i in range(4)}
        gmap |= {f"main.{3 * i + 4}": f"net.norms.{i}" for i in range(3)}
        dmap = {f"main.{i}": f"phi.{i}" for i in range(11)}
    out_g, out_d = {}, {}
    for k, v in g.items():
        mod, _, name = k.rpartition(".")
        if peer == "ex" and mod == "main.0":  # (nz, C0, 4, 4) transposed conv -> linear (C0*16, nz)
            out_g["net.fc.weight"] = v.reshape(v.shape[0], -1).T.contiguous()
        else:
            out_g[f"{gmap[mod]}.{name}"] = v
    for k, v in d.items():
        mod, _, name = k.rpartition(".")
        if peer == "ex" and mod == "main.11":  # (1, C, 4, 4) conv -> linear (1, C*16)
            out_d["psi.weight"] = v.reshape(1, -1)
        else:
            out_d[f"{dmap[mod]}.{name}"] = v
    return out_g, out_d


def peer_eps(model) -> None:
    """PyTorch-GAN's ``BatchNorm2d(C, 0.8)`` passes 0.8 as eps: the same on genlab's matching layers."""
    g = model.generator.net
    for bn in [*g.norms, *[m for m in model.discriminator.phi if isinstance(m, torch.nn.BatchNorm2d)]]:
        bn.eps = 0.8


FIXED_Z = 16


def fixed_noise(latent: int) -> torch.Tensor:
    return torch.randn(FIXED_Z, latent, generator=torch.Generator().manual_seed(123))


# ---- samples and FID ----


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """G's output in [-1, 1] -> uint8 (N, C, H, W)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


@torch.no_grad()
def draw(g_fn, n: int, latent: int, shape_z, train_mode_net=None) -> np.ndarray:
    gen = torch.Generator().manual_seed(7)
    out = []
    for a in range(0, n, BATCH if train_mode_net is not None else 500):
        b = min(BATCH if train_mode_net is not None else 500, n - a)
        z = torch.randn(b, latent, generator=gen).reshape(b, *shape_z)
        out.append(to_uint8(g_fn(z)))
    return np.concatenate(out)


def fid(samples: np.ndarray) -> dict:
    from genlab.evaluation import fid_between

    r = fid_between(samples, "fashion-mnist:test", features="classifier:fashion-mnist", quiet=True)
    return {k: r[k] for k in ("fid", "kid", "precision", "recall") if k in r}


# ---- one side, in its own process ----


def child_peer(side: str, args, work: Path) -> dict:
    spec = PEER[side]
    standin = peers.write_standin(Path(args.peers_dir))
    script = Path(args.peers_dir) / spec["script"]
    load0 = os.getloadavg()
    r = peers.run_peer(script, spec["args"], work, standin, spec["line"], args.images, BATCH)
    load1 = os.getloadavg()
    g, d = r["globals"][spec["g"]], r["globals"][spec["d"]]
    init = {"g": r["init"][spec["g"]], "d": r["init"][spec["d"]]}
    latent = r["globals"]["opt"].latent_dim if side == "pg" else r["globals"]["nz"]
    shape_z = (latent,) if side == "pg" else (latent, 1, 1)
    # the peer's networks at their initial weights, in eval mode, on fixed noise: genlab's must agree
    g0, d0 = _copy_net(g, init["g"]), _copy_net(d, init["d"])
    with torch.no_grad():
        x0 = g0(fixed_noise(latent).reshape(FIXED_Z, *shape_z))
        p0 = d0(x0).reshape(-1)
    _save_tensors(work / "init.safetensors", init, {"x0": x0, "p0": p0})
    thr = peers.steady_throughput(r["marks"], BATCH, r["cpu"])
    res = {
        "side": side,
        **thr,
        "wall_s_to_last_batch": r["marks"][-1] - r["start"],
        "rss_mb": r["rss_mb"],
        "params_g": sum(p.numel() for p in g.parameters()),
        "params_d": sum(p.numel() for p in d.parameters()),
        "loadavg_before": load0,
        "loadavg_after": load1,
    }
    g.eval()
    fids = {"g_eval": fid(draw(g, args.n_fid, latent, shape_z))}
    g.train()
    fids["g_train_mode"] = fid(draw(g, args.n_fid, latent, shape_z, train_mode_net=g))
    res["fid"] = fids
    return res


def _copy_net(net, state):
    import copy

    c = copy.deepcopy(net)
    c.load_state_dict(state)
    return c.eval()


def _save_tensors(path: Path, init: dict, extra: dict) -> None:
    from safetensors.torch import save_file

    flat = {f"{k}.{n}": t.contiguous() for k, sd in init.items() for n, t in sd.items()}
    save_file({**flat, **{f"out.{k}": v.contiguous() for k, v in extra.items()}}, str(path))


def _load_tensors(path: Path) -> tuple[dict, dict, dict]:
    from safetensors.torch import load_file

    flat = load_file(str(path))
    part = lambda p: {k[len(p) + 1 :]: v for k, v in flat.items() if k.startswith(p + ".")}  # noqa: E731
    return part("g"), part("d"), part("out")


def child_genlab(side: str, args, work: Path, peer_work: Path | None, seconds: float | None) -> dict:
    from genlab.data import load_dataset
    from genlab.models import build_model
    from genlab.training import TrainConfig, fit

    cfg = genlab_config(side)
    torch.manual_seed(0)
    model = build_model("gan", **cfg)
    check = {}
    if side.startswith(("genlab-pg", "genlab-ex")):
        peer = side.split("-")[1]
        if peer == "pg":
            peer_eps(model)
        g_sd, d_sd, out = _load_tensors(peer_work / "init.safetensors")
        g_gl, d_gl = peer_to_genlab(peer, g_sd, d_sd)
        model.generator.load_state_dict(g_gl)
        model.discriminator.load_state_dict(d_gl)
        model.generator_ema.load_state_dict(model.generator.state_dict())
        model.eval()
        with torch.no_grad():
            x = model.generator(fixed_noise(100))
            p = model.discriminator(x)
        check = {
            "g_max_abs_diff": float((x - out["x0"]).abs().max()),
            "d_max_abs_diff": float((torch.sigmoid(p) - out["p0"]).abs().max()),
        }
        assert check["g_max_abs_diff"] < 1e-4 and check["d_max_abs_diff"] < 1e-4, check
        model.train()
    data = load_dataset("fashion-mnist", "train", image_size=cfg["image_shape"][-1])
    steps = -(-args.images // BATCH)
    if seconds:
        steps = 10**6
    marks: list[float] = []
    cpu: list[float] = []
    step_fn = model.train_step

    def timed_step(*a, **kw):  # a clock on each step, nothing else
        out = step_fn(*a, **kw)
        marks.append(time.perf_counter())
        cpu.append(time.process_time())
        if seconds and marks[-1] - t0 >= seconds:
            raise KeyboardInterrupt
        return out

    model.train_step = timed_step
    run_dir = work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    try:
        train = TrainConfig(batch_size=BATCH, steps=steps, seed=0, amp_cpu=side.endswith("-bf16"))
        fit(model, data, train, run_dir=run_dir, quiet=True)
    except KeyboardInterrupt:  # the time budget: the step is complete, fit saved a checkpoint
        model.eval()
    rss = peers.peak_rss_mb()
    load1 = os.getloadavg()
    del model.train_step
    thr = peers.steady_throughput(marks, BATCH, cpu)
    res = {
        "side": side,
        **thr,
        "wall_s_to_last_batch": marks[-1] - t0,
        "rss_mb": rss,
        "params_g": sum(p.numel() for p in model.generator.parameters()),
        "params_d": sum(p.numel() for p in model.discriminator.parameters()),
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
        "amp_cpu": side.endswith("-bf16"),
        "same_outputs_at_init": check,
        "loadavg_before": load0,
        "loadavg_after": load1,
    }
    latent = model.config.latent_dim
    g = model.generator
    fids = {"ema_eval": fid(draw(lambda z: model.decode(z) * 2 - 1, args.n_fid, latent, (latent,)))}
    g.eval()
    fids["g_eval"] = fid(draw(g, args.n_fid, latent, (latent,)))
    g.train()
    fids["g_train_mode"] = fid(draw(g, args.n_fid, latent, (latent,), train_mode_net=g))
    res["fid"] = fids
    return res


def child(args) -> None:
    torch.set_num_threads(args.threads)
    work = Path(args.work) / f"round{args.round}" / args.child
    work.mkdir(parents=True, exist_ok=True)
    if args.child in PEER:
        res = child_peer(args.child, args, work)
    else:
        peer_work = Path(args.work) / f"round{args.round}" / args.child.split("-")[1]
        res = child_genlab(args.child, args, work, peer_work, args.seconds)
    res["threads"] = torch.get_num_threads()
    Path(args.out).write_text(json.dumps(res, indent=2, default=float) + "\n")


# ---- the orchestrator ----


def _git(*a) -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", default="pg,ex,default", help="comma-separated: " + ", ".join(PAIRS))
    ap.add_argument("--images", type=int, default=9600, help="training images per run (a multiple of 64)")
    ap.add_argument("--images-ex", type=int, default=None, help="for the ex pair (64x64 is slower); default --images")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--first-round", type=int, default=0, help="start at this round (earlier ones kept)")
    ap.add_argument("--skip", default="", help="comma-separated sides not to run (e.g. genlab-pg-bf16)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--peers-dir", default="/work/peers")
    ap.add_argument("--work", default="/tmp/genlab_dcgan_vs_peers")
    ap.add_argument("--out", default=str(HERE / "results" / "dcgan_vs_peers.json"))
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--nice", type=int, default=10, help="niceness added for each side's process")
    ap.add_argument("--note", default="")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--n-fid", type=int, default=N_FID, help="samples per generator for FID")
    args = ap.parse_args()
    if args.child:
        return child(args)

    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() and not args.fresh else {"runs": []}
    done = {(r["round"], r["side"]) for r in result["runs"]}
    for rnd in range(args.first_round, args.rounds):
        for pair in args.pairs.split(","):
            for side in PAIRS[pair]:
                if (rnd, side) in done or side in args.skip.split(","):
                    continue
                images = args.images_ex if (pair == "ex" and args.images_ex) else args.images
                options = ["--threads", str(args.threads), "--peers-dir", args.peers_dir, "--work", args.work]
                options += ["--n-fid", str(args.n_fid)]
                if side in TIMED_AGAINST:
                    peer = TIMED_AGAINST[side]
                    ran = [r for r in result["runs"] if r["round"] == rnd and r["side"] == peer]
                    if not ran:
                        print(f"[bench] {side} needs the {peer} run of the round; skipped")
                        continue
                    options += ["--seconds", str(ran[0]["wall_s_to_last_batch"])]
                r = peers.run_side(__file__, side, rnd, images, options, args.work, args.threads, args.nice)
                r["images_asked"] = images
                result["runs"].append(r)
                print(
                    f"[bench] {side}: {r['steady_images_per_s']:.1f} images/s "
                    f"({r['steady_images_per_cpu_s']:.1f} per CPU-s), RSS {r['rss_mb']:.0f} MB, "
                    f"FID {json.dumps({k: round(v['fid'], 2) for k, v in r['fid'].items()})}",
                    flush=True,
                )
                _write(out, result, args)
    _write(out, result, args)
    print(json.dumps(result["summary"], indent=2))


def _write(out: Path, result: dict, args) -> None:
    runs = result["runs"]

    def med(side, key="steady_images_per_s"):
        v = [r[key] for r in runs if r["side"] == side]
        return statistics.median(v) if v else None

    summary = {}
    for peer, mine in [(p, f"genlab-{p}{b}") for p in ("pg", "ex") for b in ("", "-bf16")] + [
        ("pg", "genlab-default"),
        ("ex", "genlab-default"),
    ]:
        if med(peer) and med(mine):
            summary[f"{mine}_over_{peer}"] = {
                "throughput_ratio": med(mine) / med(peer),
                "per_cpu_second_ratio": med(mine, "steady_images_per_cpu_s") / med(peer, "steady_images_per_cpu_s"),
                "per_round": [
                    a["steady_images_per_s"] / b["steady_images_per_s"]
                    for a in runs
                    if a["side"] == mine
                    for b in runs
                    if b["side"] == peer and b["round"] == a["round"]
                ],
                "rss_mb": [med(mine, "rss_mb"), med(peer, "rss_mb")],
            }
    result["summary"] = summary
    result["settings"] = {"batch": BATCH, "n_fid": args.n_fid, "threads": args.threads, "note": args.note}
    result["environment"] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "git_commit": _git("rev-parse", "HEAD"),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float) + "\n")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
