"""Paired image metrics (pix2pix, CycleGAN) and classification accuracy.

Images are ``(N, C, H, W)`` or ``(C, H, W)`` tensors or arrays with values in ``[0, data_range]``;
uint8 input is read as ``[0, 255]`` and scaled to ``[0, 1]`` (then ``data_range`` must be 1).
Per-image values are averaged over the images.

- PSNR: ``10 log10(R^2 / MSE)`` per image.
- SSIM (Wang, Bovik, Sheikh & Simoncelli 2004, "Image quality assessment: from error visibility to
  structural similarity"): with local Gaussian-weighted statistics (11x11 window, sigma 1.5),
  ``SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))``,
  ``C1 = (K1 R)^2``, ``C2 = (K2 R)^2``, ``K1 = 0.01``, ``K2 = 0.03``, averaged over the positions where
  the window fits inside the image and over channels (skimage's
  ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _images(x, name: str) -> torch.Tensor:
    """As float64 (N, C, H, W); uint8 scaled to [0, 1]."""
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().cpu()
    if x.dtype == torch.uint8:
        x = x.double() / 255.0
    x = x.double()
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"{name} must be (N, C, H, W) or (C, H, W) images, got shape {tuple(x.shape)}")
    return x


def _pair(a, b) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _images(a, "a"), _images(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {tuple(a.shape)} and {tuple(b.shape)}")
    return a, b


def psnr(a, b, data_range: float = 1.0) -> float:
    """Mean over images of ``10 log10(data_range^2 / MSE)``, in dB (inf for identical images)."""
    a, b = _pair(a, b)
    mse = ((a - b) ** 2).flatten(1).mean(1)  # (N,)
    with np.errstate(divide="ignore"):
        per_image = 10 * np.log10(data_range**2 / mse.numpy())
    return float(per_image.mean())


def l1(a, b) -> float:
    """Mean absolute difference over all pixels and images."""
    a, b = _pair(a, b)
    return float((a - b).abs().mean())


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()  # (size,)


def ssim(
    a,
    b,
    data_range: float = 1.0,
    window: int = SSIM_WINDOW,
    sigma: float = SSIM_SIGMA,
    k1: float = SSIM_K1,
    k2: float = SSIM_K2,
) -> float:
    """Mean SSIM over images (Wang et al. 2004), Gaussian window; see the module docstring."""
    a, b = _pair(a, b)
    n, c, h, w = a.shape
    if h < window or w < window:
        raise ValueError(f"SSIM needs images of at least {window}x{window} pixels, got {h}x{w}")
    g = _gaussian_window(window, sigma)
    kernel = (g[:, None] * g[None, :]).expand(c, 1, window, window)  # (C, 1, win, win), per channel

    def blur(x):  # valid positions only: (N, C, H - win + 1, W - win + 1)
        return F.conv2d(x, kernel, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.flatten(1).mean(1).mean())


def classification_accuracy(logits_or_preds, labels) -> float:
    """Share of correct predictions. ``logits_or_preds``: ``(N, num_classes)`` scores (argmax taken)
    or ``(N,)`` integer predicted labels; ``labels``: ``(N,)`` integers."""
    p = (
        torch.as_tensor(
            np.asarray(logits_or_preds) if not isinstance(logits_or_preds, torch.Tensor) else logits_or_preds
        )
        .detach()
        .cpu()
    )
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels).detach().cpu()
    if p.ndim == 2:
        p = p.argmax(dim=1)
    if p.ndim != 1 or y.ndim != 1 or p.shape[0] != y.shape[0]:
        raise ValueError(
            f"expected (N, classes) or (N,) predictions and (N,) labels, got {tuple(p.shape)} and {tuple(y.shape)}"
        )
    if p.shape[0] == 0:
        return math.nan
    return float((p.long() == y.long()).double().mean())
