"""What every model family provides to the one training loop, the CLI and the API.

A family is a config dataclass plus one ``GenerativeModel`` subclass. The loop only calls the
methods below; a family with several networks and optimizers (the GANs) performs its own updates
inside ``train_step`` ("(1) update D, (2) update G") and pulls as many batches as it needs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ..errors import GenlabError


def check(ok: bool, message: str) -> None:
    """Raise the one-line config error ``message`` unless ``ok`` (used in ``__post_init__``)."""
    if not ok:
        raise GenlabError(message)


class GenerativeModel(nn.Module):
    """Base of every family. Images go in and come out as float (B, C, H, W) in [0, 1]."""

    family: str = ""
    config_class: type = object
    batches_per_step: int = 1  # real batches one train_step consumes (d_steps for a GAN)
    takes_labels: bool = False  # the run layer sets config.num_classes from the data (conditional models)

    def __init__(self, config):
        super().__init__()
        self.config = config

    # ---- training ----
    def networks(self) -> dict[str, nn.Module]:
        """Networks saved as one safetensors file each: ``{name}.safetensors``."""
        return {"model": self}

    def configure_optimizers(self, train) -> dict[str, torch.optim.Optimizer]:
        return {"model": adam(self.parameters(), lr=train.lr, betas=train.betas, weight_decay=train.weight_decay)}

    def configure_schedulers(self, optimizers: dict, train, total_steps: int) -> dict[str, Any]:
        return {}

    def train_step(self, batches, optimizers: dict, step: int) -> dict[str, torch.Tensor]:
        """One training iteration; returns named losses (detached scalars)."""
        raise NotImplementedError

    @torch.no_grad()
    def on_epoch_end(self, data) -> None:
        """Called after every epoch with the training ImageData (e.g. to fit the AE's latent Gaussian)."""

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Training state that is not a parameter or buffer (e.g. CycleGAN's history pool)."""
        return {}

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        pass

    # ---- use ----
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels=None) -> torch.Tensor:
        raise GenlabError(f"model '{self.family}' cannot sample; it translates images (use genlab translate)")

    @torch.no_grad()
    def preview(self, batch, generator: torch.Generator) -> torch.Tensor:
        """Images for the per-epoch grid: samples for generators, translations for translators."""
        return self.sample(64, generator=generator)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.config)

    def check_images(self, x: torch.Tensor) -> None:
        """One-line error if x is not (B, C, H, W) of this model's image shape."""
        shape = tuple(self.config.image_shape)
        if x.ndim != 4 or tuple(x.shape[1:]) != shape:
            got = "x".join(map(str, x.shape[1:])) if x.ndim == 4 else str(tuple(x.shape))
            raise GenlabError(f"this model takes {'x'.join(map(str, shape))} images (C x H x W), got {got}; "
                              "resize or convert the images first")


def adam(params, lr: float, betas=(0.9, 0.999), weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam with the fused kernel (one pass over all parameters: about 2.5x faster steps on CPU)."""
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, fused=True)


def standard_normal(n: int, dim: int, generator: torch.Generator | None, device) -> torch.Tensor:
    """(n, dim) N(0, I) samples, from ``generator`` when given (drawn on CPU for reproducibility)."""
    return torch.randn(n, dim, generator=generator).to(device)
