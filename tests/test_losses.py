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


def _log_normal(x, mu, logvar):
    return -0.5 * ((float(x) - float(mu)) ** 2 / math.exp(float(logvar)) + float(logvar) + math.log(2 * math.pi))


def _brute_force_decomposition(z, mu, logvar):
    """The three terms by explicit loops over images i, j and dimensions d (the batch's mixture as q(z))."""
    m, d = z.shape
    mi = tc = dw = 0.0
    for i in range(m):
        log_q_cond = sum(_log_normal(z[i, k], mu[i, k], logvar[i, k]) for k in range(d))
        log_q = math.log(
            sum(math.exp(sum(_log_normal(z[i, k], mu[j, k], logvar[j, k]) for k in range(d))) for j in range(m)) / m
        )
        log_prod = sum(
            math.log(sum(math.exp(_log_normal(z[i, k], mu[j, k], logvar[j, k])) for j in range(m)) / m)
            for k in range(d)
        )
        log_p = sum(_log_normal(z[i, k], 0.0, 0.0) for k in range(d))
        mi += (log_q_cond - log_q) / m
        tc += (log_q - log_prod) / m
        dw += (log_prod - log_p) / m
    return mi, tc, dw


def test_kl_decomposition_matches_brute_force_loops():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(5, 3, generator=g, dtype=torch.float64) * 0.5
    z = mu + torch.randn(5, 3, generator=g, dtype=torch.float64) * (0.5 * logvar).exp()
    got = losses.kl_decomposition(z, mu, logvar)
    mi, tc, dw = _brute_force_decomposition(z.numpy(), mu.numpy(), logvar.numpy())
    assert abs(float(got["mutual_info"]) - mi) < 1e-9
    assert abs(float(got["total_correlation"]) - tc) < 1e-9
    assert abs(float(got["dimwise_kl"]) - dw) < 1e-9


def test_total_correlation_estimates_the_mixtures_tc():
    # q(z) = the mixture of the batch's Gaussians; its TC by brute-force Monte Carlo (many draws, exact
    # mixture densities) against the batch estimator averaged over redraws of z
    g = torch.Generator().manual_seed(1)
    m = 4
    mu = torch.tensor([[-2.0, -2.0], [2.0, 2.0], [-2.0, -1.5], [2.0, 1.5]], dtype=torch.float64)  # correlated codes
    logvar = torch.full((m, 2), math.log(0.3), dtype=torch.float64)
    comp = torch.randint(0, m, (200_000,), generator=g)
    zs = mu[comp] + torch.randn(200_000, 2, generator=g, dtype=torch.float64) * (0.5 * logvar[comp]).exp()
    log_q_jd = -0.5 * ((zs[:, None, :] - mu[None]) ** 2 / logvar.exp()[None] + logvar[None] + math.log(2 * math.pi))
    log_q = torch.logsumexp(log_q_jd.sum(2), 1) - math.log(m)
    log_prod = (torch.logsumexp(log_q_jd, 1) - math.log(m)).sum(1)
    tc_true = float((log_q - log_prod).mean())

    def estimate():
        z = mu + torch.randn(m, 2, generator=g, dtype=torch.float64) * (0.5 * logvar).exp()
        return float(losses.kl_decomposition(z, mu, logvar)["total_correlation"])

    est = [estimate() for _ in range(4_000)]
    assert tc_true > 0.3  # the two codes are strongly dependent
    assert abs(sum(est) / len(est) - tc_true) < 0.03


def test_kl_decomposition_sums_to_the_kl_for_one_image():
    # one image: q(z) = q(z|x), so MI = 0 and TC + dimension-wise KL = log q(z|x) - log p(z), whose mean is the KL
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.3]])
    z = mu + 0.3
    parts = losses.kl_decomposition(z, mu, logvar)
    assert abs(float(parts["mutual_info"])) < 1e-6 and abs(float(parts["total_correlation"])) < 1e-6
