"""Reconstructions: test images and their decoded codes, in alternating rows."""

from __future__ import annotations

import torch

from ..data import to_float
from ..data.base import ImageData
from ..models.capabilities import Encoder, require
from .grid import save_grid
from .traverse import spread, test_data


@torch.no_grad()
def reconstruct(
    model, n: int = 32, nrow: int = 8, split: str = "test", data: ImageData | None = None, out=None
) -> torch.Tensor:
    """``n`` images of the run's ``split`` (evenly spread) and their reconstructions.

    Returns (2n, C, H, W) in [0, 1], ordered so that a grid of ``nrow`` columns alternates a row of
    originals with the row of their reconstructions; ``out`` also writes that grid.
    """
    require(model, Encoder, "reconstruct")
    data = test_data(model, data, split)
    x = to_float(data.images[spread(len(data), n)]).to(model.device)
    x_hat = model.reconstruct(x)
    rows = []
    for start in range(0, x.shape[0], nrow):
        rows += [x[start : start + nrow], x_hat[start : start + nrow]]
    images = torch.cat(rows).cpu()
    if out is not None:
        save_grid(images, out, nrow=nrow)
    return images
