import math

import torch

from genlab import losses


def test_kl_closed_form_matches_monte_carlo():
    torch.manual_seed(0)
    mu = torch.tensor([[0.5, -1.0, 2.0]])
    logvar = torch.tensor([[0.3, -0.7, 1.2]])
    closed = losses.kl_normal_standard(mu, logvar).sum()
    # Monte-Carlo: E_q[log q(z) - log p(z)] with 400k draws
    std = (0.5 * logvar).exp()
    z = mu + std * torch.randn(400_000, 3)
    log_q = torch.distributions.Normal(mu, std).log_prob(z).sum(1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    mc = (log_q - log_p).mean()
    assert abs(float(closed - mc)) < 0.02
    # and torch's own closed form
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, std), torch.distributions.Normal(0.0, 1.0))
    assert torch.allclose(losses.kl_normal_standard(mu, logvar), ref, atol=1e-6)


def test_kl_zero_at_prior():
    assert float(losses.kl_normal_standard(torch.zeros(2, 4), torch.zeros(2, 4)).abs().max()) == 0.0


def test_bernoulli_nll_is_binary_cross_entropy():
    logits = torch.tensor([[[[2.0, -1.0]]]])
    x = torch.tensor([[[[1.0, 0.25]]]])
    p = torch.sigmoid(logits)
    ref = -(x * p.log() + (1 - x) * (1 - p).log()).sum()
    assert torch.allclose(losses.bernoulli_nll(logits, x), ref.reshape(1), atol=1e-6)


def test_gaussian_nll_matches_torch_distribution():
    torch.manual_seed(1)
    mean, x = torch.rand(3, 1, 4, 4), torch.rand(3, 1, 4, 4)
    ref = -torch.distributions.Normal(mean, 0.7).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(losses.gaussian_nll(mean, x, 0.7), ref, atol=1e-4)
    no_const = losses.gaussian_nll(mean, x, 0.7, constant=False)
    assert torch.allclose(ref - no_const, torch.full((3,), 8 * math.log(2 * math.pi * 0.49)), atol=1e-4)


def test_reparameterize_moments_and_gradient():
    torch.manual_seed(2)
    mu = torch.full((200_000, 1), 1.5, requires_grad=True)
    logvar = torch.full((200_000, 1), math.log(0.25), requires_grad=True)
    z = losses.reparameterize(mu, logvar)
    assert abs(float(z.mean()) - 1.5) < 0.01 and abs(float(z.std()) - 0.5) < 0.01
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))  # dz/dmu = 1: the gradient passes the sampling
