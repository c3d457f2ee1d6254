"""Likelihood and latent usage of a VAE: IWAE estimate of -log p(x), ELBO, active units, KL per dim.

The model protocol (what :class:`genlab.models.vae.VAE` provides), with prior ``p(z) = N(0, I)``:

- ``encode_dist(x) -> (mu, logvar)``: the diagonal Gaussian ``q(z|x)``, each ``(B, D)``;
- ``log_px_given_z(x, z) -> (B, K)``: ``log p(x|z)`` for ``z`` of shape ``(B, K, D)`` (K latents per
  image), summed over pixels, in nats.

Burda, Grosse & Salakhutdinov 2016, "Importance weighted autoencoders": with
``w_i = p(x|z_i) p(z_i) / q(z_i|x)``, ``z_i ~ q(z|x)``,

    L_k = log (1/k) sum_{i=1..k} w_i   <=   log p(x),   E[L_k] increasing in k, L_k -> log p(x),

so ``-L_k`` with large k (1000 in the paper) estimates -log p(x); ``L_1`` is the ELBO.
"""

from __future__ import annotations

import math

import numpy as np
import torch

IWAE_K = 1000  # Burda et al. 2016 report NLL with k = 5000; 1000 is the common cheaper setting
IWAE_K_CHUNK = 100  # importance samples decoded at once per image
ACTIVE_UNITS_THRESHOLD = 0.01  # Burda et al. 2016: unit u active if Cov_x(E_q[u]) > 0.01
LOG_2PI = math.log(2 * math.pi)


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dim."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar)).sum(-1)


@torch.no_grad()
def iwae_bounds(
    model, x: torch.Tensor, k: int = IWAE_K, k_chunk: int = IWAE_K_CHUNK, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image ``(L_k, ELBO)``, each ``(B,)`` in nats, from k importance samples.

    ``L_k = logsumexp_i(log w_i) - log k`` is accumulated over chunks of ``k_chunk`` samples with a
    running logsumexp, so memory does not grow with k; the ELBO is the mean of the same ``log w_i``
    (an unbiased estimate of ``E_q[log w]`` from k samples).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    mu, logvar = model.encode_dist(x)  # (B, D) each
    b, d = mu.shape
    std = torch.exp(0.5 * logvar)
    lse = torch.full((b,), -math.inf, dtype=torch.float64, device=mu.device)
    sum_logw = torch.zeros(b, dtype=torch.float64, device=mu.device)
    done = 0
    while done < k:
        c = min(k_chunk, k - done)
        eps = torch.randn(b, c, d, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu[:, None] + std[:, None] * eps  # (B, c, D)
        log_pz = -0.5 * (LOG_2PI + z**2).sum(-1)  # (B, c)
        log_qz = _log_normal(z, mu[:, None], logvar[:, None])
        logw = (model.log_px_given_z(x, z) + log_pz - log_qz).double()  # (B, c)
        lse = torch.logaddexp(lse, torch.logsumexp(logw, dim=1))
        sum_logw += logw.sum(1)
        done += c
    return lse - math.log(k), sum_logw / k


def iwae_nll(
    model,
    x: torch.Tensor,
    k: int = IWAE_K,
    batch_size: int = 64,
    k_chunk: int = IWAE_K_CHUNK,
    seed: int = 0,
    progress=None,
) -> dict:
    """IWAE estimate of -log p(x) and the ELBO, averaged over the images ``x`` (N, ...), nats/image.

    Returns ``{"nll_iwae": mean(-L_k), "elbo": mean(ELBO), "iwae_k": k}``. ``nll_iwae <= -elbo`` holds
    for every image (Jensen, same samples). Images are processed ``batch_size`` at a time on the
    device they are on; noise comes from a generator seeded with ``seed``. Put the model in
    ``eval()`` mode first (no dropout, fixed batch-norm statistics). ``progress(n)`` is called with the
    number of images done after each batch.
    """
    gen = torch.Generator(device=x.device).manual_seed(seed)
    lk, elbo = [], []
    for i in range(0, x.shape[0], batch_size):
        a, b = iwae_bounds(model, x[i : i + batch_size], k, k_chunk, gen)
        lk.append(a)
        elbo.append(b)
        if progress is not None:
            progress(len(a))
    return {"nll_iwae": float(-torch.cat(lk).mean()), "elbo": float(torch.cat(elbo).mean()), "iwae_k": k}


def _np(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def active_units(mu, threshold: float = ACTIVE_UNITS_THRESHOLD) -> int:
    """Number of active latent units (Burda et al. 2016, Sec. 5.2).

    ``mu``: posterior means ``E_q[z|x]`` over a data set, ``(N, D)``. Unit u is active if
    ``A_u = Cov_x(E_{q(z|x)}[z_u]) > threshold`` (the variance over the data, ddof=0).
    """
    mu = _np(mu)
    if mu.ndim != 2:
        raise ValueError(f"mu must be (N, D) posterior means, got shape {mu.shape}")
    return int((mu.var(axis=0) > threshold).sum())


def kl_per_dim(mu, logvar) -> np.ndarray:
    """Mean over the data of ``KL(q(z_j|x) || N(0, 1))`` for each latent dim j, ``(D,)`` nats.

    ``KL = 0.5 (mu^2 + sigma^2 - log sigma^2 - 1)`` per dimension; the sum over j is the KL term of
    the ELBO.
    """
    mu, logvar = _np(mu), _np(logvar)
    if mu.shape != logvar.shape or mu.ndim != 2:
        raise ValueError(f"mu and logvar must both be (N, D), got {mu.shape} and {logvar.shape}")
    return (0.5 * (mu**2 + np.exp(logvar) - logvar - 1)).mean(axis=0)


@torch.no_grad()
def posterior_params(model, x: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mu, logvar)`` of ``q(z|x)`` for all images ``x``, each ``(N, D)``, batch by batch."""
    mus, logvars = [], []
    for i in range(0, x.shape[0], batch_size):
        mu, logvar = model.encode_dist(x[i : i + batch_size])
        mus.append(mu)
        logvars.append(logvar)
    return torch.cat(mus), torch.cat(logvars)
