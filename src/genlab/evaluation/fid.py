"""Distances between a generated and a real set of features: FID, KID, k-NN precision/recall.

All functions take features as ``(N, d)`` arrays (numpy or torch) and return plain floats; the
feature extractor is someone else's job.

- FID (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a local Nash
  equilibrium"): the Frechet distance between Gaussians fitted to the two sets,
  ``d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``.
- KID (Binkowski et al. 2018, "Demystifying MMD GANs"): the unbiased estimate of MMD^2 with the
  cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets, as clean-fid.
- Precision/recall (Kynkaanniemi et al. 2019, "Improved precision and recall metric for assessing
  generative models"): each set's manifold is the union of balls around its points with radius the
  distance to the k-th nearest neighbour; precision is the share of fake points inside the real
  manifold, recall the share of real points inside the fake manifold.
"""

from __future__ import annotations

import numpy as np
import torch

KID_NUM_SUBSETS = 100  # clean-fid / Binkowski et al. defaults
KID_SUBSET_SIZE = 1000
PR_K = 3  # Kynkaanniemi et al. 2019: k = 3
PR_ROW_CHUNK = 1000  # rows of the distance matrix held at once: (chunk, N) float64


def _np64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _features(f, name: str) -> np.ndarray:
    f = _np64(f)
    if f.ndim != 2:
        raise ValueError(f"{name} must be (N, d) features, got shape {f.shape}")
    return f


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative eigenvalues from
    round-off clipped to 0)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Frechet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``d^2 = ||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^(1/2))`` (Dowson &
    Landau 1982; the FID of Heusel et al. 2017). ``Tr((S1 S2)^(1/2))`` is computed in the symmetric,
    eigen-based form ``sum_i sqrt(lambda_i(S1^(1/2) S2 S1^(1/2)))``: ``S1 S2`` has the same
    eigenvalues as the PSD matrix ``S1^(1/2) S2 S1^(1/2)``, so no complex parts and no ill-conditioned
    ``sqrtm`` (the eps-offset fallback of pytorch-fid is not needed). Computed in float64.
    """
    mu1, mu2 = _np64(mu1).ravel(), _np64(mu2).ravel()
    sigma1, sigma2 = np.atleast_2d(_np64(sigma1)), np.atleast_2d(_np64(sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shapes do not match: mu {mu1.shape}, {mu2.shape}; sigma {sigma1.shape}, {sigma2.shape}")
    s1_half = _sqrt_psd(sigma1)
    m = s1_half @ sigma2 @ s1_half
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    d2 = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean
    return float(max(d2, 0.0))


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and unbiased covariance ``(d, d)`` of ``(N, d)`` features (as pytorch-fid)."""
    f = _features(features, "features")
    if f.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {f.shape[0]}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def fid_from_features(f1, f2) -> float:
    """FID between two sets of ``(N, d)`` features: :func:`frechet_distance` of their Gaussian fits."""
    mu1, s1 = gaussian_stats(f1)
    mu2, s2 = gaussian_stats(f2)
    return frechet_distance(mu1, s1, mu2, s2)


def kid_from_features(
    f1, f2, num_subsets: int = KID_NUM_SUBSETS, subset_size: int = KID_SUBSET_SIZE, seed: int = 0
) -> dict:
    """KID (Binkowski et al. 2018): unbiased MMD^2 with the kernel ``k(x, y) = (x.y / d + 1)^3``.

    For each of ``num_subsets`` subsets, ``m = min(subset_size, N1, N2)`` rows are drawn without
    replacement from each set, and

        MMD^2_u = 1/(m(m-1)) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] - 2/m^2 sum_{i, j} k(x_i, y_j).

    Returns ``{"kid": mean, "kid_std": std over subsets, "kid_num_subsets", "kid_subset_size"}``.
    The mean is clean-fid's ``kernel_distance`` (the same subsets would give the same number).
    """
    x, y = _features(f1, "f1"), _features(f2, "f2")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dimensions differ: {x.shape[1]} and {y.shape[1]}")
    d = x.shape[1]
    m = min(subset_size, x.shape[0], y.shape[0])
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {m}")
    rng = np.random.default_rng(seed)
    vals = np.empty(num_subsets)
    for s in range(num_subsets):
        xs = x[rng.choice(x.shape[0], m, replace=False)]
        ys = y[rng.choice(y.shape[0], m, replace=False)]
        kxx = (xs @ xs.T / d + 1) ** 3  # (m, m)
        kyy = (ys @ ys.T / d + 1) ** 3
        kxy = (xs @ ys.T / d + 1) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        vals[s] = within - 2 * kxy.sum() / (m * m)
    return {
        "kid": float(vals.mean()),
        "kid_std": float(vals.std()),
        "kid_num_subsets": num_subsets,
        "kid_subset_size": m,
    }


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (A, B), ``|a|^2 + |b|^2 - 2 a.b`` clamped at 0."""
    d = (a * a).sum(1, keepdim=True) + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return d.clamp_min_(0)


def _knn_radii(x: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Squared distance from each row of x to its k-th nearest other row (N,)."""
    out = []
    for i in range(0, x.shape[0], chunk):
        d = _sq_dists(x[i : i + chunk], x)  # (chunk, N), the row's own 0 among them
        out.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def _in_manifold(query: torch.Tensor, ref: torch.Tensor, radii: torch.Tensor, chunk: int) -> torch.Tensor:
    """For each query row: is it within radius of at least one ref row? (Q,) bool."""
    out = []
    for i in range(0, query.shape[0], chunk):
        d = _sq_dists(query[i : i + chunk], ref)  # (chunk, R)
        out.append((d <= radii[None, :]).any(dim=1))
    return torch.cat(out)


def precision_recall(
    real_feats, fake_feats, k: int = PR_K, chunk: int = PR_ROW_CHUNK, device: str | torch.device = "cpu"
) -> dict:
    """k-NN precision and recall (Kynkaanniemi et al. 2019).

    With ``r_k(p, S)`` the distance from p to its k-th nearest neighbour in S (itself excluded),
    ``manifold(S) = union_{p in S} ball(p, r_k(p, S))``, and

        precision = |{f in fake : f in manifold(real)}| / |fake|
        recall    = |{r in real : r in manifold(fake)}| / |real|.

    Distances are computed in float64 on ``device``, ``chunk`` rows at a time, so 10k x 10k sets need
    about ``chunk * N * 8`` bytes at once. Returns ``{"precision", "recall", "pr_k"}``.
    """
    real = torch.as_tensor(_features(real_feats, "real_feats"), device=device)
    fake = torch.as_tensor(_features(fake_feats, "fake_feats"), device=device)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dimensions differ: {real.shape[1]} and {fake.shape[1]}")
    if min(real.shape[0], fake.shape[0]) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    real_r = _knn_radii(real, k, chunk)
    fake_r = _knn_radii(fake, k, chunk)
    precision = _in_manifold(fake, real, real_r, chunk).double().mean().item()
    recall = _in_manifold(real, fake, fake_r, chunk).double().mean().item()
    return {"precision": precision, "recall": recall, "pr_k": k}


def sample_scores(fake_feats, real_feats, seed: int = 0) -> dict:
    """FID, KID (with its std over subsets) and precision/recall of one generated set against a real one."""
    kid = kid_from_features(fake_feats, real_feats, seed=seed)
    pr = precision_recall(real_feats, fake_feats)
    return {
        "fid": fid_from_features(fake_feats, real_feats),
        "kid": kid["kid"],
        "kid_std": kid["kid_std"],
        "precision": pr["precision"],
        "recall": pr["recall"],
    }
