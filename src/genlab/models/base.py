"""What every model family provides to the one training loop, the CLI and the API.

A family is a config dataclass plus one ``GenerativeModel`` subclass that declares what it can do
(``capabilities``, ``metric_groups``, ``explorer_view``: see :mod:`genlab.models.capabilities`). The
loop only calls the methods below; a family with several networks and optimizers (the GANs) performs its own updates
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
    capabilities: frozenset[type] = frozenset()  # the protocols of genlab.models.capabilities it implements
    metric_groups: tuple[str, ...] = ()  # the groups of genlab evaluate that apply to it
    explorer_view: str | None = None  # the explorer's panel for it: 'latent', 'noise', 'translate' or None

    def __init__(self, config):
        super().__init__()
        self.config = config
        # While training: the wrapper of this model (bf16 autocast, DistributedDataParallel) through which
        # the default train_step runs the objective; set by the training loop, None otherwise.
        self.replica: nn.Module | None = None

    def __setattr__(self, name: str, value) -> None:
        if name == "replica":  # a wrapper holding this model, not a submodule of it (that would be a cycle)
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    # ---- training ----
    @property
    def batches_per_step(self) -> int:
        """Real batches one train_step consumes (a GAN's d_steps)."""
        return 1

    def networks(self) -> dict[str, nn.Module]:
        """Networks saved as one safetensors file each: ``{name}.safetensors``."""
        return {"model": self}

    def configure_optimizers(self, train) -> dict[str, torch.optim.Optimizer]:
        return {
            "model": adam(
                self.parameters(), lr=train.lr or DEFAULT_LR, betas=train.betas, weight_decay=train.weight_decay
            )
        }

    def configure_schedulers(self, optimizers: dict, train, total_steps: int) -> dict[str, Any]:
        return {}

    def train_step(self, batches, optimizers: dict, step: int) -> dict[str, torch.Tensor]:
        """One training iteration; returns named losses (detached scalars).

        This default is one Adam step on ``self.loss(x, step)["loss"]`` for families with one loss and one
        optimizer (``loss`` returns named terms of a batch x in [0, 1]); the GANs and translation models
        write their own D and G updates.
        """
        out = (self.replica or self)(batches.next().x, step)
        opt = optimizers["model"]
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        return {k: v.detach() for k, v in out.items()}

    def forward(self, x: torch.Tensor, step: int = 0) -> dict[str, torch.Tensor]:
        """The training objective of a batch: ``loss(x, step)`` (what a data-parallel wrapper runs)."""
        return self.loss(x, step)  # type: ignore[operator]

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
    def latent_dim(self) -> int:
        """Size of a code z (B, latent_dim) of a LatentModel: its config's ``latent_dim``, unless the family
        derives it."""
        return int(self.config.latent_dim)

    def as_codes(self, z) -> torch.Tensor:
        """Codes given to ``decode``: float (B, latent_dim) -> on the model's device; a one-line error otherwise."""
        d = self.latent_dim
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != d or not z.is_floating_point():
            got = f"{z.dtype} {tuple(z.shape)}" if isinstance(z, torch.Tensor) else type(z).__name__
            raise GenlabError(f"decode takes float codes (B, {d}), got {got}")
        return z.to(self.device, torch.float32)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.config)

    def as_images(self, x, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        """Images given to ``encode``/``translate``: uint8 (0..255) or float in [0, 1], (B, C, H, W) or one
        (C, H, W) -> float (B, C, H, W) on the model's device; a one-line error for anything else."""
        shape = tuple(shape or self.config.image_shape)
        want = f"{'x'.join(map(str, shape))} images (C x H x W) as uint8 0..255 or float in [0, 1]"
        if not isinstance(x, torch.Tensor):
            raise GenlabError(f"this model takes a torch tensor of {want}, got {type(x).__name__}")
        if x.ndim == 3:
            x = x.unsqueeze(0)
        if x.ndim != 4 or tuple(x.shape[1:]) != shape:
            got = "x".join(map(str, x.shape[1:])) if x.ndim == 4 else str(tuple(x.shape))
            raise GenlabError(f"this model takes {want}, got {got}; resize or convert the images first")
        if x.dtype == torch.uint8:
            return x.to(self.device).float().div_(255.0)
        if not x.is_floating_point():
            raise GenlabError(f"this model takes {want}, got {x.dtype} values")
        if x.numel() and (float(x.min()) < -1e-3 or float(x.max()) > 1 + 1e-3):
            raise GenlabError(
                f"this model takes {want}, got floats in [{float(x.min()):.3g}, {float(x.max()):.3g}]; "
                "divide 0..255 values by 255 (or pass them as uint8)"
            )
        return x.to(self.device, torch.float32)


def check_rates(config) -> None:
    """``lr_g`` and ``lr_d`` of a GAN-style config: None (the base rate, ``--set lr``) or a number > 0."""
    for name in ("lr_g", "lr_d"):
        value = getattr(config, name)
        check(value is None or value > 0, f"{name} must be a number > 0 (or none: the base rate lr), got {value}")


DEFAULT_LR = 1e-3  # Adam's rate when --set lr is not given (GANs: their lr_g / lr_d)


def adam(params, lr: float, betas=(0.9, 0.999), weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam with the fused kernel (one pass over all parameters: about 2.5x faster steps on CPU)."""
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, fused=True)


def g_and_d_optimizers(
    model, g_params, d_params, train, d_share: float = 1.0, names: tuple[str, str] = ("g", "d")
) -> dict[str, torch.optim.Optimizer]:
    """Adam for the generator(s) and the discriminator(s) of an adversarial model, keyed by ``names``.

    The rates are ``lr_g`` and ``lr_d`` of the model's config; each defaults to the base rate ``--set lr``
    (else 2e-4), D's times ``d_share``. ``--set weight_decay`` applies to both.
    """
    c, base = model.config, train.lr or 2e-4
    kw = {"betas": tuple(c.betas), "weight_decay": train.weight_decay}
    return {
        names[0]: adam(g_params, lr=c.lr_g or base, **kw),
        names[1]: adam(d_params, lr=c.lr_d or base * d_share, **kw),
    }


def standard_normal(n: int, dim: int, generator: torch.Generator | None, device) -> torch.Tensor:
    """(n, dim) N(0, I) samples, from ``generator`` when given (drawn on CPU for reproducibility)."""
    return torch.randn(n, dim, generator=generator).to(device)
