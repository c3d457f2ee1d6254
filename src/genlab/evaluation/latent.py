"""Two properties of a latent space, measured: completeness and continuity.

- **Completeness**: points drawn from the prior decode into meaningful images. Measured as the share
  of prior samples ``z ~ N(0, I)`` whose decoded image a classifier labels with confidence:

      latent_completeness = P_{z ~ N(0, I)}[ max_y softmax(classifier(decode(z)))_y >= threshold ].

- **Continuity**: points close in latent space decode into similar images, so that walking a
  straight line between two codes changes the image gradually rather than in a jump. For a path
  ``z(t) = (1 - t) z_a + t z_b`` sampled at ``t_i = i / S``, ``i = 0..S`` (S = ``steps``), with
  decoded images ``x_i`` and step lengths ``d_i = ||x_{i+1} - x_i||_2`` (all pixels), the path's
  jump ratio is

      r = max_i d_i / mean_i d_i   in [1, S],

  1 when every step changes the image equally (a linear decoder), S when the whole change happens
  in one step (a step-function decoder). A path along which the image does not change at all has
  r = 1. ``latent_continuity`` is the mean of r over paths: lower is smoother, 1 is the minimum.
"""

from __future__ import annotations

import numpy as np
import torch

COMPLETENESS_THRESHOLD = 0.9
COMPLETENESS_N = 10_000
CONTINUITY_STEPS = 16
CONTINUITY_PAIRS = 1_000


@torch.no_grad()
def latent_completeness(
    decode_fn,
    classifier_fn,
    latent_dim: int,
    n: int = COMPLETENESS_N,
    threshold: float = COMPLETENESS_THRESHOLD,
    seed: int = 0,
    batch_size: int = 500,
    device: str | torch.device = "cpu",
) -> float:
    """Share of ``n`` prior samples ``z ~ N(0, I_latent_dim)`` whose decoded image the classifier
    labels with max softmax probability ``>= threshold`` (see the module docstring).

    ``decode_fn(z (B, D)) -> images``; ``classifier_fn(images) -> logits (B, num_classes)``.
    """
    gen = torch.Generator(device=device).manual_seed(seed)
    confident = 0
    for i in range(0, n, batch_size):
        b = min(batch_size, n - i)
        z = torch.randn(b, latent_dim, generator=gen, device=device)
        logits = classifier_fn(decode_fn(z))
        if logits.ndim != 2 or logits.shape[0] != b:
            raise ValueError(f"classifier_fn must return (B, num_classes) logits, got {tuple(logits.shape)}")
        confident += int((logits.float().softmax(dim=1).max(dim=1).values >= threshold).sum())
    return confident / n


def random_pairs(z, num_pairs: int = CONTINUITY_PAIRS, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``num_pairs`` random pairs of distinct rows of ``z`` ``(N, D)`` (e.g. encoded test images):
    ``(z_start, z_end)``, each ``(num_pairs, D)``."""
    z = torch.as_tensor(z)
    if z.shape[0] < 2:
        raise ValueError(f"need at least 2 codes to make pairs, got {z.shape[0]}")
    rng = np.random.default_rng(seed)
    a = rng.integers(z.shape[0], size=num_pairs)
    b = (a + rng.integers(1, z.shape[0], size=num_pairs)) % z.shape[0]  # never equal to a
    return z[torch.from_numpy(a)], z[torch.from_numpy(b)]


@torch.no_grad()
def path_jump_ratios(
    decode_fn, z_start: torch.Tensor, z_end: torch.Tensor, steps: int = CONTINUITY_STEPS, batch_size: int = 64
) -> torch.Tensor:
    """Jump ratio ``max_i d_i / mean_i d_i`` of each straight path, ``(P,)`` (module docstring)."""
    if z_start.shape != z_end.shape or z_start.ndim != 2:
        raise ValueError(f"z_start and z_end must both be (P, D), got {tuple(z_start.shape)} and {tuple(z_end.shape)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    t = torch.linspace(0, 1, steps + 1, dtype=z_start.dtype, device=z_start.device)[None, :, None]  # (1, S+1, 1)
    out = []
    for i in range(0, z_start.shape[0], batch_size):
        za, zb = z_start[i : i + batch_size, None], z_end[i : i + batch_size, None]  # (P, 1, D)
        z = (1 - t) * za + t * zb  # (P, S+1, D)
        p = z.shape[0]
        x = decode_fn(z.reshape(p * (steps + 1), -1)).reshape(p, steps + 1, -1).double()
        d = (x[:, 1:] - x[:, :-1]).norm(dim=2)  # (P, S)
        mean = d.mean(dim=1)
        ratio = torch.where(mean > 0, d.max(dim=1).values / mean.clamp_min(1e-300), torch.ones_like(mean))
        out.append(ratio.cpu())
    return torch.cat(out)


def latent_continuity(decode_fn, z_start, z_end, steps: int = CONTINUITY_STEPS, batch_size: int = 64) -> float:
    """Mean jump ratio over straight latent paths ``z_start[p] -> z_end[p]``: 1 means the decoded
    image changes evenly along every path, ``steps`` that it changes in a single jump (module
    docstring). Build the endpoints with :func:`random_pairs` from encoded test images."""
    return float(
        path_jump_ratios(decode_fn, torch.as_tensor(z_start), torch.as_tensor(z_end), steps, batch_size).mean()
    )
