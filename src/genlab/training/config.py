"""The training configuration shared by every family."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..models.base import check


@dataclass
class TrainConfig:
    """How to train: length, batch, optimiser, logging, device. Reachable with ``--set NAME=VALUE``."""

    epochs: int | None = None  # length of the whole run in epochs (counting resumed ones) ...
    steps: int | None = None  # ... or in steps (training iterations); steps wins when both are set
    batch_size: int = 128  # images per batch (per update)
    lr: float | None = None  # Adam learning rate; None: 1e-3 (GANs: the base of lr_g / lr_d, default 2e-4)
    betas: tuple[float, ...] = (0.9, 0.999)  # Adam betas (GANs and translation models: their own betas)
    weight_decay: float = 0.0  # Adam's L2 penalty, on every network
    seed: int = 0  # seeds weights, noise and the data order: same seed, same run (on CPU)
    device: str = "auto"  # 'auto' (CUDA, then MPS, then CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'
    amp: bool = True  # bf16 autocast of the forward passes on CUDA
    amp_cpu: bool = False  # the same on the CPU (fast on CPUs with AVX-512 BF16 or AMX; see benchmarks/RESULTS.md)
    compile: bool = False  # torch.compile the networks
    log_every: int = 50  # steps between metrics.jsonl lines
    sample_every: int = 1  # epochs between sample grids
    checkpoint_every: int = 0  # steps between checkpoints; 0 = at each epoch end and at the end
    num_samples: int = 64  # images in each sample grid

    def __post_init__(self):
        check(self.epochs is None or self.epochs >= 1, f"epochs must be an integer >= 1, got {self.epochs}")
        check(self.steps is None or self.steps >= 1, f"steps must be an integer >= 1, got {self.steps}")
        check(self.batch_size >= 1, f"batch_size must be an integer >= 1, got {self.batch_size}")
        check(
            self.lr is None or (math.isfinite(self.lr) and self.lr > 0),
            f"lr must be a finite number > 0, got {self.lr}",
        )
        check(
            math.isfinite(self.weight_decay) and self.weight_decay >= 0,
            f"weight_decay must be a finite number >= 0, got {self.weight_decay}",
        )
        check(0 <= self.seed < 2**63, f"seed must be an integer in [0, 2**63), got {self.seed}")
        check(
            len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            f"betas must be two numbers in [0, 1), got {self.betas}",
        )
        check(self.log_every >= 1, f"log_every must be an integer >= 1, got {self.log_every}")
        check(self.sample_every >= 1, f"sample_every must be an integer >= 1, got {self.sample_every}")
        check(self.checkpoint_every >= 0, f"checkpoint_every must be an integer >= 0, got {self.checkpoint_every}")
        check(1 <= self.num_samples <= 1024, f"num_samples must be an integer in [1, 1024], got {self.num_samples}")
