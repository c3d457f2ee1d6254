"""Write docs/voice/: converted held-out sentences, their spectrograms and F0 curves, and the metrics table.

    OMP_NUM_THREADS=1 python docs/voice/make_docs.py RUN REPORT.json [docs/voice]

``REPORT.json`` is ``genlab evaluate RUN --out REPORT.json``. For held-out sentences 0 and 1 (A -> B) and
2 and 3 (B -> A): the source reading, the normalisation-only baseline (source envelope, F0 mapped),
genlab's conversion and the target voice's own reading as 16 kHz WAVs, and one PNG of their log-mel
spectrograms and WORLD F0 curves. Prints the Markdown metrics table (source, baseline, genlab, target).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

import genlab
from genlab.audio import metrics, world
from genlab.audio.features import log_mel
from genlab.audio.wav import write_wav
from genlab.data.voices import paired_test_clips
from genlab.evaluation.voice import baseline_convert

EXAMPLES = ((0, "AtoB"), (1, "AtoB"), (2, "BtoA"), (3, "BtoA"))
VOICE = {"A": "A (kal, male)", "B": "B (SLT, female)"}


def figure(path: Path, text: str, rows: list[tuple[str, np.ndarray]], sr: int) -> None:
    fig, axes = plt.subplots(
        len(rows), 2, figsize=(11, 2.1 * len(rows)), constrained_layout=True, gridspec_kw={"width_ratios": [3, 2]}
    )
    for (title, x), (ax_s, ax_f) in zip(rows, axes):
        ax_s.imshow(log_mel(x).numpy(), origin="lower", aspect="auto", cmap="magma", vmin=-9, vmax=3)
        ax_s.set_title(title, fontsize=9, loc="left")
        ax_s.set_ylabel("mel band")
        f0, _ = world.envelope(x, sr)
        t = np.arange(len(f0)) * 0.005
        ax_f.plot(t, np.where(f0 > 0, f0, np.nan), color="#c2410c", lw=1.5)
        ax_f.set_ylim(50, 350)
        ax_f.set_ylabel("F0 (Hz)")
        ax_f.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("frame (8 ms)")
    axes[-1, 1].set_xlabel("time (s)")
    fig.suptitle(f'"{text}"', fontsize=10)
    fig.savefig(path, dpi=72)
    plt.close(fig)
    with Image.open(path) as im:  # a 64-colour palette: a few times smaller
        small = im.convert("RGB").quantize(64)
    small.save(path, optimize=True)


def table(report: dict) -> str:
    def pct(v):
        return f"{100 * v:.0f} %"

    lines = [
        "| direction | clips | WER | MCD (dB) | speaker = target | log-F0 corr | F0 RMSE (Hz) |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in ("AtoB", "BtoA"):
        arrow = "A -> B" if d == "AtoB" else "B -> A"
        for label, kind in (
            ("source (unconverted)", "_source"),
            ("baseline: F0 shift only", "_baseline"),
            ("**genlab cyclegan-voice**", ""),
        ):
            lines.append(
                f"| {arrow} | {label} | {report[f'wer{kind}_{d}']:.3f} | {report[f'mcd{kind}_{d}']:.2f} | "
                f"{pct(report[f'speaker_similarity{kind}_{d}'])} | {report[f'f0_corr{kind}_{d}']:.2f} | "
                f"{report[f'f0_rmse{kind}_{d}']:.1f} |"
            )
        lines.append(
            f"| {arrow} | target's own reading | {report[f'wer_target_{d}']:.3f} | 0 | "
            f"{pct(report[f'speaker_similarity_target_{d}'])} | 1 | 0 |"
        )
    return "\n".join(lines)


def main(run: str, report_path: str, out: str = "docs/voice") -> None:
    torch.set_num_threads(1)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = genlab.load(run)
    sr = model.config.sample_rate
    clips_a, clips_b, _, texts = paired_test_clips(model.meta["data"])
    for i, d in EXAMPLES:
        src, tgt = (clips_a[i], clips_b[i]) if d == "AtoB" else (clips_b[i], clips_a[i])
        s, t = d[0], d[-1]
        y = model.convert(src, sr, d)[0]
        base = baseline_convert(model, src, d)
        stem = f"s{i}_{d}"
        rows = [
            (f"source: voice {VOICE[s]}", src),
            (
                "baseline: the source with its F0 mapped to voice "
                f"{t} (MCD {metrics.compare(base, tgt, sr)['mcd']:.2f} dB)",
                base,
            ),
            (f"genlab {d} (MCD {metrics.compare(y, tgt, sr)['mcd']:.2f} dB)", y),
            (
                f"target: voice {VOICE[t]} reading the same sentence (source's MCD "
                f"{metrics.compare(src, tgt, sr)['mcd']:.2f} dB)",
                tgt,
            ),
        ]
        for name, x in zip(("source", "baseline", "converted", "target"), (src, base, y, tgt)):
            write_wav(out_dir / f"{stem}_{name}.wav", x, sr)
        figure(out_dir / f"{stem}.png", texts[i], rows, sr)
        print(f"wrote {stem}: {texts[i]}")
    report = json.loads(Path(report_path).read_text())
    print(table(report))


if __name__ == "__main__":
    main(*sys.argv[1:])
