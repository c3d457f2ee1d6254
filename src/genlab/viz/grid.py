"""Image grids and PNG files, without torchvision."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..atomic import atomic_write
from ..errors import GenlabError


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: int = 255) -> torch.Tensor:
    """Tile a batch into one image.

    images: (B, C, H, W), uint8 or float in [0, 1]. Returns uint8 (C, H', W') with ``nrow`` images
    per row (default: a near-square grid) and ``padding`` pixels of ``pad_value`` between them.
    """
    if images.ndim != 4:
        raise ValueError(f"make_grid expects (B, C, H, W), got {tuple(images.shape)}")
    if images.dtype != torch.uint8:
        images = images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)
    images = images.cpu()
    b, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(b)))
    ncol = math.ceil(b / nrow)
    grid = torch.full((c, ncol * (h + padding) + padding, nrow * (w + padding) + padding), pad_value, dtype=torch.uint8)
    for i in range(b):
        r, q = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        grid[:, y : y + h, x : x + w] = images[i]
    return grid


def to_pil(image: torch.Tensor) -> Image.Image:
    """uint8 or [0, 1] float (C, H, W) with C in {1, 3} -> PIL image."""
    if image.dtype != torch.uint8:
        image = image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)
    arr = image.cpu().numpy()
    if arr.shape[0] == 1:
        return Image.fromarray(arr[0], mode="L")
    return Image.fromarray(np.ascontiguousarray(arr.transpose(1, 2, 0)), mode="RGB")


def save_image(image: torch.Tensor, path: str | os.PathLike, scale: int = 1) -> Path:
    """Write a (C, H, W) image (or a (B, C, H, W) batch, tiled) to a PNG, atomically.

    ``scale`` enlarges small images with nearest-neighbour so 8x8 digits stay visible.
    """
    if image.ndim == 4:
        image = make_grid(image)
    pil = to_pil(image)
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.Resampling.NEAREST)
    path = Path(path)
    fmt = image_format(path)
    return atomic_write(path, lambda f: pil.save(f, format=fmt))


IMAGE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}


def image_format(path) -> str:
    """The PIL format of an output image file name (no suffix: PNG), or a one-line error."""
    suffix = Path(path).suffix.lower()
    if suffix and suffix not in IMAGE_FORMATS:
        raise GenlabError(
            f"cannot write an image as '{Path(path).name}': use a file name ending in "
            f"{', '.join(sorted(IMAGE_FORMATS))}"
        )
    return IMAGE_FORMATS.get(suffix, "PNG")


def save_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int | None = None) -> Path:
    """Tile ``images`` (B, C, H, W) and save; small images are enlarged so the grid is readable."""
    grid = make_grid(images, nrow=nrow)
    scale = max(1, 256 // max(grid.shape[1:]))
    return save_image(grid, path, scale=min(scale, 4))
