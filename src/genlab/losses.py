"""Loss functions: pure, on tensors, no state.

Shapes: images (B, C, H, W); latents (B, D). Every per-image loss is summed over pixels or latent
dimensions and averaged over the batch, so the numbers are nats (or squared error) per image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def kl_normal_standard(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) per dimension, closed form.

    KL = 1/2 (sigma^2 + mu^2 - 1 - log sigma^2)   -> (B, D)
    (the notes' regularisation term, written with the variance sigma^2 = exp(logvar)).
    """
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x | z) under independent Bernoulli pixels, from decoder logits. -> (B,), nats."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def gaussian_nll(mean: torch.Tensor, x: torch.Tensor, sigma: float, constant: bool = True) -> torch.Tensor:
    """-log N(x; mean, sigma^2 I) per image -> (B,), nats.

    = ||x - mean||^2 / (2 sigma^2) + D/2 log(2 pi sigma^2); ``constant=False`` drops the last term.
    """
    d = x[0].numel()
    nll = (x - mean).pow(2).flatten(1).sum(1) / (2.0 * sigma**2)
    if constant:
        nll = nll + 0.5 * d * math.log(2.0 * math.pi * sigma**2)
    return nll


def squared_error(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """||x - x_hat||^2 per image (the notes' autoencoder loss) -> (B,)."""
    return (x - x_hat).pow(2).flatten(1).sum(1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I): the sampling moved out of the gradient path."""
    return mu + torch.randn_like(mu) * (0.5 * logvar).exp()
