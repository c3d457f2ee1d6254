"""Two-dimensional latent maps: where the test images land, and what each point of the plane decodes to.

For a model with ``latent_dim == 2``: the codes of test images, scattered and coloured by class,
and the decoded images on a regular grid over the same region of the plane. Drawn for an AE
beside a VAE, this shows two properties of a regularised latent space: *completeness*
(the VAE's codes fill a round region around 0 and every grid point decodes to a plausible image;
the AE's codes form separated streaks with empty gaps, whose points decode to blurs or mixtures)
and *continuity* (the VAE's grid changes smoothly; the AE's jumps where it crosses a gap).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..data.base import ImageData, to_float
from ..errors import GenlabError
from ..models.capabilities import Encoder, require
from .traverse import decode_latents, encode_images, latent_size, spread, test_data

MAP_POINTS = 3000  # test images scattered
GRID = 15  # decoded images per side


@dataclass
class LatentMap:
    """One model's map. codes (N, 2), labels (N,) or None, grid (G*G, C, H, W) with row 0 at the
    top (largest z_2) and column 0 at the left (smallest z_1), extent (z1_min, z1_max, z2_min, z2_max)."""

    name: str
    codes: torch.Tensor
    labels: torch.Tensor | None
    classes: list[str] | None
    grid: torch.Tensor
    extent: tuple[float, float, float, float]
    grid_size: int
    empty: torch.Tensor  # (G*G,) bool: no test code falls in this grid point's cell (a hole)

    @property
    def empty_fraction(self) -> float:
        return float(self.empty.float().mean())


def grid_codes(extent, grid: int) -> torch.Tensor:
    """(grid * grid, 2) codes over ``extent``: rows from the top (largest z_2), columns left to right."""
    x0, x1, y0, y1 = extent
    xs, ys = torch.linspace(x0, x1, grid), torch.linspace(y1, y0, grid)
    zy, zx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([zx.reshape(-1), zy.reshape(-1)], 1)


def empty_cells(codes: torch.Tensor, extent, grid: int) -> torch.Tensor:
    """(grid * grid,) bool, in ``grid_codes`` order: True where no code lies in the cell around that grid point.

    The cells tile the plane around the grid points (spacing = extent / (grid - 1)); codes outside
    every cell are ignored.
    """
    x0, x1, y0, y1 = extent
    fx = (codes[:, 0] - x0) / (x1 - x0) * (grid - 1)  # column coordinate, 0 .. grid-1
    fy = (y1 - codes[:, 1]) / (y1 - y0) * (grid - 1)  # row coordinate from the top
    col, row = fx.round().long(), fy.round().long()
    inside = (col >= 0) & (col < grid) & (row >= 0) & (row < grid)
    counts = torch.bincount(row[inside] * grid + col[inside], minlength=grid * grid)
    return counts == 0


def region(codes: torch.Tensor, quantile: float = 0.005, margin: float = 0.05) -> tuple[float, float, float, float]:
    """The box holding the codes (trimmed at ``quantile`` on each side against far outliers), plus a margin."""
    lo = torch.quantile(codes.double(), quantile, dim=0)
    hi = torch.quantile(codes.double(), 1 - quantile, dim=0)
    pad = (hi - lo).clamp_min(1e-3) * margin
    lo, hi = lo - pad, hi + pad
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


@torch.no_grad()
def latent_map(
    model, n: int = MAP_POINTS, grid: int = GRID, extent=None, data: ImageData | None = None, name: str | None = None
) -> LatentMap:
    """The 2-D latent map of an AE or VAE with ``latent_dim == 2`` (encoder needed for the scatter).

    n: test images encoded (spread evenly over the test split). grid: decoded images per side.
    extent: (z1_min, z1_max, z2_min, z2_max) of the grid; default: the box of the codes.
    ``empty`` marks the grid points whose cell holds no test code: the holes of the latent space.
    """
    d = latent_size(model)
    if d != 2:
        raise GenlabError(
            f"a latent map needs latent_dim = 2, this model has {d} (an ae or vae trained with --set latent_dim=2)"
        )
    require(model, Encoder, "a latent map (it scatters test encodings)")
    if grid < 2:
        raise GenlabError(f"--grid must be an integer >= 2, got {grid}")
    test = test_data(model, data)
    idx = spread(len(test), n)
    codes = encode_images(model, to_float(test.images[idx])).cpu()  # (N, 2)
    labels = test.labels[idx] if test.labels is not None else None
    extent = tuple(float(v) for v in extent) if extent is not None else region(codes)
    images = decode_latents(model, grid_codes(extent, grid)).cpu()  # (G*G, C, H, W)
    name = name or (getattr(model, "meta", None) or {}).get("run") or model.family
    return LatentMap(
        name=f"{model.family.upper()}: {name}" if name != model.family else model.family.upper(),
        codes=codes,
        labels=labels,
        classes=test.classes,
        grid=images,
        extent=extent,
        grid_size=grid,
        empty=empty_cells(codes, extent, grid),
    )


def latent_maps(
    models,
    out: str | os.PathLike | None = None,
    n: int = MAP_POINTS,
    grid: int = GRID,
    data: ImageData | None = None,
    names=None,
) -> list[LatentMap]:
    """Maps of several models (e.g. AE beside VAE), and one figure of them all when ``out`` is given."""
    names = list(names) if names is not None else [None] * len(models)
    maps = [latent_map(m, n=n, grid=grid, data=data, name=nm) for m, nm in zip(models, names)]
    if out is not None:
        from .plots import plot_latent_maps

        plot_latent_maps(maps, out)
    return maps
