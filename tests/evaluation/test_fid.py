import numpy as np
import pytest
import scipy.linalg
import torch

from genlab.evaluation.fid import fid_from_features, frechet_distance, kid_from_features, precision_recall


def diag_closed_form(mu1, s1, mu2, s2):
    # Frechet distance between Gaussians with diagonal covariances (variances s1, s2).
    return float(((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum())


def test_frechet_exact_params_diagonal():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.2, 3, size=6), rng.uniform(0.2, 3, size=6)
    got = frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(diag_closed_form(mu1, s1, mu2, s2), rel=1e-10)


def test_frechet_full_cov_matches_scipy_sqrtm():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    s1, s2 = a @ a.T + 0.1 * np.eye(8), b @ b.T + 0.1 * np.eye(8)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    ref = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-8)


def test_frechet_singular_covariances_stay_finite():
    # rank-deficient covariances (fewer samples than dims) are where plain sqrtm misbehaves
    rng = np.random.default_rng(2)
    f1, f2 = rng.normal(size=(5, 20)), rng.normal(size=(5, 20))
    d = fid_from_features(f1, f2)
    assert np.isfinite(d) and d > 0


def test_fid_of_samples_approaches_closed_form():
    rng = np.random.default_rng(3)
    mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([0.5, 0.0, -1.0])
    s1, s2 = np.array([1.0, 0.5, 2.0]), np.array([2.0, 0.5, 1.0])
    n = 200_000
    f1 = mu1 + np.sqrt(s1) * rng.normal(size=(n, 3))
    f2 = mu2 + np.sqrt(s2) * rng.normal(size=(n, 3))
    assert fid_from_features(f1, f2) == pytest.approx(diag_closed_form(mu1, s1, mu2, s2), abs=0.02)


def test_fid_of_set_with_itself_is_zero():
    f = np.random.default_rng(4).normal(size=(500, 16))
    assert fid_from_features(f, f) == pytest.approx(0.0, abs=1e-8)
    assert fid_from_features(torch.from_numpy(f).float(), f) == pytest.approx(0.0, abs=1e-4)


def reference_mmd2_unbiased(x, y):
    # written out element by element, independently of the library's matrix form
    d = x.shape[1]
    k = lambda a, b: (np.dot(a, b) / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return kxx + kyy - 2 * kxy


def test_kid_matches_direct_unbiased_mmd():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 4))
    y = rng.normal(loc=0.5, size=(30, 4))
    out = kid_from_features(x, y, num_subsets=3, subset_size=30)  # each subset = the whole set
    ref = reference_mmd2_unbiased(x, y)
    assert out["kid"] == pytest.approx(ref, rel=1e-10)
    assert out["kid_std"] == pytest.approx(0.0, abs=1e-12)
    assert out["kid_subset_size"] == 30


def test_kid_near_zero_for_same_distribution_and_positive_otherwise():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    c = rng.normal(loc=1.0, size=(400, 8))
    same = kid_from_features(a, b, num_subsets=20, subset_size=200)
    diff = kid_from_features(a, c, num_subsets=20, subset_size=200)
    assert abs(same["kid"]) < 3 * same["kid_std"] + 1e-3
    assert diff["kid"] > 10 * abs(same["kid"]) and diff["kid"] > 0


def test_precision_recall_identical_sets():
    f = np.random.default_rng(7).normal(size=(300, 10))
    out = precision_recall(f, f.copy(), k=3, chunk=64)
    assert out["precision"] == 1.0 and out["recall"] == 1.0


def test_precision_recall_disjoint_sets():
    rng = np.random.default_rng(8)
    real = rng.normal(size=(200, 5))
    fake = rng.normal(size=(200, 5)) + 100.0
    out = precision_recall(real, fake, k=3, chunk=50)
    assert out["precision"] == 0.0 and out["recall"] == 0.0


def test_precision_recall_hand_checked_2d():
    # real: unit square corners (k=1 radius 1 each) and an outlier at (-10, 0) (radius 10)
    real = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [-10, 0]], dtype=float)
    # fake: (0.5, 0.5) inside the square's balls; (2.5, 0) is 1.5 from (1, 0); (5, 5) far from all
    fake = np.array([[0.5, 0.5], [2.5, 0.0], [5.0, 5.0]])
    # fake radii (k=1): 2.06, 2.06, 5.59; the four corners lie within 0.71 of (0.5, 0.5),
    # (-10, 0) is 10.5 from it -> recall 4/5
    out = precision_recall(real, fake, k=1, chunk=2)
    assert out["precision"] == pytest.approx(1 / 3)
    assert out["recall"] == pytest.approx(4 / 5)


def test_precision_recall_chunking_does_not_change_result():
    rng = np.random.default_rng(9)
    real, fake = rng.normal(size=(257, 6)), rng.normal(loc=0.3, size=(131, 6))
    a = precision_recall(real, fake, k=3, chunk=7)
    b = precision_recall(real, fake, k=3, chunk=10_000)
    assert a == b
    assert 0 < a["precision"] < 1 and 0 < a["recall"] < 1


@pytest.mark.slow
def test_precision_recall_10k_by_10k_in_chunks():
    rng = np.random.default_rng(10)
    real, fake = rng.normal(size=(10_000, 64)), rng.normal(size=(10_000, 64))
    out = precision_recall(real, fake, k=3)
    assert out["precision"] > 0.5 and out["recall"] > 0.5


def test_sample_scores_are_the_three_metrics_on_the_same_features():
    from genlab.evaluation.fid import sample_scores

    rng = np.random.default_rng(3)
    fake, real = rng.normal(size=(300, 8)), rng.normal(0.3, 1.0, size=(300, 8))
    out = sample_scores(fake, real, seed=1)
    kid = kid_from_features(fake, real, seed=1)
    pr = precision_recall(real, fake)
    assert out == {
        "fid": fid_from_features(fake, real),
        "kid": kid["kid"],
        "kid_std": kid["kid_std"],
        "precision": pr["precision"],
        "recall": pr["recall"],
    }
