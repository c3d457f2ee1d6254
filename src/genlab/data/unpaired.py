"""Unpaired two-domain data for CycleGAN: the built-in ``fashion-stripes`` and :func:`combine_unpaired`.

The unpaired-batch design: one ImageData holds domain A in ``images`` (with its ``labels``) and
domain B in ``pair``, with the same number of rows but **no correspondence** between row i of A
and row i of B. The training loop forms batches of A in its seeded order; CycleGAN draws the B
rows of each step itself, uniformly with torch's global RNG, so A/B combinations change every
step and a resumed run repeats them (see ``genlab.models.cyclegan``). Keeping B in ``pair`` lets
the loop's batching, ``--image-size`` resizing and ``subset`` treat both domains alike.

fashion-stripes
    A = plain Fashion-MNIST garments, B = garments whose pixels are multiplied by a diagonal stripe
    texture (period 4 px, stripes at 35% / 100% brightness). A and B come from disjoint halves of a
    seeded permutation of Fashion-MNIST's train set (30,000 each; test: 5,000 each from the test
    set), so no garment appears in both domains. ``labels`` are A's classes; ``meta["pair_labels"]``
    B's (for a domain-B classifier and the label-preservation metric); ``meta["source_a"]`` and
    ``meta["source_b"]`` the Fashion-MNIST rows used. 1x28x28.

Note that ``meta`` entries are per-row only for the ImageData as loaded (``subset`` copies meta unchanged).
"""

from __future__ import annotations

from functools import lru_cache

import torch

from genlab.data.base import ImageData
from genlab.data.paired import _check_split, fashion
from genlab.errors import GenlabError

STRIPE_PERIOD = 4  # pixels along the diagonal, half dark, half bright
STRIPE_DARK = 0.35  # brightness factor of the dark stripes
SPLIT_SEED = 20170330  # the seeded permutation that halves each split


def stripe_texture(height: int, width: int, period: int = STRIPE_PERIOD, dark: float = STRIPE_DARK) -> torch.Tensor:
    """(H, W) float: 1 on bright stripes, ``dark`` on dark ones, diagonal (constant along x + y)."""
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    bright = ((xx + yy) % period) < period // 2
    return torch.where(bright, 1.0, dark)


def add_stripes(images: torch.Tensor) -> torch.Tensor:
    """Fill garments with stripes: uint8 (N, C, H, W) -> uint8, each pixel times the stripe texture."""
    tex = stripe_texture(*images.shape[-2:])
    return (images.float() * tex).round().clamp(0, 255).to(torch.uint8)


def halves(n: int, seed: int = SPLIT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint index sets of size n // 2 from a seeded permutation of range(n)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    h = n // 2
    return perm[:h].sort().values, perm[h : 2 * h].sort().values


@lru_cache(maxsize=2)
def _fashion_stripes(split: str):
    src = fashion(split)
    ia, ib = halves(len(src))
    assert src.labels is not None  # Fashion-MNIST is labelled
    return (
        src.images[ia],
        add_stripes(src.images[ib]),
        src.labels[ia],
        src.labels[ib],
        ia,
        ib,
        tuple(src.classes or ()),
    )


def load_fashion_stripes(split: str = "train") -> ImageData:
    """Unpaired (plain garment, striped garment): A in ``images``, B in ``pair`` (rows unrelated), 1x28x28."""
    _check_split(split)
    a, b, la, lb, ia, ib, classes = _fashion_stripes(split)
    return ImageData(
        name="fashion-stripes",
        images=a.clone(),
        labels=la.clone(),
        classes=list(classes) or None,
        pair=b.clone(),
        meta={
            "split": split,
            "unpaired": True,
            "A": "plain garment",
            "B": "striped garment",
            "pair_labels": lb.clone(),
            "source_a": ia.clone(),
            "source_b": ib.clone(),
            "source": f"fashion-mnist {split}, disjoint halves (seed {SPLIT_SEED})",
        },
    )


def combine_unpaired(a: ImageData, b: ImageData, name: str | None = None) -> ImageData:
    """Two domains (e.g. from ``load_unpaired_folder``) as one CycleGAN ImageData: A in ``images``, B in ``pair``.

    Both are tiled to N = max(len(a), len(b)) rows (row i holds a[i % len(a)] and b[i % len(b)], as
    the reference UnalignedDataset), so an epoch covers the larger domain once.
    """
    if len(a) == 0 or len(b) == 0:
        raise GenlabError("both domains need at least one image; put images in trainA/ and trainB/")
    if a.shape[1:] != b.shape[1:]:
        raise GenlabError(
            f"domain A images are {a.shape[1]}x{a.shape[2]} and domain B {b.shape[1]}x{b.shape[2]}; "
            "load both at the same image size"
        )
    n = max(len(a), len(b))
    ia, ib = torch.arange(n) % len(a), torch.arange(n) % len(b)
    meta = {
        "unpaired": True,
        "A": a.meta.get("source", a.name),
        "B": b.meta.get("source", b.name),
        "size_a": len(a),
        "size_b": len(b),
        "source_a": ia,
        "source_b": ib,
    }
    if b.labels is not None:
        meta["pair_labels"] = b.labels[ib]
    return ImageData(
        name=name or a.name.removesuffix("-A"),
        images=a.images[ia],
        labels=None if a.labels is None else a.labels[ia],
        classes=a.classes,
        pair=b.images[ib],
        meta=meta,
    )
