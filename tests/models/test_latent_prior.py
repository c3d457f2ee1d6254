import numpy as np
import pytest
import torch

from genlab.models import build_model
from genlab.models.latent_prior import GaussianMixturePrior
from genlab.training.checkpoint import load_weights, save_weights


def two_blobs(n=4000, seed=0):
    """Codes from a known 2-component mixture in 2-d: weights 0.3 / 0.7, far-apart means, distinct covariances."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(int(0.3 * n), 2, generator=g) @ torch.tensor([[1.0, 0.0], [0.5, 0.5]]).T + torch.tensor([-6.0, 0])
    b = torch.randn(n - len(a), 2, generator=g) * torch.tensor([0.3, 2.0]) + torch.tensor([6.0, 1.0])
    return torch.cat([a, b]).double()


def test_one_component_is_the_codes_mean_and_covariance():
    z = two_blobs()
    p = GaussianMixturePrior(1, 2).double()
    p.fit(z)
    assert torch.allclose(p.means[0], z.mean(0), atol=1e-9)
    cov = p.chol[0] @ p.chol[0].T
    ml = torch.cov(z.T, correction=0)  # EM's maximum-likelihood covariance (divides by N)
    assert torch.allclose(cov, ml + 1e-6 * torch.eye(2, dtype=z.dtype), atol=1e-8)


def test_fit_recovers_a_known_mixture_and_samples_follow_it():
    p = GaussianMixturePrior(2, 2)
    p.fit(two_blobs())
    order = p.means[:, 0].argsort()
    assert torch.allclose(p.weights[order], torch.tensor([0.3, 0.7]), atol=0.01)
    assert torch.allclose(p.means[order], torch.tensor([[-6.0, 0.0], [6.0, 1.0]]), atol=0.1)
    s = p.sample(20_000, torch.Generator().manual_seed(1))
    assert ((s[:, 0] < 0).float().mean() - 0.3).abs() < 0.015  # share drawn from each component
    # closed-form moments of the fitted mixture against the samples' (and against moments())
    mean, std = p.moments()
    assert torch.allclose(s.mean(0), mean, atol=0.1)
    assert torch.allclose(s.std(0), std, rtol=0.03)
    right = s[s[:, 0] > 0]
    assert torch.allclose(right.std(0), torch.tensor([0.3, 2.0]), rtol=0.05)


def test_sampling_is_reproducible_with_a_generator():
    p = GaussianMixturePrior(3, 4)
    p.fit(torch.randn(500, 4).double())
    a = p.sample(7, torch.Generator().manual_seed(2))
    b = p.sample(7, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and a.shape == (7, 4)


def test_vae_gmm_prior_fits_after_an_epoch_saves_and_loads(digits_data, tmp_path):
    train, _ = digits_data
    torch.manual_seed(0)
    kw = {
        "image_shape": (1, 8, 8),
        "arch": "mlp",
        "latent_dim": 3,
        "hidden": (16,),
        "prior": "gmm",
        "prior_components": 2,
    }
    m = build_model("vae", **kw)

    def g():
        return torch.Generator().manual_seed(5)

    assert torch.equal(m.sample_latent(4, g()), torch.randn(4, 3, generator=g()))  # not fitted yet: N(0, I)
    assert m.latent_scale() is None
    m.on_epoch_end(train)
    codes = m.encode(train.images.float() / 255).detach().double()
    mean, _ = m.latent_scale()
    assert torch.allclose(mean.double(), codes.mean(0), atol=1e-4)  # the mixture's mean is the codes' mean
    assert torch.allclose(m.sample_latent(4, g()), m.fitted_prior.sample(4, g()))
    save_weights(m, tmp_path, step=1)
    m2 = build_model("vae", **kw)
    load_weights(m2, tmp_path)
    assert torch.equal(m2.sample(4, g()), m.sample(4, g()))


def test_gmm_prior_and_second_stage_are_refused_together():
    from genlab.errors import GenlabError

    with pytest.raises(GenlabError, match="set one"):
        build_model("vae", prior="gmm", second_stage_start=10)
    with pytest.raises(GenlabError, match="'standard' or 'gmm'"):
        build_model("vae", prior="mixture")


def test_gmm_log_density_matches_scipy():
    """The fitted mixture's parameters define the density sklearn maximised: check it by scipy's pdf."""
    from scipy.stats import multivariate_normal

    z = two_blobs(2000)
    p = GaussianMixturePrior(2, 2).double()
    p.fit(z)
    from sklearn.mixture import GaussianMixture

    gm = GaussianMixture(2, covariance_type="full", reg_covar=1e-6, random_state=0).fit(z.numpy())
    x = np.array([[0.0, 0.0], [6.0, 1.0], [-6.0, 0.5]])
    ours = sum(
        float(w) * multivariate_normal(m.numpy(), (c @ c.T).numpy()).pdf(x)
        for w, m, c in zip(p.weights, p.means, p.chol, strict=True)
    )
    assert np.allclose(np.log(ours), gm.score_samples(x), rtol=1e-6)
