"""Disentanglement metrics with disentanglement_lib's published settings (Locatello et al. 2019).

Each metric takes

- ``representation_fn(observations) -> (B, D)`` array (numpy or torch): the code of each
  observation, usually the posterior mean of a VAE's encoder;
- a *factor source* with ``factor_sizes`` (list of int), ``sample_factors(n, rng) -> (n, F)`` int
  array and ``sample_observations_from_factors(factors, rng) -> observations`` (for dSprites, uint8
  images ``(B, 1, 64, 64)``), where ``rng`` is a ``numpy.random.Generator``.

Only factors with more than one value are scored (dSprites' colour has one value; disentanglement_lib
uses ``latent_factor_indices = [1, 2, 3, 4, 5]``). Codes are computed ``rep_batch`` observations at a
time; all factors are sampled before any code is computed, so ``rep_batch`` does not change the
result. Each metric also has a pure form on precomputed codes and factors (``*_from_codes``).

Settings (disentanglement_lib ``config/unsupervised_study_v1/metric_configs``):
BetaVAE score batch 64, 10k train / 5k eval points; FactorVAE score batch 64, 10k points for the
variances, 10k train / 5k eval, dims with std < 0.05 pruned; MIG 10k points, 20-bin histograms;
DCI 10k train / 5k test, gradient boosted trees.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score

BETA_VAE_BATCH = 64
BETA_VAE_NUM_TRAIN = 10_000
BETA_VAE_NUM_EVAL = 5_000
FACTOR_VAE_BATCH = 64
FACTOR_VAE_NUM_TRAIN = 10_000
FACTOR_VAE_NUM_EVAL = 5_000
FACTOR_VAE_NUM_VARIANCE = 10_000
FACTOR_VAE_PRUNE_STD = 0.05  # prune_dims.threshold (compared with the std, not the variance)
MIG_NUM_TRAIN = 10_000
MIG_NUM_BINS = 20
DCI_NUM_TRAIN = 10_000
DCI_NUM_TEST = 5_000
REP_BATCH = 1024  # observations per representation_fn call: speed only


# ---- sampling codes from a factor source ----
def varying_factors(factor_sizes) -> np.ndarray:
    """Indices of the factors with more than one value."""
    idx = np.flatnonzero(np.asarray(factor_sizes) > 1)
    if idx.size == 0:
        raise ValueError(f"no factor varies: factor_sizes={list(factor_sizes)}")
    return idx


def _np(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def represent(
    representation_fn, source, factors: np.ndarray, rng: np.random.Generator, rep_batch: int = REP_BATCH
) -> np.ndarray:
    """Codes ``(n, D)`` float64 of the observations generated from ``factors`` ``(n, F)``."""
    out = []
    for i in range(0, len(factors), rep_batch):
        obs = source.sample_observations_from_factors(factors[i : i + rep_batch], rng)
        with torch.no_grad():
            codes = _np(representation_fn(obs))
        if codes.ndim != 2 or codes.shape[0] != len(factors[i : i + rep_batch]):
            raise ValueError(f"representation_fn must return (B, D) codes, got shape {codes.shape}")
        out.append(codes)
    return np.concatenate(out)


def sample_codes(
    representation_fn, source, n: int, rng: np.random.Generator, rep_batch: int = REP_BATCH
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random observations: codes ``(n, D)`` and their varying factors ``(n, K)``."""
    factors = np.asarray(source.sample_factors(n, rng))
    codes = represent(representation_fn, source, factors, rng, rep_batch)
    return codes, factors[:, varying_factors(source.factor_sizes)]


def _grouped_factors(source, n: int, batch: int, rng: np.random.Generator, pair: bool):
    """``n`` groups of ``batch`` factor vectors sharing one randomly chosen varying factor.

    Returns the chosen factor's index among the varying ones ``(n,)`` and factors ``(n, batch, F)``
    (``pair=False``: the factor is fixed to one value across the group, FactorVAE) or two such arrays
    (``pair=True``: the factor is equal within each of the ``batch`` pairs, BetaVAE).
    """
    varying = varying_factors(source.factor_sizes)
    label = rng.integers(len(varying), size=n)  # (n,)
    k = varying[label]
    rows = np.arange(n)
    f1 = np.asarray(source.sample_factors(n * batch, rng)).reshape(n, batch, -1)
    if not pair:
        f1[rows, :, k] = f1[rows, 0, k][:, None]
        return label, f1
    f2 = np.asarray(source.sample_factors(n * batch, rng)).reshape(n, batch, -1)
    f2[rows, :, k] = f1[rows, :, k]
    return label, f1, f2


# ---- BetaVAE score ----
def beta_vae_score(
    representation_fn,
    source,
    seed: int = 0,
    batch_size: int = BETA_VAE_BATCH,
    num_train: int = BETA_VAE_NUM_TRAIN,
    num_eval: int = BETA_VAE_NUM_EVAL,
    rep_batch: int = REP_BATCH,
) -> dict:
    """BetaVAE disentanglement score (Higgins et al. 2017, "beta-VAE: learning basic visual concepts
    with a constrained variational framework"), as disentanglement_lib's ``beta_vae_sklearn``.

    One point: choose a varying factor k uniformly; draw ``batch_size`` pairs of factor vectors that
    agree on k; the feature is ``mean_pairs |z(x1) - z(x2)|`` ``(D,)`` and the label is k. A logistic
    regression (sklearn defaults) is fit on ``num_train`` points; the score is its accuracy on
    ``num_eval`` fresh points. Chance is ``1 / K`` for K varying factors.

    Returns ``{"beta_vae_score": eval accuracy, "beta_vae_train_accuracy": train accuracy,
    "beta_vae_converged": whether lbfgs converged within sklearn's default 100 iterations}``.
    """
    rng = np.random.default_rng(seed)

    def points(n):
        label, f1, f2 = _grouped_factors(source, n, batch_size, rng, pair=True)
        f = f1.shape[-1]
        z1 = represent(representation_fn, source, f1.reshape(-1, f), rng, rep_batch).reshape(n, batch_size, -1)
        z2 = represent(representation_fn, source, f2.reshape(-1, f), rng, rep_batch).reshape(n, batch_size, -1)
        return np.abs(z1 - z2).mean(axis=1), label  # (n, D), (n,)

    x_train, y_train = points(num_train)
    model = LogisticRegression(random_state=seed)
    with warnings.catch_warnings(record=True) as caught:  # sklearn's defaults, as disentanglement_lib:
        warnings.simplefilter("always", ConvergenceWarning)  # lbfgs may stop at max_iter=100; say so
        model.fit(x_train, y_train)
    x_eval, y_eval = points(num_eval)
    return {
        "beta_vae_score": float(model.score(x_eval, y_eval)),
        "beta_vae_train_accuracy": float(model.score(x_train, y_train)),
        "beta_vae_converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught),
    }


# ---- FactorVAE score ----
def factor_vae_score(
    representation_fn,
    source,
    seed: int = 0,
    batch_size: int = FACTOR_VAE_BATCH,
    num_train: int = FACTOR_VAE_NUM_TRAIN,
    num_eval: int = FACTOR_VAE_NUM_EVAL,
    num_variance_estimate: int = FACTOR_VAE_NUM_VARIANCE,
    prune_std: float = FACTOR_VAE_PRUNE_STD,
    rep_batch: int = REP_BATCH,
) -> dict:
    """FactorVAE disentanglement score (Kim & Mnih 2018, "Disentangling by factorising"), as
    disentanglement_lib's ``factor_vae_score``.

    Global variances ``s_d^2`` of each code dim over ``num_variance_estimate`` observations
    (ddof=1); dims with ``s_d < prune_std`` are pruned. One vote: choose a varying factor k, fix it to
    one value across ``batch_size`` factor vectors, and vote for
    ``argmin_{d active} Var_batch(z_d) / s_d^2``. The classifier maps each dim to the factor with
    most training votes (``num_train`` votes); the score is the share of ``num_eval`` fresh votes it
    classifies correctly. Invariant to rescaling dims (as long as none crosses the prune threshold).

    Returns ``{"factor_vae_score", "factor_vae_train_accuracy", "factor_vae_num_active_dims"}``.
    """
    rng = np.random.default_rng(seed)
    num_k = len(varying_factors(source.factor_sizes))
    codes, _ = sample_codes(representation_fn, source, num_variance_estimate, rng, rep_batch)
    global_var = codes.var(axis=0, ddof=1)  # (D,)
    active = np.flatnonzero(np.sqrt(global_var) >= prune_std)
    if active.size == 0:
        return {"factor_vae_score": 0.0, "factor_vae_train_accuracy": 0.0, "factor_vae_num_active_dims": 0}

    def votes(n):
        label, f = _grouped_factors(source, n, batch_size, rng, pair=False)
        z = represent(representation_fn, source, f.reshape(n * batch_size, -1), rng, rep_batch)
        local_var = z.reshape(n, batch_size, -1).var(axis=1, ddof=1)  # (n, D)
        dim = active[np.argmin(local_var[:, active] / global_var[active], axis=1)]  # (n,)
        v = np.zeros((num_k, codes.shape[1]), dtype=np.int64)  # (K, D)
        np.add.at(v, (label, dim), 1)
        return v

    train_votes = votes(num_train)
    classifier = train_votes.argmax(axis=0)  # (D,) the factor each dim stands for
    cols = np.arange(train_votes.shape[1])
    eval_votes = votes(num_eval)
    return {
        "factor_vae_score": float(eval_votes[classifier, cols].sum() / eval_votes.sum()),
        "factor_vae_train_accuracy": float(train_votes[classifier, cols].sum() / train_votes.sum()),
        "factor_vae_num_active_dims": int(active.size),
    }


# ---- MIG ----
def histogram_discretize(codes: np.ndarray, num_bins: int = MIG_NUM_BINS) -> np.ndarray:
    """Each code dim cut into ``num_bins`` equal-width bins over its own range, ``(n, D)`` int
    (disentanglement_lib's ``_histogram_discretize``: ``digitize(x, histogram(x, bins)[1][:-1])``)."""
    codes = _np(codes)
    out = np.zeros(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram(codes[:, d], num_bins)[1]
        out[:, d] = np.digitize(codes[:, d], edges[:-1])
    return out


def mig_from_codes(codes, factors, num_bins: int = MIG_NUM_BINS) -> dict:
    """Mutual information gap (Chen et al. 2018, "Isolating sources of disentanglement in VAEs").

    ``codes`` ``(n, D)``, ``factors`` ``(n, K)`` discrete. With codes discretised by
    :func:`histogram_discretize` and ``I(z_d; v_k)`` from ``sklearn.metrics.mutual_info_score``,

        MIG = 1/K sum_k (I(z_{j1}; v_k) - I(z_{j2}; v_k)) / H(v_k),

    ``j1, j2`` the dims with the largest and second-largest MI with ``v_k``. With a single code dim
    the second MI is taken as 0. Returns ``{"mig", "mig_per_factor"}``.
    """
    disc = histogram_discretize(codes, num_bins)
    factors = np.asarray(factors)
    num_d, num_k = disc.shape[1], factors.shape[1]
    mi = np.zeros((max(num_d, 2), num_k))  # (D, K), a zero row when D = 1
    for d in range(num_d):
        for k in range(num_k):
            mi[d, k] = mutual_info_score(factors[:, k], disc[:, d])
    entropy = np.array([mutual_info_score(factors[:, k], factors[:, k]) for k in range(num_k)])
    top = np.sort(mi, axis=0)[::-1]
    per_factor = (top[0] - top[1]) / entropy
    return {"mig": float(per_factor.mean()), "mig_per_factor": per_factor.tolist()}


def mig(
    representation_fn,
    source,
    seed: int = 0,
    num_train: int = MIG_NUM_TRAIN,
    num_bins: int = MIG_NUM_BINS,
    rep_batch: int = REP_BATCH,
) -> dict:
    """MIG on ``num_train`` random observations of ``source``; see :func:`mig_from_codes`."""
    codes, factors = sample_codes(representation_fn, source, num_train, np.random.default_rng(seed), rep_batch)
    return mig_from_codes(codes, factors, num_bins)


# ---- DCI ----
def _one_minus_entropy(p: np.ndarray, axis: int) -> np.ndarray:
    """``1 - H(p / sum p)`` along ``axis``, with log base = the length of that axis (1 if length 1)."""
    n = p.shape[axis]
    p = p + 1e-11  # as disentanglement_lib
    p = p / p.sum(axis=axis, keepdims=True)
    if n == 1:
        return np.ones(p.shape[1 - axis])
    return 1.0 - (-(p * np.log(p)).sum(axis=axis) / np.log(n))


def dci_scores_from_importance(importance) -> tuple[float, float]:
    """Disentanglement and completeness (Eastwood & Williams 2018) from an importance matrix
    ``R`` ``(D, K)`` (code dim d's importance for predicting factor k).

    ``D_d = 1 - H_K(R_d. / sum_k R_dk)``, disentanglement ``= sum_d rho_d D_d`` with
    ``rho_d = sum_k R_dk / sum R``; ``C_k = 1 - H_D(R_.k / sum_d R_dk)``, completeness
    ``= sum_k rho_k C_k`` with ``rho_k = sum_d R_dk / sum R``.
    """
    r = np.abs(_np(importance))
    per_code = _one_minus_entropy(r, axis=1)  # (D,)
    per_factor = _one_minus_entropy(r, axis=0)  # (K,)
    w = r if r.sum() > 0 else np.ones_like(r)
    code_w, factor_w = w.sum(axis=1) / w.sum(), w.sum(axis=0) / w.sum()
    return float((per_code * code_w).sum()), float((per_factor * factor_w).sum())


def dci_from_codes(codes_train, factors_train, codes_test, factors_test, seed: int = 0) -> dict:
    """DCI (Eastwood & Williams 2018, "A framework for the quantitative evaluation of disentangled
    representations") with gradient boosted trees, as disentanglement_lib's ``compute_dci``.

    For each factor k a ``GradientBoostingClassifier`` (sklearn defaults) predicts ``v_k`` from the
    codes; ``|feature_importances_|`` fill column k of ``R`` ``(D, K)``. Informativeness is the mean
    accuracy over factors (train and test), as disentanglement_lib reports it.

    Returns ``{"dci_disentanglement", "dci_completeness", "dci_informativeness_train",
    "dci_informativeness_test"}``.
    """
    x_train, x_test = _np(codes_train), _np(codes_test)
    y_train, y_test = np.asarray(factors_train), np.asarray(factors_test)
    num_k = y_train.shape[1]
    importance = np.zeros((x_train.shape[1], num_k))
    acc_train, acc_test = [], []
    for k in range(num_k):
        model = GradientBoostingClassifier(random_state=seed)
        model.fit(x_train, y_train[:, k])
        importance[:, k] = np.abs(model.feature_importances_)
        acc_train.append(np.mean(model.predict(x_train) == y_train[:, k]))
        acc_test.append(np.mean(model.predict(x_test) == y_test[:, k]))
    dis, comp = dci_scores_from_importance(importance)
    return {
        "dci_disentanglement": dis,
        "dci_completeness": comp,
        "dci_informativeness_train": float(np.mean(acc_train)),
        "dci_informativeness_test": float(np.mean(acc_test)),
    }


def dci(
    representation_fn,
    source,
    seed: int = 0,
    num_train: int = DCI_NUM_TRAIN,
    num_test: int = DCI_NUM_TEST,
    rep_batch: int = REP_BATCH,
) -> dict:
    """DCI on ``num_train`` / ``num_test`` random observations of ``source``; see :func:`dci_from_codes`."""
    rng = np.random.default_rng(seed)
    train = sample_codes(representation_fn, source, num_train, rng, rep_batch)
    test = sample_codes(representation_fn, source, num_test, rng, rep_batch)
    return dci_from_codes(*train, *test, seed=seed)
