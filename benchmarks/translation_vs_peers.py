"""genlab's pix2pix and CycleGAN against PyTorch-GAN's ``pix2pix.py`` and ``cyclegan.py``: training throughput.

The peers run unmodified from a folder outside this repository (``--peers-dir``, default
``/work/peers``: ``pytorch-gan/pix2pix/`` and ``pytorch-gan/cyclegan/``, each script with its
``models.py``, ``datasets.py`` (and ``utils.py``) copied out of the PyTorch-GAN repository with
``git show``), with the torchvision stand-in of :mod:`peers`. genlab's built-in data sets are
exported to the folder layouts they read:

    maps            -> DATA/maps/{train,val}/N.png, the map on the left and the aerial view on the
                       right (pix2pix.py trains on the right half -> the left: aerial -> map)
    fashion-stripes -> DATA/fashion-stripes/{train,test}/{A,B}/N.png (grey; cyclegan.py reads RGB)

The runs, each in a fresh process (``nice -n 10``, ``--nice`` to change, ``OMP_NUM_THREADS`` = ``--threads``), a pair's
two sides one after the other, round by round, so that the machine's other load falls on both:

    p2p, genlab-p2p   256x256 (the peer's U-Net has 8 stride-2 layers and needs 256 px; maps are
                      64 px, resized to 256 by each side), batch 1 (the peer's default), the peer's
                      defaults (ngf = ndf = 64, instance norm, least-squares GAN loss, L1 x 100, Adam
                      2e-4 (0.5, 0.999)); genlab ``ngf=64, ndf=64, norm=instance, gan_loss=lsgan,
                      g_arch=unet-upsample, patch_layers=3, patch_last_stride=2``
    cyc, genlab-cyc   64x64 (``--img_height 64 --img_width 64``), batch 1, RGB (fashion-stripes
                      tiled to 3 channels for genlab, as the peer's loader converts grey to RGB),
                      9 ResNet blocks, ngf = ndf = 64, instance norm, least-squares loss, cycle 10,
                      identity 5, a history of 50; genlab ``ngf=64, ndf=64, n_blocks=9,
                      upsample=nearest, patch_layers=3, patch_last_stride=2``
    genlab-p2p-bf16,  the same with ``amp_cpu=True`` (the forward passes in bf16 autocast; fast on
    genlab-cyc-bf16   CPUs with AVX-512 BF16 or AMX); each genlab run records its per-step losses, so
                      the bf16 run's can be read beside the float32 run's from the same weights
                      (``--skip`` leaves sides out)

genlab is configured with the peer's networks layer for layer: the upsampling U-Net (conv-norm-
activation blocks, no biases, dropout in the 5 innermost encoder and 4 innermost decoder layers, a
nearest-neighbour upsampling + 4x4 conv output layer), PatchGANs whose 4th conv has stride 2, and
ResNet generators that upsample by nearest neighbour + 3x3 conv. Parameter counts are equal but for
the bias of the pix2pix PatchGAN's last conv, which PyTorch-GAN leaves out (set to 0 at the start).
genlab starts from the peer's own initial weights (taken when its script builds its first
optimiser; the pix2pix D's first conv with its input halves swapped, as the peer concatenates
(output, input) and genlab (input, output)), and before training every network's output on a fixed
input is compared with the peer's (``init_check`` in the JSON; the run stops if they differ by more
than 1e-4). ``--paper-layers`` runs genlab's own (the papers') layers instead, as the first
measurement did. Besides images/s the script records each side's parameters and the forward FLOPs
of its networks per training image (``torch.utils.flop_counter``), and the ratio of FLOP rates.

Throughput is taken between the 5th and the last training batch (each side's log line or step: data,
updates and logging included; start-up and data loading excluded). Peak RSS at the end of training.

    python benchmarks/translation_vs_peers.py --pairs p2p,cyc --images-p2p 20 --images-cyc 30 --rounds 2 --threads 1

Resumable: runs already in ``benchmarks/results/translation_vs_peers.json`` are kept (``--fresh``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import peers  # noqa: E402

PAIRS = {"p2p": ["p2p", "genlab-p2p", "genlab-p2p-bf16"], "cyc": ["cyc", "genlab-cyc", "genlab-cyc-bf16"]}
PEER = {
    "p2p": {
        "script": "pytorch-gan/pix2pix/pix2pix.py",
        "args": ["--dataset_name", "maps", "--n_cpu", "0", "--img_height", "256", "--img_width", "256"],
        "line": r"\[Batch \d+/\d+\] \[D loss",
        "nets": ["generator", "discriminator"],
    },
    "cyc": {
        "script": "pytorch-gan/cyclegan/cyclegan.py",
        "args": ["--dataset_name", "fashion-stripes", "--n_cpu", "0", "--img_height", "64", "--img_width", "64"],
        "line": r"\[Batch \d+/\d+\] \[D loss",
        "nets": ["G_AB", "G_BA", "D_A", "D_B"],
    },
}
SIZE = {"p2p": 256, "cyc": 64}


def peer_of(side: str) -> str:
    """'p2p' or 'cyc': the pair a side belongs to ('genlab-cyc-bf16' -> 'cyc')."""
    return side.split("-")[1] if side.startswith("genlab-") else side


# ---- data in the peers' layouts ----


def _png(a: np.ndarray, path: Path) -> None:
    from PIL import Image

    img = a.transpose(1, 2, 0)  # (H, W, C)
    Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img).save(path)


def export_maps(root: Path) -> Path:
    from genlab.data import load_dataset

    out = root / "maps"
    for split, folder in (("train", "train"), ("test", "val")):
        d = out / folder
        if d.is_dir() and any(d.iterdir()):
            continue
        d.mkdir(parents=True, exist_ok=True)
        data = load_dataset("maps", split)
        for i, (aerial, flat) in enumerate(zip(data.images.numpy(), data.pair.numpy())):
            _png(np.concatenate([flat, aerial], axis=2), d / f"{i}.png")  # (3, 64, 128): map | aerial
    return out


def export_stripes(root: Path) -> Path:
    from genlab.data import load_dataset

    out = root / "fashion-stripes"
    for split in ("train", "test"):
        if (out / split / "B").is_dir() and any((out / split / "B").iterdir()):
            continue
        data = load_dataset("fashion-stripes", split)
        for side, images in (("A", data.images), ("B", data.pair)):
            d = out / split / side
            d.mkdir(parents=True, exist_ok=True)
            for i, a in enumerate(images.numpy()):
                _png(a, d / f"{i}.png")
    return out


# ---- FLOPs of a side's networks per training image ----


def forward_flops(nets: dict, inputs: dict) -> dict:
    """Forward FLOPs (multiply-add = 2) of each network on its input for one image."""
    from torch.utils.flop_counter import FlopCounterMode

    out = {}
    for name, net in nets.items():
        was = net.training
        net.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            net(*inputs[name])
        net.train(was)
        out[name] = fc.get_total_flops()
    return out


def peer_flops(side: str, g: dict) -> dict:
    s = SIZE[peer_of(side)]
    x = torch.zeros(1, 3, s, s)
    if side == "p2p":
        return forward_flops(
            {"generator": g["generator"], "discriminator": g["discriminator"]},
            {"generator": (x,), "discriminator": (x, x)},
        )
    nets = {k: g[k] for k in PEER["cyc"]["nets"]}
    return forward_flops(nets, {k: (x,) for k in nets})


def genlab_flops(side: str, model) -> dict:
    s = SIZE[peer_of(side)]
    x = torch.zeros(1, 3, s, s)
    if peer_of(side) == "p2p":
        return forward_flops(
            {"generator": model.generator, "discriminator": model.discriminator},
            {"generator": (x,), "discriminator": (torch.cat([x, x], 1),)},
        )
    nets = model.networks()
    return forward_flops(nets, {k: (x,) for k in nets})


# ---- one side, in its own process ----


def child_peer(side: str, args, work: Path) -> dict:
    spec = PEER[side]
    data_root = work / "data"
    (export_maps if side == "p2p" else export_stripes)(data_root)
    standin = peers.write_standin(Path(args.peers_dir))
    script = Path(args.peers_dir) / spec["script"]
    load0 = os.getloadavg()
    r = peers.run_peer(script, spec["args"], work / "run" / "run", standin, spec["line"], args.images, 1, echo_every=10)
    load1 = os.getloadavg()
    g = r["globals"]
    init = {k: r["init"][k] for k in spec["nets"]}
    outputs = {}
    for k in spec["nets"]:
        net = copy.deepcopy(g[k])
        net.load_state_dict(init[k])
        with torch.no_grad():
            outputs[k] = net.eval()(*fixed_inputs(side, k))
    save_tensors(work / "init.safetensors", {**init, "out": outputs})
    return {
        "side": side,
        **peers.steady_throughput(r["marks"], 1, r["cpu"]),
        "wall_s_to_last_batch": r["marks"][-1] - r["start"],
        "rss_mb": r["rss_mb"],
        "params": {k: sum(p.numel() for p in g[k].parameters()) for k in spec["nets"]},
        "forward_flops": peer_flops(side, g),
        "loadavg_before": load0,
        "loadavg_after": load1,
    }


def fixed_inputs(side: str, net: str) -> tuple[torch.Tensor, ...]:
    """The peer network's arguments for the start-of-training check: pix2pix's D takes (output, input)."""
    s = SIZE[peer_of(side)]
    x = torch.randn(2, 3, s, s, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    return (x, x.flip(-1)) if net == "discriminator" else (x,)


def save_tensors(path: Path, nested: dict) -> None:
    """{net: state dict} to safetensors, the keys' order kept in the metadata (the file sorts them)."""
    from safetensors.torch import save_file

    flat = {f"{k}/{n}": t.contiguous() for k, sd in nested.items() for n, t in sd.items()}
    save_file(flat, str(path), metadata={"order": json.dumps(list(flat))})


def load_tensors(path: Path) -> dict:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), "pt") as f:
        order = json.loads(f.metadata()["order"])
    flat = load_file(str(path))
    nested: dict = {}
    for key in order:
        k, n = key.split("/", 1)
        nested.setdefault(k, {})[n] = flat[key]
    return nested


def peer_to_genlab(side: str, name: str, peer_sd: dict, genlab_sd: dict) -> dict:
    """A peer network's state dict in genlab's names: matched by position (same shapes in the same order),
    but for the U-Net's decoder (the peer lists it innermost first), the pix2pix D's first conv (its
    input halves swapped) and that D's last bias (absent in the peer: 0)."""
    peer = dict(peer_sd)
    if peer_of(side) == "p2p" and name == "generator":  # down1..8, up1..7, final -> down, up7..up1, final
        ups = [k for k in peer if k.startswith("up")][::-1]
        peer = {
            k: peer[k] for k in [*(k for k in peer if k.startswith("down")), *ups, "final.2.weight", "final.2.bias"]
        }
    out = {}
    values = list(peer.values())
    for i, (k, v) in enumerate(genlab_sd.items()):
        out[k] = values[i] if i < len(values) else torch.zeros_like(v)
        assert out[k].shape == v.shape, (name, k, tuple(out[k].shape), tuple(v.shape))
    if peer_of(side) == "p2p" and name == "discriminator":
        w = out["net.0.weight"]
        out["net.0.weight"] = torch.cat([w[:, 3:], w[:, :3]], 1)  # peer: (output, input); genlab: (input, output)
    return out


def start_from_peer(side: str, model, peer_work: Path) -> dict:
    """Load the peer's initial weights into genlab's networks and compare their outputs on the fixed inputs."""
    saved = load_tensors(peer_work / "init.safetensors")
    peer = peer_of(side)
    nets = (
        {"generator": model.generator, "discriminator": model.discriminator}
        if peer == "p2p"
        else {"G_AB": model.g_ab, "G_BA": model.g_ba, "D_A": model.d_a, "D_B": model.d_b}
    )
    diffs = {}
    for name, net in nets.items():
        net.load_state_dict(peer_to_genlab(side, name, saved[name], net.state_dict()))
        args = fixed_inputs(side, name)
        if peer == "p2p" and name == "discriminator":
            args = (torch.cat([args[1], args[0]], 1),)
        with torch.no_grad():
            diffs[name] = float((net.eval()(*args) - saved["out"][name]).abs().max())
        net.train()
    assert max(diffs.values()) < 1e-4, diffs
    return {"max_abs_output_diff": diffs}


def genlab_config(side: str, paper_layers: bool = False) -> tuple[str, dict]:
    """(family, config) of genlab's side: the peer's networks, or with ``paper_layers`` genlab's own."""
    if peer_of(side) == "p2p":
        cfg = dict(image_shape=(3, 256, 256), ngf=64, ndf=64, norm="instance", gan_loss="lsgan", patch_layers=3)
        return "pix2pix", cfg if paper_layers else {**cfg, "g_arch": "unet-upsample", "patch_last_stride": 2}
    cfg = dict(image_shape=(3, 64, 64), ngf=64, ndf=64, n_blocks=9, norm="instance", gan_loss="lsgan", patch_layers=3)
    return "cyclegan", cfg if paper_layers else {**cfg, "upsample": "nearest", "patch_last_stride": 2}


def genlab_model_and_data(side: str, paper_layers: bool):
    from genlab.data import load_dataset
    from genlab.data.base import ImageData
    from genlab.models import build_model

    family, cfg = genlab_config(side, paper_layers)
    if family == "pix2pix":
        return build_model(family, **cfg), load_dataset("maps", "train", image_size=256), cfg
    d = load_dataset("fashion-stripes", "train", image_size=64)
    rgb = lambda t: t.expand(-1, 3, -1, -1).contiguous()  # noqa: E731
    data = ImageData(d.name, rgb(d.images), pair=rgb(d.pair), meta=d.meta)
    return build_model(family, **cfg), data, cfg


def child_genlab(side: str, args, work: Path) -> dict:
    from genlab.training import TrainConfig, fit

    torch.manual_seed(0)
    model, data, cfg = genlab_model_and_data(side, args.paper_layers)
    check = {}
    if not args.paper_layers:
        check = start_from_peer(side, model, work.parent / peer_of(side))
    marks: list[float] = []
    cpu: list[float] = []
    step_fn = model.train_step

    losses: list[dict] = []

    def timed_step(*a, **kw):
        out = step_fn(*a, **kw)
        marks.append(time.perf_counter())
        cpu.append(time.process_time())
        losses.append(out)
        return out

    model.train_step = timed_step
    run_dir = work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    bf16 = side.endswith("-bf16")
    fit(model, data, TrainConfig(batch_size=1, steps=args.images, seed=0, amp_cpu=bf16), run_dir=run_dir, quiet=True)
    rss = peers.peak_rss_mb()
    load1 = os.getloadavg()
    del model.train_step
    return {
        "side": side,
        **peers.steady_throughput(marks, 1, cpu),
        "wall_s_to_last_batch": marks[-1] - t0,
        "rss_mb": rss,
        "params": {k: sum(p.numel() for p in n.parameters()) for k, n in model.networks().items()},
        "forward_flops": genlab_flops(side, model),
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
        "init_check": check,
        "losses": {k: [float(o[k]) for o in losses] for k in losses[0]},
        "loadavg_before": load0,
        "loadavg_after": load1,
    }


def child(args) -> None:
    torch.set_num_threads(args.threads)
    work = Path(args.work) / f"round{args.round}" / args.child
    work.mkdir(parents=True, exist_ok=True)
    res = child_peer(args.child, args, work) if args.child in PEER else child_genlab(args.child, args, work)
    res["threads"] = torch.get_num_threads()
    Path(args.out).write_text(json.dumps(res, indent=2, default=float) + "\n")


# ---- the orchestrator ----


def flops_per_image(r: dict) -> float:
    """Forward FLOPs of one training iteration's network passes per image, counted the same for both
    sides: pix2pix G once and D three times (real, fake for D, fake for G); CycleGAN each G three
    times (translation, cycle, identity) and each D three times."""
    f = r["forward_flops"]
    if peer_of(r["side"]) == "p2p":
        return f["generator"] + 3 * f["discriminator"]
    return 3 * sum(v for k, v in f.items() if k.lower().startswith("g")) + 3 * sum(
        v for k, v in f.items() if k.lower().startswith("d")
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", default="p2p,cyc")
    ap.add_argument("--images-p2p", type=int, default=20)
    ap.add_argument("--images-cyc", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--peers-dir", default="/work/peers")
    ap.add_argument("--work", default="/tmp/genlab_translation_vs_peers")
    ap.add_argument("--out", default=str(HERE / "results" / "translation_vs_peers.json"))
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--skip", default="", help="comma-separated sides not to run (e.g. genlab-p2p-bf16)")
    ap.add_argument("--nice", type=int, default=10, help="niceness added for each side's process")
    ap.add_argument("--paper-layers", action="store_true", help="genlab's own layers, not the peer's")
    ap.add_argument("--note", default="")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--images", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() and not args.fresh else {"runs": []}
    done = {(r["round"], r["side"]) for r in result["runs"]}
    for rnd in range(args.rounds):
        for pair in args.pairs.split(","):
            images = args.images_p2p if pair == "p2p" else args.images_cyc
            for side in PAIRS[pair]:
                if (rnd, side) in done or side in args.skip.split(","):
                    continue
                options = ["--threads", str(args.threads), "--peers-dir", args.peers_dir, "--work", args.work]
                options += ["--paper-layers"] if args.paper_layers else []
                r = peers.run_side(__file__, side, rnd, images, options, args.work, args.threads, args.nice)
                r["flops_per_image"] = flops_per_image(r)
                result["runs"].append(r)
                print(f"[bench] {side}: {r['steady_images_per_s']:.3f} images/s, RSS {r['rss_mb']:.0f} MB", flush=True)
                _write(out, result, args)
    _write(out, result, args)
    print(json.dumps(result["summary"], indent=2))


def _write(out: Path, result: dict, args) -> None:
    summary = {}
    runs = result["runs"]
    for r in runs:
        r["flops_per_image"] = flops_per_image(r)
    for peer, mine in [(p, side) for p, sides in PAIRS.items() for side in sides[1:]]:
        for a in [r for r in runs if r["side"] == mine]:
            b = next((r for r in runs if r["side"] == peer and r["round"] == a["round"]), None)
            if b is None:
                continue
            ratio = a["steady_images_per_s"] / b["steady_images_per_s"]
            cpu_ratio = a["steady_images_per_cpu_s"] / b["steady_images_per_cpu_s"]
            flop_ratio = cpu_ratio * a["flops_per_image"] / b["flops_per_image"]
            s = summary.setdefault(
                f"{mine}_over_{peer}", {"throughput_ratio": [], "per_cpu_second_ratio": [], "flop_rate_ratio": []}
            )
            s["throughput_ratio"].append(ratio)
            s["per_cpu_second_ratio"].append(cpu_ratio)
            s["flop_rate_ratio"].append(flop_ratio)
            s["rss_mb"] = [a["rss_mb"], b["rss_mb"]]
            s["flops_per_image"] = [a["flops_per_image"], b["flops_per_image"]]
    result["summary"] = summary
    result["settings"] = {"threads": args.threads, "batch": 1, "paper_layers": args.paper_layers, "note": args.note}
    result["environment"] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
