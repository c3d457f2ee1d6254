"""Interpolation in latent space: decode the codes on a path between two endpoints, one row per pair.

Endpoints are the codes of two test images (AE, VAE: ``encode``, the VAE's posterior mean), or
two prior samples (VAE: N(0, I); AE: its fitted Gaussian; GAN: two noise vectors). For a
conditional GAN the path can also run between two labels with the noise fixed: the generator's
label embedding goes linearly from one class's vector to the other's.

Two paths:

- ``linear``: z(t) = (1 - t) z_a + t z_b.
- ``slerp`` (White 2016, "Sampling generative networks"): the great-circle path
  z(t) = sin((1 - t) w) / sin(w) z_a + sin(t w) / sin(w) z_b, w the angle between z_a and z_b.
  Draws of a D-dimensional N(0, I) lie near the sphere of radius sqrt(D); the linear midpoint of
  two of them has norm ~ sqrt(D / 2), a point the prior almost never produces, so its image is
  often washed out. Slerp keeps the norm, and so the path, where the prior puts its mass.

``method='auto'`` uses slerp for prior samples of a model whose prior is N(0, I) (VAE, GAN) and
linear otherwise (encoded test images; an AE's fitted Gaussian or a VQ-VAE's codebook, no such shell).
"""

from __future__ import annotations

import os

import torch

from ..data.base import ImageData, to_float
from ..errors import GenlabError
from ..models.capabilities import Conditional, Encoder, require
from .traverse import check_index, decode_latents, encode_images, has_encoder, latent_size, prior_latents, test_data

METHODS = ("auto", "linear", "slerp")


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear path: a, b (D,); t (T,) -> (T, D)."""
    t = t.to(a).unsqueeze(1)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Spherical path (White 2016): a, b (D,); t (T,) -> (T, D). Linear where a and b are (anti)parallel."""
    t = t.to(a).unsqueeze(1)
    a64, b64 = a.double(), b.double()
    cos = (a64 @ b64 / (a64.norm() * b64.norm()).clamp_min(eps)).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-4 or (torch.pi - omega).abs() < 1e-4:
        return lerp(a, b, t.squeeze(1))
    so = torch.sin(omega)
    t64 = t.double()
    return ((torch.sin((1 - t64) * omega) / so) * a64 + (torch.sin(t64 * omega) / so) * b64).to(a.dtype)


def path(a: torch.Tensor, b: torch.Tensor, steps: int, method: str) -> torch.Tensor:
    """``steps`` codes (steps, D) from a to b inclusive, by ``method`` ('linear' or 'slerp')."""
    t = torch.linspace(0, 1, steps)
    return slerp(a, b, t) if method == "slerp" else lerp(a, b, t)


@torch.no_grad()
def interpolate(
    model,
    pairs: int = 4,
    steps: int = 10,
    source: str = "auto",
    images=None,
    method: str = "auto",
    seed: int = 0,
    labels=None,
    label=None,
    data: ImageData | None = None,
    out: str | os.PathLike | None = None,
    return_info: bool = False,
):
    """Interpolation grid of ``model``: ``pairs`` rows of ``steps`` images, endpoints included.

    source: 'images' (codes of test images; AE/VAE), 'prior' (prior samples / GAN noise, ``seed``),
    'auto' (images when the model has an encoder, else prior). images: the test indices of the
    endpoints, ``[a0, b0, a1, b1, ...]`` (default: evenly spread test images). method: 'linear',
    'slerp' or 'auto' (see the module docstring). Conditional GAN: ``labels=(A, B)`` interpolates
    the label embedding from class A to class B with each row's noise fixed; otherwise ``label``
    (default 0) is the class of every image. out: a PNG to write.

    Returns images (pairs * steps, C, H, W) in [0, 1], column 0 the decoded start, the last column
    the decoded end; with ``return_info`` also ``{'codes', 'method', 'source'}``.
    """
    if method not in METHODS:
        raise GenlabError(f"unknown method '{method}'; choose one of: {', '.join(METHODS)}")
    if source not in ("auto", "images", "prior"):
        raise GenlabError(f"unknown source '{source}'; choose one of: auto, images, prior")
    if steps < 2:
        raise GenlabError(f"--steps must be an integer >= 2, got {steps}")
    if pairs < 1:
        raise GenlabError(f"--pairs must be an integer >= 1, got {pairs}")
    latent_size(model)
    if source == "auto":
        source = "images" if has_encoder(model) and labels is None else "prior"
    if source == "images":
        require(model, Encoder, "interpolating between test images (else use prior samples: --prior)")
    if images is not None and source != "images":
        raise GenlabError("--images picks test images; it cannot be used with prior samples")
    if method == "auto":
        method = "slerp" if source == "prior" and model.latent_scale() is None else "linear"

    if source == "images":
        test = test_data(model, data)
        if images is None:
            idx = torch.linspace(0, len(test) - 1, 2 * pairs).round().long()
            idx = torch.cat([idx[:pairs], idx[pairs:]]).view(2, pairs).T.reshape(-1)  # far-apart pairs
        else:
            idx = torch.as_tensor([check_index(int(i), len(test), "--images index") for i in images])
            if idx.numel() != 2 * pairs:
                raise GenlabError(f"--images needs 2 x pairs = {2 * pairs} test indices, got {idx.numel()}")
        ends = encode_images(model, to_float(test.images[idx])).cpu()  # (2 * pairs, D)
    else:
        ends = prior_latents(model, 2 * pairs, torch.Generator().manual_seed(seed)).cpu()

    if labels is not None:  # conditional GAN: noise fixed per row, label embedding from A to B
        require(model, Conditional, "--labels (interpolating between classes)")
        ea, eb = model.label_embedding(list(labels)).cpu()  # (E,) each; the labels checked there
        emb = torch.cat([path(ea, eb, steps, "linear")] * pairs)  # (pairs * steps, E)
        codes = ends[:pairs].repeat_interleave(steps, 0)  # (pairs * steps, D)
        images_out = decode_latents(model, codes, labels=int(labels[0]), label_embedding=emb).cpu()
    else:
        codes = torch.cat([path(ends[2 * i], ends[2 * i + 1], steps, method) for i in range(pairs)])
        images_out = decode_latents(model, codes, labels=label).cpu()
    if out is not None:
        from .grid import save_grid

        save_grid(images_out, out, nrow=steps)
    if return_info:
        if labels is not None:
            method, source = "linear (label embedding)", "labels"
        return images_out, {"codes": codes, "method": method, "source": source}
    return images_out
