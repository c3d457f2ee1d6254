import math

import numpy as np
import pytest
import torch

from genlab.evaluation.likelihood import active_units, iwae_bounds, iwae_nll, kl_per_dim, posterior_params


class PPCA:
    """Probabilistic PCA as a VAE: z ~ N(0, I_d), x = W z + b + N(0, s2 I_D).

    W = Q diag(scales) with orthonormal Q, so the exact posterior
    p(z|x) = N(M^-1 W^T (x - b), s2 M^-1), M = W^T W + s2 I, is diagonal and fits encode_dist.
    ``shift``/``log_scale`` perturb q away from the exact posterior.
    """

    def __init__(self, x_dim=6, z_dim=3, s2=0.5, seed=0, shift=0.0, log_scale=0.0):
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(x_dim, z_dim, generator=g, dtype=torch.float64))
        self.scales = torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)[:z_dim]
        self.W = q * self.scales  # (D, d)
        self.b = torch.randn(x_dim, generator=g, dtype=torch.float64)
        self.s2 = s2
        self.shift, self.log_scale = shift, log_scale

    def sample_x(self, n, seed=1):
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.W.shape[1], generator=g, dtype=torch.float64)
        noise = torch.randn(n, self.W.shape[0], generator=g, dtype=torch.float64)
        return z @ self.W.T + self.b + math.sqrt(self.s2) * noise

    def exact_nll(self, x):
        cov = self.W @ self.W.T + self.s2 * torch.eye(self.W.shape[0], dtype=torch.float64)
        p = torch.distributions.MultivariateNormal(self.b, covariance_matrix=cov)
        return -p.log_prob(x)  # (N,)

    def encode_dist(self, x):
        m = self.scales**2 + self.s2  # diagonal of W^T W + s2 I
        mu = (x - self.b) @ self.W / m
        logvar = torch.log(self.s2 / m).expand_as(mu)
        return mu + self.shift, logvar + self.log_scale

    def log_px_given_z(self, x, z):
        mean = z @ self.W.T + self.b  # (B, K, D)
        d = x.shape[-1]
        return -0.5 * (((x[:, None] - mean) ** 2).sum(-1) / self.s2 + d * math.log(2 * math.pi * self.s2))


def test_exact_posterior_gives_exact_nll_for_any_k():
    model = PPCA()
    x = model.sample_x(50)
    exact = float(model.exact_nll(x).mean())
    for k in (1, 7, 100):
        out = iwae_nll(model, x, k=k, batch_size=16, k_chunk=30)
        assert out["nll_iwae"] == pytest.approx(exact, abs=1e-9)
        assert -out["elbo"] == pytest.approx(exact, abs=1e-9)
        assert out["iwae_k"] == k


def test_perturbed_posterior_bounds_and_convergence():
    model = PPCA(shift=0.3, log_scale=0.4)
    x = model.sample_x(400)
    exact = float(model.exact_nll(x).mean())
    nlls = []
    for k in (1, 10, 100, 1000):
        out = iwae_nll(model, x, k=k, batch_size=200, k_chunk=250, seed=k)
        assert out["nll_iwae"] <= -out["elbo"] + 1e-12
        assert out["nll_iwae"] >= exact - 0.01  # a lower bound on log p(x), up to noise
        nlls.append(out["nll_iwae"])
    assert all(a > b for a, b in zip(nlls, nlls[1:])), nlls
    assert nlls[0] - exact > 0.1  # the ELBO gap is real...
    assert nlls[-1] == pytest.approx(exact, abs=0.01)  # ...and closes at k=1000


def test_iwae_per_image_bound_and_chunking():
    model = PPCA(shift=0.5)
    x = model.sample_x(8)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    lk_a, elbo_a = iwae_bounds(model, x, k=64, k_chunk=64, generator=g1)
    lk_b, elbo_b = iwae_bounds(model, x, k=64, k_chunk=64, generator=g2)
    assert torch.equal(lk_a, lk_b)
    assert (lk_a >= elbo_a).all()
    # chunked accumulation equals one logsumexp over all samples
    g = torch.Generator().manual_seed(3)
    lk_c, elbo_c = iwae_bounds(model, x, k=50, k_chunk=7, generator=g)
    assert lk_c.shape == (8,) and torch.isfinite(lk_c).all() and (lk_c >= elbo_c).all()


def test_iwae_chunked_equals_unchunked_logsumexp():
    model = PPCA(shift=0.4)
    x = model.sample_x(5)

    class Recorder:
        def __init__(self):
            self.logw = []

        def encode_dist(self, x):
            return model.encode_dist(x)

        def log_px_given_z(self, x, z):
            lp = model.log_px_given_z(x, z)
            mu, logvar = model.encode_dist(x)
            log_pz = -0.5 * (math.log(2 * math.pi) + z**2).sum(-1)
            log_q = torch.distributions.Normal(mu[:, None], torch.exp(0.5 * logvar[:, None])).log_prob(z).sum(-1)
            self.logw.append(lp + log_pz - log_q)
            return lp

    rec = Recorder()
    lk, elbo = iwae_bounds(rec, x, k=23, k_chunk=5, generator=torch.Generator().manual_seed(0))
    logw = torch.cat(rec.logw, dim=1)  # (B, 23)
    assert logw.shape == (5, 23)
    assert torch.allclose(lk, torch.logsumexp(logw, 1) - math.log(23))
    assert torch.allclose(elbo, logw.mean(1))


def test_active_units_and_posterior_params():
    rng = np.random.default_rng(0)
    mu = np.stack(
        [rng.normal(0, 1, 1000), rng.normal(0, 0.05, 1000), np.full(1000, 3.0), rng.normal(0, 0.2, 1000)], axis=1
    )  # variances 1, 0.0025, 0, 0.04
    assert active_units(mu) == 2
    assert active_units(torch.from_numpy(mu), threshold=0.001) == 3
    model = PPCA()
    x = model.sample_x(10)
    mu_all, lv_all = posterior_params(model, x, batch_size=3)
    ref_mu, ref_lv = model.encode_dist(x)
    assert torch.allclose(mu_all, ref_mu) and torch.allclose(lv_all, ref_lv)


def test_kl_per_dim_matches_torch_distributions():
    rng = np.random.default_rng(1)
    mu, logvar = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    q = torch.distributions.Normal(torch.from_numpy(mu), torch.from_numpy(np.exp(0.5 * logvar)))
    p = torch.distributions.Normal(0.0, 1.0)
    ref = torch.distributions.kl_divergence(q, p).mean(0).numpy()
    np.testing.assert_allclose(kl_per_dim(mu, logvar), ref, rtol=1e-12)
    assert kl_per_dim(np.zeros((3, 2)), np.zeros((3, 2))) == pytest.approx([0.0, 0.0])
