"""Autoencoder: encoder x -> z, decoder z -> x_hat, loss ||x - x_hat||^2 (or BCE).

The deterministic autoencoder (Hinton & Salakhutdinov 2006). It has no prior of its own: ``sample`` decodes draws from
a Gaussian fitted to the training encodings (``prior='fitted'``, refitted after every epoch), or
from N(0, I) (``prior='standard'``), which shows the holes of an unregularised latent space.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import losses
from .base import GenerativeModel, check, standard_normal
from .blocks import build_decoder, build_encoder
from .capabilities import Encoder, LatentModel, Sampler
from .latent_prior import training_codes


@dataclass
class AEConfig:
    """Autoencoder hyper-parameters."""

    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W), set from the data
    arch: str = "conv"  # 'conv' or 'mlp'
    latent_dim: int = 16  # size of z
    hidden: tuple[int, ...] = (512,)  # MLP hidden widths (encoder; the decoder mirrors them)
    channels: tuple[int, ...] = ()  # conv widths per stride-2 stage; () picks them from the image size
    loss: str = "mse"  # 'mse' (||x - x_hat||^2 summed over pixels) or 'bce'
    prior: str = "fitted"  # sampling distribution: 'fitted' Gaussian of the encodings, or 'standard' N(0, I)

    def __post_init__(self):
        check(self.arch in ("conv", "mlp"), f"arch must be 'conv' or 'mlp', got '{self.arch}'")
        check(self.latent_dim >= 1, f"latent_dim must be an integer >= 1, got {self.latent_dim}")
        check(self.loss in ("mse", "bce"), f"loss must be 'mse' or 'bce', got '{self.loss}'")
        check(self.prior in ("fitted", "standard"), f"prior must be 'fitted' or 'standard', got '{self.prior}'")
        check(all(h >= 1 for h in self.hidden), "hidden widths must be integers >= 1")


class Autoencoder(GenerativeModel):
    latent_mean: torch.Tensor  # buffers
    latent_chol: torch.Tensor
    family = "ae"
    config_class = AEConfig
    capabilities = frozenset({LatentModel, Encoder, Sampler})
    metric_groups = ("reconstruction", "latent", "disentanglement", "samples")
    explorer_view = "latent"

    def __init__(self, config: AEConfig):
        super().__init__(config)
        shape = tuple(config.image_shape)
        self.encoder = build_encoder(config.arch, shape, config.latent_dim, config.hidden, config.channels)
        self.decoder = build_decoder(config.arch, shape, config.latent_dim, config.hidden, config.channels)
        # Gaussian fitted to the training encodings: z = mean + L eps, L the Cholesky factor of the covariance.
        self.register_buffer("latent_mean", torch.zeros(config.latent_dim))
        self.register_buffer("latent_chol", torch.eye(config.latent_dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W), uint8 or float in [0, 1] -> z (B, latent_dim)."""
        return self.encoder(self.as_images(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> images (B, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decoder(self.as_codes(z)))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss(self, x: torch.Tensor, step: int = 0) -> dict[str, torch.Tensor]:
        logits = self.decoder(self.encoder(x))
        if self.config.loss == "bce":
            rec = losses.bernoulli_nll(logits, x)
        else:
            rec = losses.squared_error(torch.sigmoid(logits), x)
        return {"loss": rec.mean()}

    @torch.no_grad()
    def on_epoch_end(self, data) -> None:
        if self.config.prior != "fitted":
            return
        was_training = self.training
        self.eval()
        z = training_codes(self.encode, data, self.device, limit=10_000)
        cov = torch.cov(z.T).reshape(z.shape[1], z.shape[1]) + 1e-6 * torch.eye(
            z.shape[1], dtype=z.dtype, device=z.device
        )
        self.latent_mean.copy_(z.mean(0).float())
        self.latent_chol.copy_(torch.linalg.cholesky(cov).float())
        self.train(was_training)

    @torch.no_grad()
    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = standard_normal(n, self.config.latent_dim, generator, self.latent_mean.device)
        if self.config.prior == "standard":
            return eps
        return self.latent_mean + eps @ self.latent_chol.T

    def latent_scale(self):
        """The fitted Gaussian's mean and per-dimension std; None for the standard N(0, I) prior."""
        if self.config.prior == "standard":
            return None
        return self.latent_mean, self.latent_chol.pow(2).sum(1).sqrt().clamp_min(1e-6)  # sqrt(diag(L L^T))

    @torch.no_grad()
    def sample(self, n, generator=None, labels=None):
        return self.decode(self.sample_latent(n, generator))

    @torch.no_grad()
    def preview(self, batch, generator):
        return self.sample(64, generator)
