"""Random draws for this process's rows of a global batch, so that N processes train as one.

Under data-parallel training every process holds the same random stream (the same seed) and a
slice of each global batch of B images: rank r of W takes rows r*B/W .. (r+1)*B/W. The draws that go
with the batch's rows (a VAE's eps, a GAN's noise z, a WGAN-GP interpolation weight, CycleGAN's
domain-B rows) are drawn here for the whole global batch, and each process keeps its own rows: the
images then meet exactly the noise that one process would give them, and since every process draws
the same amount the streams stay identical, so one RNG state resumes a run on any number of processes.

Outside :func:`rows_of` (one process, sampling, evaluation) these are the plain torch draws.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

_shard: tuple[int, int] = (0, 1)  # (rank, world) while a data-parallel training step runs


@contextlib.contextmanager
def rows_of(rank: int, world: int) -> Iterator[None]:
    """Draw for rank ``rank`` of ``world`` processes inside the block (the training loop wraps each step)."""
    global _shard
    before, _shard = _shard, (rank, world)
    try:
        yield
    finally:
        _shard = before


def _mine(full: torch.Tensor) -> torch.Tensor:
    rank, world = _shard
    return full if world == 1 else full.chunk(world)[rank]


def randn(rows: int, *shape: int, device=None, dtype=None) -> torch.Tensor:
    """(rows, *shape) N(0, 1) draws: this process's rows of the global batch's draw."""
    return _mine(torch.randn(rows * _shard[1], *shape, device=device, dtype=dtype))


def randn_like(t: torch.Tensor) -> torch.Tensor:
    """N(0, 1) draws shaped like ``t``, whose first dimension is this process's rows of the batch."""
    return randn(*t.shape, device=t.device, dtype=t.dtype)


def rand(rows: int, *shape: int, device=None, dtype=None) -> torch.Tensor:
    """(rows, *shape) U[0, 1) draws: this process's rows of the global batch's draw."""
    return _mine(torch.rand(rows * _shard[1], *shape, device=device, dtype=dtype))


def randint(high: int, rows: int, device=None) -> torch.Tensor:
    """(rows,) integers uniform in [0, high): this process's rows of the global batch's draw."""
    return _mine(torch.randint(0, high, (rows * _shard[1],), device=device))
