"""Write the converted examples and spectrogram pictures of docs/voice/ from a trained cyclegan-voice run.

    OMP_NUM_THREADS=1 python docs/voice/make_docs.py RUN [docs/voice]

For held-out sentences 0 and 1 (A -> B) and 2 (B -> A): the source reading, the conversion and the
target voice's own reading of the same sentence as 16 kHz WAVs, and one PNG of their log-mel spectrograms.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from PIL import Image

import genlab
from genlab.audio.features import log_mel
from genlab.audio.metrics import mcd
from genlab.audio.wav import write_wav
from genlab.data.voices import paired_test_clips


def main(run: str, out: str = "docs/voice") -> None:
    torch.set_num_threads(1)
    out_dir = Path(out)
    model = genlab.load(run)
    cfg = model.config.features
    clips_a, clips_b, names = paired_test_clips(model.meta["data"], cfg)
    for i, direction in ((0, "AtoB"), (1, "AtoB"), (2, "BtoA")):
        src, tgt = (clips_a[i], clips_b[i]) if direction == "AtoB" else (clips_b[i], clips_a[i])
        y, sr = model.convert(src, cfg.sample_rate, direction)
        s, t = direction[0], direction[-1]
        stem = f"s{i}_{direction}"
        write_wav(out_dir / f"{stem}_source_{s}.wav", src, sr)
        write_wav(out_dir / f"{stem}_converted.wav", y, sr)
        write_wav(out_dir / f"{stem}_target_{t}.wav", tgt, sr)
        fig, axes = plt.subplots(3, 1, figsize=(7, 6.2), constrained_layout=True)
        for ax, (title, x) in zip(axes, ((f"source (voice {s})", src),
                                        (f"converted {direction} (MCD {mcd(y, tgt, cfg):.2f} dB)", y),
                                        ((f"target: voice {t} reading the same sentence (MCD of the source "
                                          f"{mcd(src, tgt, cfg):.2f} dB)"), tgt))):
            ax.imshow(log_mel(x, cfg).numpy(), origin="lower", aspect="auto", cmap="magma", vmin=-9, vmax=3)
            ax.set_title(title, fontsize=9)
            ax.set_ylabel("mel band")
        axes[-1].set_xlabel(f"frame ({cfg.hop / cfg.sample_rate * 1000:.0f} ms)")
        fig.suptitle(f'"{names[i]}"', fontsize=10)
        fig.savefig(out_dir / f"{stem}.png", dpi=80)
        plt.close(fig)
        with Image.open(out_dir / f"{stem}.png") as im:  # 64-colour palette: a few times smaller
            small = im.convert("RGB").quantize(64)
        small.save(out_dir / f"{stem}.png", optimize=True)
        print(f"wrote {stem}: {names[i]}")


if __name__ == "__main__":
    main(*sys.argv[1:])
