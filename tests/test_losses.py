import itertools
import math

import pytest
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


def test_gaussian_nll_with_a_learned_sigma_has_the_distributions_value_and_gradient():
    torch.manual_seed(1)
    mean, x = torch.rand(3, 1, 4, 4), torch.rand(3, 1, 4, 4)
    log_sigma = torch.tensor(-1.3, requires_grad=True)
    nll = losses.gaussian_nll(mean, x, log_sigma.exp()).sum()
    nll.backward()
    ref_sigma = torch.tensor(-1.3, requires_grad=True)
    ref = -torch.distributions.Normal(mean, ref_sigma.exp()).log_prob(x).sum()
    ref.backward()
    assert torch.allclose(nll, ref, rtol=1e-5)
    assert torch.allclose(log_sigma.grad, ref_sigma.grad, rtol=1e-5)
    # d/d log sigma = D - ||x - mean||^2 / sigma^2 per image: zero at sigma^2 = the mean squared error
    sq = (x - mean).pow(2).sum()
    assert torch.allclose(log_sigma.grad, 48 - sq / math.exp(-2.6), rtol=1e-5)


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


def _stratified_estimates_of_q(z, mu, logvar, first: int, batch: int):
    """exp(log_aggregate_posterior)[0] for every ordered batch [first, others...] drawn from the data set."""
    n = mu.shape[0]
    out = []
    for others in itertools.permutations([j for j in range(n) if j != first], batch - 1):
        rows = [first, *others]
        zs = torch.cat([z[None], mu[list(others)]])  # row 0 is the point; the others' rows do not enter q(z_0)
        log_q, log_prod = losses.log_aggregate_posterior(zs, mu[rows], logvar[rows], dataset_size=n)
        out.append((float(log_q[0].exp()), float(log_prod[0].exp())))
    return out


def test_stratified_sampling_is_unbiased_for_the_aggregate_posterior():
    # a data set of N = 6 Gaussians q(z|x_n); the exact q(z) = 1/N sum_n q(z|x_n) at a point z, against
    # the mean of the stratified estimate over every ordered batch of M = 3 holding image 0 (Chen et al. 2018, C.2)
    g = torch.Generator().manual_seed(2)
    mu = torch.randn(6, 1, generator=g, dtype=torch.float64)
    logvar = torch.randn(6, 1, generator=g, dtype=torch.float64) * 0.3
    z = torch.tensor([0.4], dtype=torch.float64)
    exact = float(torch.distributions.Normal(mu[:, 0], (0.5 * logvar[:, 0]).exp()).log_prob(z).exp().mean())
    estimates = _stratified_estimates_of_q(z, mu, logvar, first=0, batch=3)
    assert len(estimates) == 20
    mean_q = sum(e[0] for e in estimates) / len(estimates)
    assert abs(mean_q - exact) < 1e-12 * max(1.0, exact)
    assert all(abs(a - b) < 1e-12 for a, b in estimates)  # one dimension: the product of marginals is q(z)
    # the batch-as-data-set weights (1/M each) are biased on the same batches: q(z_0|x_0) weighs 1/3, not 1/6
    mws = [
        float(
            losses.log_aggregate_posterior(torch.cat([z[None], mu[[a, b]]]), mu[[0, a, b]], logvar[[0, a, b]])[0][
                0
            ].exp()
        )
        for a, b in itertools.permutations(range(1, 6), 2)
    ]
    assert abs(sum(mws) / len(mws) - exact) > 1e-3


def test_stratified_kl_decomposition_sums_to_the_same_kl_estimate():
    # the three terms always add up to E[log q(z|x) - log p(z)], whatever the weights of q(z)
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(8, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(8, 3, generator=g, dtype=torch.float64) * 0.5
    z = mu + torch.randn(8, 3, generator=g, dtype=torch.float64) * (0.5 * logvar).exp()
    mws = losses.kl_decomposition(z, mu, logvar)
    mss = losses.kl_decomposition(z, mu, logvar, dataset_size=1000)
    assert abs(float(sum(mws.values()) - sum(mss.values()))) < 1e-9
    # with narrow posteriors far apart, z_i's own Gaussian dominates q(z_i): MI near log N, not log M
    far = losses.kl_decomposition(mu * 100, mu * 100, torch.full_like(logvar, -4.0), dataset_size=1000)
    assert abs(float(far["mutual_info"]) - math.log(1000)) < 1e-3
    near_cap = losses.kl_decomposition(mu * 100, mu * 100, torch.full_like(logvar, -4.0))
    assert abs(float(near_cap["mutual_info"]) - math.log(8)) < 1e-3


def test_stratified_sampling_refuses_a_data_set_smaller_than_the_batch():
    z = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="dataset_size"):
        losses.kl_decomposition(z, z, z, dataset_size=3)


def test_kl_decomposition_sums_to_the_kl_for_one_image():
    # one image: q(z) = q(z|x), so MI = 0 and TC + dimension-wise KL = log q(z|x) - log p(z), whose mean is the KL
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.3]])
    z = mu + 0.3
    parts = losses.kl_decomposition(z, mu, logvar)
    assert abs(float(parts["mutual_info"])) < 1e-6 and abs(float(parts["total_correlation"])) < 1e-6


def test_cycle_distances_by_hand():
    x = torch.tensor([[0.0, 0.2, -3.0, 1.0]])
    t = torch.zeros(1, 4)
    # |d| = 0, 0.2, 3, 1
    assert losses.cycle_loss(t, x) == torch.tensor(4.2 / 4)
    assert torch.isclose(losses.cycle_loss(t, x, "l2"), torch.tensor((0.04 + 9 + 1) / 4))
    # smooth-l1, beta 0.5: 0, 0.2^2 / 1 = 0.04, 3 - 0.25, 1 - 0.25
    assert torch.isclose(losses.identity_loss(t, x, "smooth-l1", 0.5), torch.tensor((0.04 + 2.75 + 0.75) / 4))
    # torch's smooth L1, which genlab calls, on a larger case
    y = torch.randn(3, 1, 5, 7)
    ref = torch.nn.functional.smooth_l1_loss(y, torch.zeros_like(y), beta=0.3)
    assert torch.isclose(losses.smooth_l1_loss(y, torch.zeros_like(y), 0.3), ref)


def test_smooth_distances_push_back_in_proportion_near_zero():
    """The L1 gradient keeps its size however small the error; L2 and smooth-l1 shrink with it."""
    for kind, want in (("l1", 1.0), ("l2", 2e-3), ("smooth-l1", 1e-3)):
        d = torch.tensor([1e-3], requires_grad=True)
        losses.distance(kind, d, torch.zeros(1)).backward()
        assert torch.isclose(d.grad, torch.tensor([want])), kind
