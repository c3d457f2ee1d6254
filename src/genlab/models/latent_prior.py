"""Sampling distributions fitted to the codes of the training images (ex-post density estimation).

A VAE trained with the N(0, I) prior leaves regions of that prior that no training image encodes
to ("holes"); decoding draws from them gives the ghosts of several garments at once. Ghosh et al.
2020 ("From variational to deterministic autoencoders") sample instead from a mixture of
full-covariance Gaussians fitted to the codes of the training images, once training is done. The
networks and the ELBO are untouched: only where the decoder's inputs are drawn from changes. The
autoencoder's fitted Gaussian is the one-component case.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..data.base import to_float
from .base import standard_normal

PRIOR_IMAGES = 60_000  # training images encoded for a fit (evenly spaced when there are more)
REG_COVAR = 1e-6  # added to each covariance's diagonal (in squared code units), as sklearn does


@torch.no_grad()
def training_codes(encode, data, device, limit: int = PRIOR_IMAGES) -> torch.Tensor:
    """``encode`` of up to ``limit`` evenly spaced training images, (N, D) float64 on ``device``."""
    idx = torch.linspace(0, len(data) - 1, min(len(data), limit)).long()
    return torch.cat([encode(to_float(data.images[i]).to(device)) for i in idx.split(1000)]).double()


class GaussianMixturePrior(nn.Module):
    """p(z) = sum_k w_k N(z; m_k, L_k L_k^T), fitted by EM (sklearn's ``GaussianMixture``, full covariances)."""

    weights: torch.Tensor  # (K,) buffers, saved with the model
    means: torch.Tensor  # (K, D)
    chol: torch.Tensor  # (K, D, D) lower-triangular Cholesky factors of the covariances
    fitted: torch.Tensor  # () 0 until the first fit

    def __init__(self, components: int, dim: int):
        super().__init__()
        self.register_buffer("weights", torch.full((components,), 1.0 / components))
        self.register_buffer("means", torch.zeros(components, dim))
        self.register_buffer("chol", torch.eye(dim).repeat(components, 1, 1))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def fit(self, codes: torch.Tensor, seed: int = 0) -> None:
        """Fit the mixture to ``codes`` (N, D) by EM (k-means start, ``seed`` for it)."""
        from sklearn.mixture import GaussianMixture

        k = self.weights.shape[0]
        gm = GaussianMixture(k, covariance_type="full", reg_covar=REG_COVAR, random_state=seed)
        gm.fit(codes.detach().cpu().numpy().astype(np.float64))
        cov = torch.from_numpy(gm.covariances_)  # (K, D, D) float64, REG_COVAR already on the diagonal
        self.weights.copy_(torch.from_numpy(gm.weights_))
        self.means.copy_(torch.from_numpy(gm.means_))
        self.chol.copy_(torch.linalg.cholesky(cov))
        self.fitted.fill_(1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, D) draws: a component by its weight, then z = m_k + L_k eps (drawn on CPU with ``generator``)."""
        k = torch.multinomial(self.weights.cpu(), n, replacement=True, generator=generator).to(self.means.device)
        eps = standard_normal(n, self.means.shape[1], generator, self.means.device)  # (n, D)
        return self.means[k] + (self.chol[k] @ eps.unsqueeze(-1)).squeeze(-1)

    def moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The mixture's mean (D,) and per-dimension std (D,): E[z] = sum_k w_k m_k,
        Var[z_d] = sum_k w_k (Sigma_k,dd + m_k,d^2) - E[z_d]^2."""
        w = self.weights.unsqueeze(1)  # (K, 1)
        mean = (w * self.means).sum(0)
        var = (w * (self.chol.pow(2).sum(2) + self.means.pow(2))).sum(0) - mean.pow(2)  # diag(L L^T) = row norms^2
        return mean, var.clamp_min(1e-12).sqrt()
