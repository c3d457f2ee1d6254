"""Latent traversals: perturb one latent dimension at a time, the others fixed (one row per dimension).

A latent perturbation (Higgins et al. 2017, figure 7): take a code z0 (a prior sample, or the encoding of a test
image), and for each chosen dimension j decode the codes z0 with z_j set to each of ``steps``
values in ``value_range``. A dimension that encodes one interpretable feature changes only that
feature along its row (disentanglement, beta-VAE).

Values are in prior units: for a model whose prior is N(0, I) (VAE, GAN) z_j takes the values
themselves; otherwise (an AE's fitted Gaussian, a VQ-VAE's codebook) they are standard deviations
of that dimension's test codes, ``z_j = mean_j + v * std_j``.

Rows are ordered by how much the model uses each dimension: a VAE's dimensions by their mean
KL(q(z_j|x) || N(0, 1)) over a test batch (the informative ones first; collapsed ones, KL ~ 0,
last), an AE's by the variance of its codes; a GAN keeps the natural order.

This module also holds the helpers every latent-space picture shares: decoding latents of any
:class:`~genlab.models.capabilities.LatentModel`, prior draws, and the test images of a run.
"""

from __future__ import annotations

import os

import torch

from .. import losses
from ..data.base import ImageData, to_float
from ..errors import GenlabError
from ..models.capabilities import Conditional, Encoder, GaussianPosterior, LatentModel, class_labels, require, supports

ORDER_BATCH = 1000  # test images used to order the dimensions (KL per dim, or code variance)
DECODE_CHUNK = 256  # codes decoded per forward pass


# ---------------------------------------------------------------- helpers shared by the viz modules
def latent_size(model) -> int:
    """The size of the model's latent (the code of an encoder, the noise of a GAN)."""
    require(model, LatentModel, "a latent picture")
    return int(model.latent_dim)


def has_encoder(model) -> bool:
    return supports(model, Encoder)


def num_classes(model) -> int:
    return int(model.config.num_classes) if supports(model, Conditional) else 0


def _device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


@torch.no_grad()
def decode_latents(model, z: torch.Tensor, labels=None, label_embedding: torch.Tensor | None = None) -> torch.Tensor:
    """Latent codes z (B, D) -> images (B, C, H, W) in [0, 1], by the model's ``decode``, in chunks.

    A conditional model takes ``labels`` (an int or B ints, default 0), or ``label_embedding`` (B, E):
    vectors given in place of its label embedding, to interpolate between classes.
    """
    z = z.to(_device(model))
    if z.ndim != 2 or z.shape[1] != latent_size(model):
        raise GenlabError(f"latent codes must be (B, {latent_size(model)}), got {tuple(z.shape)}")
    chunks = z.split(DECODE_CHUNK)
    if not supports(model, Conditional):
        class_labels(labels, z.shape[0], 0)  # a label given to an unconditional model: its one-line error
        return torch.cat([model.decode(c) for c in chunks]).clamp(0, 1)
    y = class_labels(0 if labels is None else labels, z.shape[0], num_classes(model), z.device)
    assert y is not None  # a conditional model's labels
    embs = label_embedding.split(DECODE_CHUNK) if label_embedding is not None else [None] * len(chunks)
    return torch.cat([model.decode(c, yc, e) for c, yc, e in zip(chunks, y.split(DECODE_CHUNK), embs)]).clamp(0, 1)


@torch.no_grad()
def prior_latents(model, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n draws (n, D) of the model's prior: the codes ``model.sample`` would decode with the same generator."""
    return require(model, LatentModel, "a latent picture").sample_latent(n, generator)


def test_data(model, data: ImageData | None = None, split: str = "test") -> ImageData:
    """The run's test split (``model.meta['data']``), or ``data`` when given."""
    if data is not None:
        return data
    from ..data import load_run_data

    name = (getattr(model, "meta", None) or {}).get("data")
    if not name:
        raise GenlabError("this model has no dataset recorded (load it with genlab.load(RUN)) and no data was given")
    return load_run_data(model.meta, split)


def spread(n_total: int, n: int) -> torch.Tensor:
    """n indices spread evenly over range(n_total) (a fixed, seed-free subset)."""
    return torch.linspace(0, n_total - 1, min(n, n_total)).round().long()


@torch.no_grad()
def encode_images(model, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Codes (N, D) of images (N, C, H, W) in [0, 1]: the AE code, the VAE posterior mean."""
    require(model, Encoder, "a picture from test images")
    dev = _device(model)
    return torch.cat([model.encode(c.to(dev)) for c in x.split(batch_size)])


def check_index(i: int, n: int, what: str = "--from-image") -> int:
    if not 0 <= i < n:
        raise GenlabError(f"{what} {i} is outside the test set (0..{n - 1})")
    return i


# ---------------------------------------------------------------- ordering
@torch.no_grad()
def dimension_order(model, x: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """The latent dimensions, most used first: ``(order (D,), score (D,) or None, what the score is)``.

    A Gaussian posterior (VAE): mean KL(q(z_j|x) || N(0, 1)) per dimension over the images ``x``, in
    nats. Another encoder: variance of the codes of ``x``. No encoder, or no images: the natural order.
    """
    d = latent_size(model)
    if x is None or not has_encoder(model):
        return torch.arange(d), None, ""
    dev = _device(model)
    if supports(model, GaussianPosterior):
        mus, logvars = zip(*(model.encode_dist(c.to(dev)) for c in x.split(500)))
        mu, logvar = torch.cat(mus).double(), torch.cat(logvars).double()
        score = losses.kl_normal_standard(mu, logvar).mean(0)  # (D,) KL per dim, nats
        what = "KL (nats)"
    else:
        score = encode_images(model, x).double().var(0)
        what = "code variance"
    order = torch.argsort(score.cpu(), descending=True, stable=True)
    return order, score.float().cpu(), what


# ---------------------------------------------------------------- traversal
def traversal_codes(
    z0: torch.Tensor, dims, values: torch.Tensor, center: torch.Tensor | None = None, scale: torch.Tensor | None = None
) -> torch.Tensor:
    """Codes for a traversal grid: (len(dims) * steps, D), row r = z0 with dimension dims[r] swept.

    z0 (D,); values (steps,). Row r, column c: z0 with ``z[dims[r]] = center[j] + values[c] * scale[j]``
    (center 0 and scale 1 by default: the values themselves); every other dimension equals z0.
    """
    z0 = z0.reshape(-1)
    d = z0.shape[0]
    center = torch.zeros(d) if center is None else center
    scale = torch.ones(d) if scale is None else scale
    values = values.to(z0)
    rows = []
    for j in dims:
        z = z0.expand(values.shape[0], d).clone()  # (steps, D)
        z[:, j] = center[j].to(z0) + values * scale[j].to(z0)
        rows.append(z)
    return torch.cat(rows)


def check_dims(dims, d: int) -> list[int]:
    dims = [int(j) for j in dims]
    if not dims:
        raise GenlabError("--dims needs at least one dimension")
    bad = [j for j in dims if not 0 <= j < d]
    if bad:
        raise GenlabError(
            f"--dims: dimension {bad[0]} is out of range; this model's latent has {d} dimensions (0..{d - 1})"
        )
    return dims


@torch.no_grad()
def traverse(
    model,
    dims=None,
    value_range: tuple[float, float] = (-3.0, 3.0),
    steps: int = 9,
    from_image: int | None = None,
    seed: int = 0,
    top: int = 16,
    label=None,
    data: ImageData | None = None,
    out: str | os.PathLike | None = None,
    return_info: bool = False,
):
    """Latent traversal grid of ``model`` (AE, VAE, beta-VAE, GAN, cGAN): one row per dimension.

    dims: the dimensions to sweep, drawn in the order given; None: the ``top`` most used ones, most
    used first (VAE: by mean KL per dimension over a test batch; AE: by code variance). value_range,
    steps: the swept values (prior units; for an AE standard deviations of the codes, see the module
    docstring). from_image: index of the test image whose code is z0; None: z0 is a prior sample
    (``seed``). label: the class of a conditional GAN (default 0). data: the test ImageData (default:
    the run's test split). out: a PNG to write (rows = dimensions, columns = steps).

    Returns images (len(dims) * steps, C, H, W) in [0, 1]; with ``return_info`` also a dict with
    ``codes`` (the decoded latents), ``dims``, ``values`` and ``score`` (KL or variance per dim).
    """
    d = latent_size(model)
    lo, hi = float(value_range[0]), float(value_range[1])
    if not lo < hi:
        raise GenlabError(f"--range needs LOW < HIGH, got {lo} {hi}")
    if steps < 2:
        raise GenlabError(f"--steps must be an integer >= 2, got {steps}")
    if top < 1:
        raise GenlabError(f"--top must be an integer >= 1, got {top}")
    if dims is not None:
        dims = check_dims(dims, d)
    x = None
    unit_prior = model.latent_scale() is None  # N(0, I): values are the codes themselves
    if has_encoder(model) and (dims is None or from_image is not None or not unit_prior):
        test = test_data(model, data)
        if from_image is not None:
            check_index(from_image, len(test))
        x = to_float(test.images[spread(len(test), ORDER_BATCH)])
    elif from_image is not None:
        require(model, Encoder, "--from-image")
    order, score, what = dimension_order(model, x)
    if dims is None:
        dims = order[:top].tolist()
    if from_image is not None:
        z0 = encode_images(model, to_float(test.images[from_image : from_image + 1]))[0]
    else:
        z0 = prior_latents(model, 1, torch.Generator().manual_seed(seed))[0]
    center = scale = None
    if not unit_prior:  # values in std of the test codes (or of the prior, without an encoder)
        if x is not None:
            codes = encode_images(model, x)
            center, scale = codes.mean(0), codes.std(0)
        else:
            center, scale = model.latent_scale()
    values = torch.linspace(lo, hi, steps)
    codes = traversal_codes(
        z0.cpu(), dims, values, None if center is None else center.cpu(), None if scale is None else scale.cpu()
    )
    images = decode_latents(model, codes, labels=label).cpu()
    if out is not None:
        from .grid import save_grid

        save_grid(images, out, nrow=steps)
    if return_info:
        return images, {"codes": codes, "dims": list(dims), "values": values, "score": score, "score_name": what}
    return images
