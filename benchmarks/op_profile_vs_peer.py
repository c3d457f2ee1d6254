"""A pair of ``dcgan_vs_peers.py`` or ``translation_vs_peers.py`` under ``torch.profiler``: each side's CPU
time, operator by operator.

Each side in its own process (1 thread, ``nice`` added), profiled over ``--batches`` training batches
after ``--warmup``:

    genlab   ``model.train_step`` (+ the EMA update for the GAN, as ``fit`` runs it) at the pair's
             networks as the side-by-side script configures them: the DCGANs (``pg``, ``ex``) on
             Fashion-MNIST batches of 64, pix2pix and CycleGAN (``p2p``, ``cyc``) on random images,
             batch 1
    peer     the peer's script run unmodified (:mod:`peers`), the profiler started at its
             ``--warmup``-th batch log line and read at the last; its data loading (PIL per image)
             shows as time outside any operator

Printed and written to ``benchmarks/results/op_profile_<pair>.json``: CPU time per batch (the process's
user + system) and each operator's self CPU time per batch, side by side, largest differences first.

    OMP_NUM_THREADS=1 python benchmarks/op_profile_vs_peer.py --pair ex --batches 3
    OMP_NUM_THREADS=1 python benchmarks/op_profile_vs_peer.py --pair cyc --batches 4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import peers  # noqa: E402
from dcgan_vs_peers import BATCH, genlab_config  # noqa: E402
from dcgan_vs_peers import PEER as DCGAN_PEERS  # noqa: E402
from translation_vs_peers import PEER as TRANSLATION_PEERS  # noqa: E402
from translation_vs_peers import export_maps, export_stripes  # noqa: E402
from translation_vs_peers import genlab_config as translation_config  # noqa: E402


def table(prof) -> dict:
    out: dict = {}
    for e in prof.key_averages():
        out[e.key] = {"self_cpu_s": e.self_cpu_time_total / 1e6, "count": e.count}
    return out


def genlab_side(pair: str, n: int):
    """(model, data, batch size) of genlab's side of the pair, data enough for ``n`` batches."""
    from genlab.data import load_dataset
    from genlab.data.base import ImageData
    from genlab.models import build_model

    if pair in DCGAN_PEERS:
        cfg = genlab_config(f"genlab-{pair}")
        torch.manual_seed(0)
        d = load_dataset("fashion-mnist", "train", image_size=cfg["image_shape"][-1])
        data = ImageData(d.name, d.images[: BATCH * n], labels=d.labels[: BATCH * n], meta=d.meta)
        return build_model("gan", **cfg), data, BATCH
    family, cfg = translation_config(f"genlab-{pair}")
    torch.manual_seed(0)
    images = torch.randint(0, 256, (8, *cfg["image_shape"]), generator=torch.Generator().manual_seed(0))
    images = images.to(torch.uint8)
    return build_model(family, **cfg), ImageData("random", images, pair=images.flip(-1)), 1


def run_genlab(pair: str, batches: int, warmup: int) -> dict:
    from genlab.training import TrainConfig
    from genlab.training.batches import Batches

    model, data, batch = genlab_side(pair, batches + warmup + 1)
    opts = model.configure_optimizers(TrainConfig())
    source = Batches(data, batch, seed=0)

    def step(i):
        model.train_step(source, opts, i)
        if hasattr(model, "update_ema"):
            model.update_ema(i)

    for i in range(warmup):
        step(i)
    c0 = time.process_time()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(warmup, warmup + batches):
            step(i)
    return {"cpu_s": time.process_time() - c0, "ops": table(prof)}


def run_peer(pair: str, batches: int, warmup: int, peers_dir: Path, work: Path) -> dict:
    spec = DCGAN_PEERS.get(pair) or TRANSLATION_PEERS[pair]
    batch = BATCH if pair in DCGAN_PEERS else 1
    if pair in TRANSLATION_PEERS:  # the data in the layout the script reads, ../../data from its folder
        (export_maps if pair == "p2p" else export_stripes)(work / "data")
        work = work / "run" / "run"
    standin = peers.write_standin(peers_dir)
    prof = profile(activities=[ProfilerActivity.CPU])
    state = {"c0": 0.0, "c1": 0.0}

    def on_mark(n: int) -> None:  # called after the n-th batch log line
        if n == warmup:
            state["c0"] = time.process_time()
            prof.__enter__()
        elif n == warmup + batches:
            prof.__exit__(None, None, None)
            state["c1"] = time.process_time()

    peers.run_peer(
        peers_dir / spec["script"],
        spec["args"],
        work,
        standin,
        spec["line"],
        batch * (warmup + batches),
        batch,
        on_mark=on_mark,
    )
    return {"cpu_s": state["c1"] - state["c0"], "ops": table(prof)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pair", default="ex", choices=sorted([*DCGAN_PEERS, *TRANSLATION_PEERS]))
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--nice", type=int, default=5)
    ap.add_argument("--peers-dir", default="/work/peers")
    ap.add_argument("--work", default="/tmp/genlab_op_profile")
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.work)
    if args.child:
        torch.set_num_threads(args.threads)
        if args.child == "genlab":
            res = run_genlab(args.pair, args.batches, args.warmup)
        else:
            res = run_peer(args.pair, args.batches, args.warmup, Path(args.peers_dir), work / "peer")
        (work / f"{args.child}.json").write_text(json.dumps(res))
        return
    work.mkdir(parents=True, exist_ok=True)
    sides = {}
    for side in ("peer", "genlab"):
        cmd = [sys.executable, __file__, "--child", side, "--pair", args.pair, "--batches", str(args.batches)]
        cmd += ["--warmup", str(args.warmup), "--threads", str(args.threads), "--peers-dir", args.peers_dir]
        cmd += ["--work", str(work)]
        subprocess.run(["nice", "-n", str(args.nice), *cmd], check=True)
        sides[side] = json.loads((work / f"{side}.json").read_text())
    per = {s: {k: v["self_cpu_s"] / args.batches for k, v in r["ops"].items()} for s, r in sides.items()}
    keys = sorted(
        set(per["peer"]) | set(per["genlab"]), key=lambda k: -abs(per["peer"].get(k, 0) - per["genlab"].get(k, 0))
    )
    rows = [
        {"op": k, "peer_s_per_batch": per["peer"].get(k, 0.0), "genlab_s_per_batch": per["genlab"].get(k, 0.0)}
        for k in keys
    ]
    summary = {
        s: {"cpu_s_per_batch": r["cpu_s"] / args.batches, "ops_s_per_batch": sum(per[s].values())}
        for s, r in sides.items()
    }
    print(json.dumps(summary, indent=2))
    print(f"{'operator':48s} {'peer s/batch':>12s} {'genlab s/batch':>14s}")
    for r in rows[:25]:
        print(f"{r['op'][:48]:48s} {r['peer_s_per_batch']:12.4f} {r['genlab_s_per_batch']:14.4f}")
    out = Path(args.out or HERE / "results" / f"op_profile_{args.pair}.json")
    out.write_text(json.dumps({"settings": vars(args), "summary": summary, "ops": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
