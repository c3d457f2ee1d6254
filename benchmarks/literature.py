"""genlab's recipes beside the published figures they aim at, with FID against training time.

    .venv/bin/python benchmarks/literature.py                    # every row, to its recipe's length
    .venv/bin/python benchmarks/literature.py --only gan-ns vae2 --inception final

Each Fashion-MNIST row is one recipe (``genlab train --recipe NAME``) trained in segments, to the
epochs in ``CHECKPOINTS``; after each segment the weights are copied to ``RUN.snap/epoch_E`` with the
segment's CPU seconds (user + system of the training process, from ``getrusage``) and wall seconds.
Every snapshot is measured with ``genlab evaluate SNAP --metrics samples`` (10k samples against the
10k test images, genlab's Fashion-MNIST classifier features: fast), and the last one, or every one
with ``--inception all``, also with ``--features inception`` (the TF-FID Inception network, Lucic et
al. 2018's protocol: grey tiled to 3 channels, 10k generated against the 10k test images). Everything
already on disk is kept, so a killed run goes on where it stopped (``genlab train --resume`` is
exact), and a row can be extended by adding checkpoints.

The dSprites rows train vae-dsprites and tcvae-dsprites for each of ``--seeds`` (resuming a stopped
run) and compare MIG, the FactorVAE score, DCI disentanglement and the BetaVAE score
(disentanglement_lib's settings), with each run's CPU seconds; ``--only dsprites --out
benchmarks/results/literature_dsprites.json`` keeps them in a file of their own. The cGAN row
trains the cgan-folder recipe on a generated folder of five shape classes
(``benchmarks/shapes_folder.py``), with and without the mode-seeking term.

Results: ``benchmarks/results/literature.json`` (every figure, command and second) and
``benchmarks/results/literature_fid_time.png`` (FID against CPU hours).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

# recipe -> epochs after which a snapshot is measured (the last is the recipe's length)
GAN_EPOCHS = [1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
CHECKPOINTS = {
    "gan-ns-fashion": GAN_EPOCHS,
    "gan-ns-fashion-30": [*GAN_EPOCHS, 30],
    "gan-mm-fashion": GAN_EPOCHS,
    "vae2-fashion": [2, 5, 8, 10, 14, 20],  # epoch 8 is the vae-fashion recipe (same seed, same steps)
    "vae-gmm-fashion": [2, 5, 10, 15, 20],
}
# recipe -> the recipe it trains longer (same settings, checked by tests/test_recipes.py): its run and
# snapshots up to that recipe's length are shared, and the longer one resumes a copy of its run
CONTINUES = {"gan-ns-fashion-30": "gan-ns-fashion"}
# --only key -> recipe of each Fashion-MNIST row
FASHION_ROWS = {
    "gan-ns": "gan-ns-fashion",
    "gan-ns-30": "gan-ns-fashion-30",
    "gan-mm": "gan-mm-fashion",
    "vae2": "vae2-fashion",
    "vae-gmm": "vae-gmm-fashion",
}
# row, recipe, snapshot epoch, published figure (Inception FID), its source
FID_ROWS = [
    ("GAN, non-saturating", "gan-ns-fashion", 20, 26.5, "Lucic et al. 2018, NS GAN (best of their search, 20 epochs)"),
    ("GAN, minimax", "gan-mm-fashion", 20, 29.6, "Lucic et al. 2018, MM GAN"),
    (
        "GAN, goal: below every GAN of Lucic et al.",
        "gan-ns-fashion-30",
        30,
        21.5,
        "Lucic et al. 2018, WGAN (their best row)",
    ),
    ("VAE", "vae2-fashion", 8, 43.6, "Dai & Wipf 2019, VAE (cross-entropy), same protocol"),
    ("2-stage VAE", "vae2-fashion", 20, 29.3, "Dai & Wipf 2019, 2-Stage VAE"),
    (
        "VAE sampled from a mixture fitted to its codes",
        "vae-gmm-fashion",
        20,
        29.3,
        "Dai & Wipf 2019, 2-Stage VAE (their second density model on the codes is a VAE; "
        "here a 10-Gaussian mixture, Ghosh et al. 2020)",
    ),
]
DSPRITES_KEYS = ["mig", "factor_vae_score", "dci_disentanglement", "beta_vae_score", "train_cpu_s"]
DSPRITES_RECIPES = ["vae-dsprites", "tcvae-dsprites"]  # the baseline (beta = 1), then the beta > 1 setting


def genlab(args: list[str], log: Path | None = None) -> dict:
    """Run ``genlab ARGS`` as a user would; return its wall and CPU seconds (the child's user + system)."""
    exe = Path(sys.executable).with_name("genlab")
    cmd = [str(exe) if exe.exists() else "genlab", *args]
    print("$ genlab " + " ".join(args), flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "a") if log else open(os.devnull, "w") as out:
        subprocess.run(cmd, check=True, stdout=out if log else None, stderr=subprocess.STDOUT if log else None)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(cpu, 1)}


def snapshot_dir(run: Path, epoch: int) -> Path:
    return run.with_name(run.name + ".snap") / f"epoch_{epoch}"


def train_to(recipe: str, run: Path, epoch: int, extra: list[str] = ()) -> None:
    """Train (or resume) ``run`` to ``epoch`` epochs, then snapshot its weights with the segment's seconds."""
    snap = snapshot_dir(run, epoch)
    if (snap / "segment.json").exists():
        return
    if (run / "config.json").exists():
        seconds = genlab(["train", "--resume", str(run), "--epochs", str(epoch), "--quiet"], run.with_suffix(".log"))
    else:
        run.parent.mkdir(parents=True, exist_ok=True)
        seconds = genlab(
            ["train", "--recipe", recipe, "--out", str(run), "--epochs", str(epoch), "--quiet", *extra],
            run.with_suffix(".log"),
        )
    from genlab.training.checkpoint import weights_folder

    snap.mkdir(parents=True, exist_ok=True)
    newest = weights_folder(run)  # the run's newest checkpoint: a model folder of config.json + weights
    for f in [*newest.glob("*.safetensors"), newest / "config.json"]:
        shutil.copy2(f, snap / f.name)
    (snap / "segment.json").write_text(json.dumps({"epoch": epoch, **seconds}) + "\n")


def measure(snap: Path, features: str) -> dict:
    """``genlab evaluate SNAP --metrics samples`` with ``features`` ('classifier' or 'inception'), kept on disk."""
    out = snap / f"eval_{features}.json"
    if not out.exists():
        extra = ["--features", "inception"] if features == "inception" else []
        seconds = genlab(["evaluate", str(snap), "--out", str(out), "--metrics", "samples", *extra])
        report = json.loads(out.read_text())
        report["evaluate_seconds"] = seconds
        out.write_text(json.dumps(report, indent=1) + "\n")
    return json.loads(out.read_text())


def curve(recipe: str, run: Path, inception: str, upto: int | None) -> list[dict]:
    """Train to every checkpoint (up to ``upto`` epochs), measure each snapshot: FID against cumulative CPU time."""
    points, cpu, wall = [], 0.0, 0.0
    epochs = [e for e in CHECKPOINTS[recipe] if upto is None or e <= upto]
    base = CONTINUES.get(recipe, "")
    shared = CHECKPOINTS[base][-1] if base else 0  # epochs trained once, by the shorter recipe
    base_run = run.with_name(base) if base else run
    for e in epochs:
        if e <= shared:
            train_to(base, base_run, e)
            snap = snapshot_dir(base_run, e)
        else:
            if shared and not run.exists():  # the longer recipe goes on from a copy of the shorter's run
                train_to(base, base_run, shared)
                shutil.copytree(base_run, run, symlinks=True)
            train_to(recipe, run, e)
            snap = snapshot_dir(run, e)
        seg = json.loads((snap / "segment.json").read_text())
        cpu, wall = cpu + seg["cpu_s"], wall + seg["wall_s"]
        point = {
            "epoch": e,
            "cpu_h": round(cpu / 3600, 3),
            "wall_h": round(wall / 3600, 3),
            "fid_classifier": measure(snap, "classifier")["fid"],
        }
        if inception == "all" or (inception == "final" and e == epochs[-1]) or (snap / "eval_inception.json").exists():
            point["fid_inception"] = measure(snap, "inception")["fid"]
        points.append(point)
        print(json.dumps({"recipe": recipe, **point}), flush=True)
    return points


def disentanglement_report(run: Path) -> dict:
    """The disentanglement metrics of ``run`` exactly as ``genlab evaluate RUN --metrics disentanglement``
    computes them (BetaVAE, FactorVAE, MIG, DCI on the posterior means, disentanglement_lib's counts),
    with the CPU seconds they took."""
    from genlab.evaluation.report import EvalSettings, disentanglement_metrics
    from genlab.training import load

    before = resource.getrusage(resource.RUSAGE_SELF)
    report, _ = disentanglement_metrics(load(run), EvalSettings(quiet=True))
    after = resource.getrusage(resource.RUSAGE_SELF)
    report["evaluate_cpu_s"] = round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1)
    return report


def train_recipe(recipe: str, seed: int, run: Path) -> dict:
    """Train ``recipe`` with ``seed`` into ``run`` to the recipe's length (resuming a stopped run); its seconds.

    The seconds are those of the last ``genlab train`` process: a run that was stopped and resumed says so
    (``resumed``), and its CPU time then leaves out the stopped part.
    """
    seconds_path = run / "seconds.json"
    if not seconds_path.exists():
        resumed = (run / "config.json").exists()
        if resumed:
            args = ["train", "--resume", str(run), "--quiet"]
        else:
            run.parent.mkdir(parents=True, exist_ok=True)
            args = ["train", "--recipe", recipe, "--seed", str(seed), "--out", str(run), "--quiet"]
        seconds = genlab(args, run.with_suffix(".log"))
        seconds_path.write_text(json.dumps({**seconds, "resumed": resumed}) + "\n")
    return json.loads(seconds_path.read_text())


def dsprites(recipes: list[str], seeds: list[int], root: Path) -> dict:
    """Each recipe over ``seeds``: MIG, FactorVAE and DCI disentanglement, mean and std over seeds, CPU time."""
    table = {}
    for recipe in recipes:
        per_seed = []
        for seed in seeds:
            run = root / f"{recipe}_seed{seed}"
            seconds = train_recipe(recipe, seed, run)
            report_path = run / "disentanglement.json"
            stored = json.loads(report_path.read_text()) if report_path.exists() else {}
            if not all(k in stored for k in DSPRITES_KEYS if k != "train_cpu_s"):  # absent, or from an older form
                report_path.write_text(json.dumps(disentanglement_report(run), indent=1) + "\n")
            per_seed.append({**json.loads(report_path.read_text()), "train_cpu_s": seconds["cpu_s"]})
            print(json.dumps({"recipe": recipe, "seed": seed, **{k: per_seed[-1][k] for k in DSPRITES_KEYS}}))
        table[recipe] = {
            k: {
                "mean": statistics.mean(r[k] for r in per_seed),
                "std": statistics.stdev(r[k] for r in per_seed) if len(per_seed) > 1 else 0.0,
                "values": [r[k] for r in per_seed],
            }
            for k in DSPRITES_KEYS
        }
    return table


def dsprites_markdown(table: dict, seeds: list[int]) -> list[str]:
    """One row per recipe: mean ± std over seeds (the per-seed values in brackets), training CPU minutes."""

    def cell(values: list[float], digits: int = 3) -> str:
        each = ", ".join(f"{v:.{digits}f}" for v in values)
        if len(values) == 1:
            return each
        return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f} ({each})"

    keys = [k for k in DSPRITES_KEYS if k != "train_cpu_s"]
    lines = [
        "| recipe | seeds | " + " | ".join(keys) + " | CPU minutes of training |",
        "|---|---|" + "---|" * (len(keys) + 1),
    ]
    for recipe, row in table.items():
        cells = [cell(row[k]["values"]) for k in keys] + [cell([v / 60 for v in row["train_cpu_s"]["values"]], 1)]
        lines.append(f"| `{recipe}` | {', '.join(map(str, seeds))} | " + " | ".join(cells) + " |")
    return lines + [""] + dsprites_verdict(table)


def dsprites_verdict(table: dict) -> list[str]:
    """Each later recipe against the first (the beta = 1 baseline) on MIG, FactorVAE and DCI: the gap of
    the means, and whether it exceeds the larger of the two standard deviations over seeds."""
    (base, base_row), *others = table.items()
    lines = []
    for recipe, row in others:
        for k in ("mig", "factor_vae_score", "dci_disentanglement"):
            gap = row[k]["mean"] - base_row[k]["mean"]
            spread = max(row[k]["std"], base_row[k]["std"])
            verdict = "ahead by more than the spread" if gap > spread else "not ahead by more than the spread"
            lines.append(f"- `{recipe}` - `{base}`, {k}: {gap:+.3f} (larger std {spread:.3f}): {verdict}")
    return lines


def cgan_rows(root: Path) -> dict:
    """The cgan-folder recipe on five shape classes, and the same with the mode-seeking term off."""
    folder = root / "shapes5"
    if not folder.exists():
        subprocess.run([sys.executable, str(Path(__file__).with_name("shapes_folder.py")), str(folder)], check=True)
    out = {}
    for name, extra in (("cgan-folder", []), ("cgan-folder, mode_seeking=0", ["--set", "mode_seeking=0"])):
        run = root / ("cgan_folder" if not extra else "cgan_folder_ms0")
        seconds = None
        if not (run / "config.json").exists():
            seconds = genlab(
                ["train", "--recipe", "cgan-folder", "--data", str(folder), "--out", str(run), "--quiet", *extra],
                run.with_suffix(".log"),
            )
            (run / "seconds.json").write_text(json.dumps(seconds) + "\n")
        report_path = run / "eval.json"
        if not report_path.exists():
            genlab(["evaluate", str(run), "--out", str(report_path), "--metrics", "samples"])
        report = json.loads(report_path.read_text())
        seconds = json.loads((run / "seconds.json").read_text()) if (run / "seconds.json").exists() else {}
        out[name] = {k: report.get(k) for k in ("class_diversity", "class_recall", "class_diversity_per_class")}
        out[name].update(seconds)
    return out


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in ("fid_inception", "fid_classifier") if any(k in p for pts in curves.values() for p in pts)]
    fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 4), squeeze=False)
    axes = axes[0]
    titles = {
        "fid_inception": ("Inception FID (10k vs test)", "Inception FID"),
        "fid_classifier": (
            "FID, genlab classifier features",
            "classifier FID (Inception not measured)" if "fid_inception" not in keys else "classifier FID",
        ),
    }
    for ax, key in zip(axes, keys):
        for recipe, points in curves.items():
            pts = [(p["cpu_h"], p[key]) for p in points if key in p]
            if pts:
                ax.plot(*zip(*pts), "o-", label=recipe)
                for (x, y), p in zip(pts, [p for p in points if key in p]):
                    ax.annotate(f"{p['epoch']}", (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
        if key == "fid_inception":
            first = {}  # one line per published figure, labelled by the first row that cites it
            for _, recipe, _, published, source in FID_ROWS:
                if recipe in curves:
                    first.setdefault(published, source)
            marks = sorted(first.items())
            low, high = ax.get_ylim()
            gap, last = 0.04 * (high - low), -math.inf  # labels of close lines pushed apart, not overlaid
            for published, source in marks:
                ax.axhline(published, ls=":", lw=0.8, color="grey")
                last = max(published, last + gap)
                label = f"{published}: {source}"
                ax.text(0.01, last, label, fontsize=6, va="bottom", transform=ax.get_yaxis_transform())
        ax.set(xlabel="CPU hours of training (points: epochs)", ylabel=titles[key][0], title=titles[key][1])
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="runs/literature")
    ap.add_argument(
        "--only",
        nargs="+",
        choices=[*FASHION_ROWS, "dsprites", "cgan"],
        default=[*FASHION_ROWS, "dsprites", "cgan"],
    )
    ap.add_argument(
        "--inception",
        choices=["final", "all", "none"],
        default="final",
        help="snapshots measured with Inception FID too (those already measured always show)",
    )
    ap.add_argument("--upto", type=int, help="train no further than this many epochs (a partial measurement)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="benchmarks/results/literature.json")
    args = ap.parse_args(argv)
    root = Path(args.root)
    out_path = Path(args.out)
    saved = json.loads(out_path.read_text()) if out_path.exists() else {}
    curves = saved.get("curves", {})
    for key, recipe in FASHION_ROWS.items():
        if key in args.only:
            curves[recipe] = curve(recipe, root / recipe, args.inception, args.upto)
    if "dsprites" in args.only:
        table = dsprites(DSPRITES_RECIPES, args.seeds, root)
        saved["dsprites"] = {"seeds": args.seeds, "table": table, "markdown": dsprites_markdown(table, args.seeds)}
        print("\n".join(saved["dsprites"]["markdown"]))
    if "cgan" in args.only:
        saved["cgan"] = cgan_rows(root)

    lines = [
        "| row | recipe | epochs | CPU h | genlab Inception FID | published | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, recipe, epoch, published, source in FID_ROWS:
        point = next((p for p in curves.get(recipe, []) if p["epoch"] == epoch), None)
        last = curves.get(recipe, [])[-1:] or [None]
        p = point or last[0]
        fid = f"{p['fid_inception']:.1f}" if p and "fid_inception" in p else "not measured"
        note = "" if point or p is None else f" (epoch {p['epoch']} of {epoch}: stopped early)"
        cpu = f"{p['cpu_h']:.2f}" if p else "-"
        epochs = p["epoch"] if p else "-"
        lines.append(f"| {name} | `{recipe}` | {epochs} | {cpu} | {fid}{note} | {published} | {source} |")
    print("\n".join(lines))
    saved.update({"curves": curves, "markdown": lines, "cpus": os.cpu_count(), "checkpoints": CHECKPOINTS})
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(saved, indent=1) + "\n")
    if curves:
        plot(curves, out_path.with_name("literature_fid_time.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
