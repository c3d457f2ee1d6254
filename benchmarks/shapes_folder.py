"""A small user-style image folder: grey 32x32 pictures of five shape classes with random variation.

    .venv/bin/python benchmarks/shapes_folder.py runs/shapes5 --per-class 400

Classes (one subfolder each): disc, square, triangle, cross, ring. Every picture draws the shape's
centre, size, rotation, stroke brightness and background brightness at random, plus pixel noise, so
a generator that draws one picture per class has visibly collapsed. Used by the conditional-GAN
recipe (``configs/cgan-folder.toml``) and its benchmark row.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("disc", "square", "triangle", "cross", "ring")


def shape_image(kind: str, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """One (size, size) uint8 picture of ``kind``, its pose and brightness drawn from ``rng``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    cx, cy = rng.uniform(0.35, 0.65, 2) * size
    r = rng.uniform(0.18, 0.32) * size
    a = rng.uniform(0, 2 * np.pi)
    u = ((xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)) / r  # shape coordinates, rotated by a
    v = (-(xx - cx) * np.sin(a) + (yy - cy) * np.cos(a)) / r
    if kind == "disc":
        mask = u**2 + v**2 <= 1
    elif kind == "square":
        mask = np.maximum(abs(u), abs(v)) <= 0.8
    elif kind == "triangle":
        mask = (v >= -0.5) & (v <= 1 - 0) & (abs(u) <= (1 - v) / np.sqrt(3))
    elif kind == "cross":
        mask = ((abs(u) <= 0.28) & (abs(v) <= 1)) | ((abs(v) <= 0.28) & (abs(u) <= 1))
    else:  # ring
        d = np.sqrt(u**2 + v**2)
        mask = (d <= 1) & (d >= 0.55)
    bg, fg = rng.uniform(0, 80), rng.uniform(150, 255)
    img = np.where(mask, fg, bg) + rng.normal(0, 8, (size, size))
    return img.clip(0, 255).astype(np.uint8)


def write_folder(root: str | Path, per_class: int = 400, size: int = 32, seed: int = 0) -> Path:
    """``root/<class>/NNNN.png`` for the five classes; returns ``root``."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for kind in CLASSES:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(shape_image(kind, rng, size), "L").save(root / kind / f"{i:04d}.png")
    return root


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--per-class", type=int, default=400)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    write_folder(args.out, args.per_class, args.size, args.seed)
    print(f"wrote {args.out}: {len(CLASSES)} classes x {args.per_class} grey {args.size}x{args.size} images")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
