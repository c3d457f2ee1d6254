"""Loss functions: pure, on tensors, no state.

Shapes: images (B, C, H, W); latents (B, D). Every per-image loss is summed over pixels or latent
dimensions and averaged over the batch, so the numbers are nats (or squared error) per image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import shards


def kl_normal_standard(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) per dimension, closed form.

    KL = 1/2 (sigma^2 + mu^2 - 1 - log sigma^2)   -> (B, D)
    (the VAE's regulariser, Kingma & Welling 2014, appendix B, written with the variance sigma^2 = exp(logvar)).
    """
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x | z) under independent Bernoulli pixels, from decoder logits. -> (B,), nats."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def gaussian_nll(
    mean: torch.Tensor, x: torch.Tensor, sigma: float | torch.Tensor, constant: bool = True
) -> torch.Tensor:
    """-log N(x; mean, sigma^2 I) per image -> (B,), nats.

    = ||x - mean||^2 / (2 sigma^2) + D/2 log(2 pi sigma^2); ``constant=False`` drops the last term
    (only right for a fixed sigma: a learned sigma, a scalar tensor, needs it).
    """
    nll = (x - mean).pow(2).flatten(1).sum(1) / (2.0 * sigma**2)
    return nll + gaussian_log_normalizer(x[0].numel(), sigma) if constant else nll


def gaussian_log_normalizer(d: int, sigma: float | torch.Tensor) -> float | torch.Tensor:
    """D/2 log(2 pi sigma^2): the term of -log N(x; mean, sigma^2 I) that does not depend on x."""
    log_var = 2.0 * torch.log(sigma) if isinstance(sigma, torch.Tensor) else 2.0 * math.log(sigma)
    return 0.5 * d * (math.log(2.0 * math.pi) + log_var)


def squared_error(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """||x - x_hat||^2 per image (the autoencoder's reconstruction loss) -> (B,)."""
    return (x - x_hat).pow(2).flatten(1).sum(1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I): the sampling moved out of the gradient path."""
    return mu + shards.randn_like(mu) * (0.5 * logvar).exp()


def kl_decomposition(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int = 0
) -> dict[str, torch.Tensor]:
    """The three terms of E_x KL(q(z|x) || p(z)) (Chen et al. 2018, eq. 2), estimated on one batch.

    The aggregate posterior q(z) = 1/N sum_n q(z|x_n) is estimated from the batch's M Gaussians
    q(z|x_j); z (M, D) holds one sample z_i ~ q(z|x_i) per image:

        mutual information    I(x; z)          = E[log q(z|x) - log q(z)]
        total correlation     KL(q(z) || prod_d q(z_d)) = E[log q(z) - sum_d log q(z_d)]
        dimension-wise KL     sum_d KL(q(z_d) || p(z_d)) = E[sum_d log q(z_d) - log p(z)]

    ``dataset_size`` 0: the batch stands for the data set, every q(z|x_j) weighted 1/M (minibatch-weighted
    sampling up to a constant in each term, so the same gradients); the mutual-information estimate
    cannot exceed log M. ``dataset_size`` N >= M: minibatch stratified sampling (Chen et al. 2018,
    appendix C.2), an unbiased estimate of q(z_i) for a data set of N images: z_i's own Gaussian
    weighted 1/N, one other image (the next in the batch) (N - M + 1) / (N (M - 1)) for the images the
    batch leaves out, the other M - 2 weighted 1 / (M - 1); the mutual information can then reach log N.

    -> scalars (means over the batch), nats. Their sum is the estimate of the batch's mean KL.
    """
    log_q_z_given_x = _log_normal(z, mu, logvar).sum(1)  # (M,): log q(z_i | x_i)
    log_q_z, log_prod_q_zd = log_aggregate_posterior(z, mu, logvar, dataset_size)  # (M,) each
    log_p_z = (-0.5 * (z.pow(2) + math.log(2 * math.pi))).sum(1)  # (M,)
    return {
        "mutual_info": (log_q_z_given_x - log_q_z).mean(),
        "total_correlation": (log_q_z - log_prod_q_zd).mean(),
        "dimwise_kl": (log_prod_q_zd - log_p_z).mean(),
    }


def log_aggregate_posterior(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch estimates of log q(z_i) and sum_d log q(z_id) for each row z_i of z (M, D) -> (M,), (M,).

    q(z_i) = sum_j w_ij q(z_i | x_j) with the weights of ``kl_decomposition``'s ``dataset_size``.
    """
    log_q_ijd = _log_normal(z.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0))  # (M, M, D): log q(z_id | x_jd)
    log_w = _log_mixture_weights(z.shape[0], dataset_size, z)  # (M, M): the weight of q(z_i | x_j)
    log_q_z = torch.logsumexp(log_q_ijd.sum(2) + log_w, dim=1)
    log_prod_q_zd = torch.logsumexp(log_q_ijd + log_w.unsqueeze(2), dim=1).sum(1)
    return log_q_z, log_prod_q_zd


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, exp(logvar)) per element (broadcast)."""
    return -0.5 * ((z - mu).pow(2) * (-logvar).exp() + logvar + math.log(2 * math.pi))


def _log_mixture_weights(m: int, dataset_size: int, like: torch.Tensor) -> torch.Tensor:
    """log of the (M, M) weights of q(z_i | x_j) in the estimate of q(z_i); see kl_decomposition."""
    if dataset_size == 0:
        return torch.full((m, m), -math.log(m), dtype=like.dtype, device=like.device)
    n = dataset_size
    if m < 2 or n < m:
        raise ValueError(f"stratified sampling needs a batch of at least 2 and dataset_size >= batch, got {m}, {n}")
    w = torch.full((m, m), 1.0 / (m - 1), dtype=like.dtype, device=like.device)
    rows = torch.arange(m, device=like.device)
    w[rows, (rows + 1) % m] = (n - m + 1) / (n * (m - 1))  # stands for the N - M images outside the batch
    w[rows, rows] = 1.0 / n
    return w.log()


# ---------------------------------------------------------------------------------------------
# GAN losses
#
# All take discriminator logits l (any shape: (B,) or (B, 1, h, w) patches) and return the mean
# over every element. D(x) = sigmoid(l), written in stable logits form:
#     log D = log sigmoid(l) = -softplus(-l)        log(1 - D) = log sigmoid(-l) = -softplus(l)
# Both functions return a quantity to *minimise*.
# ---------------------------------------------------------------------------------------------

GAN_LOSSES = ("minimax", "nonsaturating", "lsgan", "hinge", "wgan-gp")


def _check_gan_kind(kind: str) -> None:
    if kind not in GAN_LOSSES:
        from .errors import one_of

        raise one_of("GAN loss", kind, GAN_LOSSES)


def gan_d_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss (to minimise), mean over the batch / patches.

    minimax, nonsaturating: D ascends  log D(x) + log(1 - D(G(z)))  (Goodfellow et al. 2014, eq. 1), i.e.
                            minimises  softplus(-l_real) + softplus(l_fake).
    lsgan:  1/2 (D(x) - 1)^2 + 1/2 D(G(z))^2 on the raw outputs (Mao et al. 2017).
    hinge:  relu(1 - l_real) + relu(1 + l_fake) (Lim & Ye 2017; Miyato et al. 2018).
    wgan-gp: the critic's l_fake - l_real (Arjovsky et al. 2017); its gradient penalty needs D and the
            images, see :func:`gradient_penalty` (Gulrajani et al. 2017).
    """
    _check_gan_kind(kind)
    if kind in ("minimax", "nonsaturating"):
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    if kind == "lsgan":
        return 0.5 * (real_logits - 1.0).pow(2).mean() + 0.5 * fake_logits.pow(2).mean()
    if kind == "wgan-gp":
        return fake_logits.mean() - real_logits.mean()
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def gan_g_loss(kind: str, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
    """Generator loss (to minimise), mean over the batch / patches.

    minimax:       G descends log(1 - D(G(z))) = -softplus(l_fake)  (exactly Goodfellow et al.'s game;
                   its gradient ~ D(G(z)) vanishes when D confidently rejects early samples).
    nonsaturating: G ascends log D(G(z)), i.e. minimises softplus(-l_fake) (gradient ~ 1 - D(G(z))).
    lsgan:         1/2 (D(G(z)) - 1)^2 on the raw outputs.
    hinge, wgan-gp: -l_fake.
    ``real_logits`` is accepted for relativistic-style variants and unused by these.
    """
    _check_gan_kind(kind)
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    if kind == "nonsaturating":
        return F.softplus(-fake_logits).mean()
    if kind == "lsgan":
        return 0.5 * (fake_logits - 1.0).pow(2).mean()
    return -fake_logits.mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP's penalty E[(||grad_x critic(x_hat)||_2 - 1)^2] (Gulrajani et al. 2017, eq. 3).

    x_hat = eps * real + (1 - eps) * fake, eps ~ U[0, 1] per image (or the given ``eps``, shape (B,));
    ``critic`` maps (B, C, H, W) to (B,) scores. The graph is kept (create_graph) so that the penalty
    trains the critic.
    """
    if eps is None:
        eps = shards.rand(real.shape[0], device=real.device, dtype=real.dtype)
    eps = eps.view(-1, *([1] * (real.ndim - 1)))
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1.0).pow(2).mean()


def mode_seeking(
    fake_1: torch.Tensor, fake_2: torch.Tensor, z_1: torch.Tensor, z_2: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """Mode-seeking term (Mao et al. 2019, eq. 3) to minimise: 1 / (mean|G(z1) - G(z2)| / mean|z1 - z2| + eps).

    Two noise draws for the same labels should give images as far apart as the draws are: a generator
    that ignores its noise (mode collapse) makes the ratio 0 and this term large.
    """
    ratio = (fake_1 - fake_2).abs().mean() / (z_1 - z_2).abs().mean()
    return 1.0 / (ratio + eps)


# ---------------------------------------------------------------------------------------------
# translation losses (pix2pix, CycleGAN)
#
# Means over every pixel of the batch, as the papers' ||.||_1 terms and the reference code's
# nn.L1Loss. The models apply them to images in [-1, 1] (their networks' range), so lambda_L1 = 100
# and lambda_cycle = 10 mean what they mean in the papers.
# ---------------------------------------------------------------------------------------------


def generator_adv_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial term as the translation papers weigh it against L1 / cycle terms.

    :func:`gan_g_loss` writes LSGAN with Mao et al.'s 1/2: 1/2 (D(G(x)) - 1)^2. CycleGAN's
    objective (Zhu et al. 2017, section 4) and its code use (D(G(x)) - 1)^2 with lambda_cycle = 10,
    so the LSGAN term is doubled here to keep the papers' balance; the other kinds are unchanged
    (nonsaturating is the BCE that pix2pix uses with lambda_L1 = 100).
    """
    return gan_g_loss(kind, fake_logits) * (2.0 if kind == "lsgan" else 1.0)


def l1_loss(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean |x - target| over every element (pix2pix's L1 term, Isola et al. 2017, eq. 3)."""
    return (x - target).abs().mean()


def l2_loss(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean (x - target)^2 over every element."""
    return F.mse_loss(x, target)


def smooth_l1_loss(x: torch.Tensor, target: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Smooth L1 (Girshick 2015, Fast R-CNN eq. 3, with a width beta), mean over every element: torch's.

    d = x - target:  d^2 / (2 beta) where |d| < beta, else |d| - beta / 2. Its gradient d / beta goes to
    zero with the error (an L1 term pushes back with the same strength however small the error) and
    is the L1 term's +-1 beyond beta.
    """
    return F.smooth_l1_loss(x, target, beta=beta)


DISTANCES = ("l1", "l2", "smooth-l1")


def distance(kind: str, x: torch.Tensor, target: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """The cycle / identity distance ``kind`` (one of :data:`DISTANCES`); ``beta``: smooth-l1's width."""
    if kind == "l1":
        return l1_loss(x, target)
    if kind == "l2":
        return l2_loss(x, target)
    if kind == "smooth-l1":
        return smooth_l1_loss(x, target, beta)
    from .errors import one_of

    raise one_of("distance", kind, DISTANCES)


def cycle_loss(x: torch.Tensor, x_rec: torch.Tensor, kind: str = "l1", beta: float = 1.0) -> torch.Tensor:
    """Cycle consistency mean |F(G(x)) - x| for one direction (Zhu et al. 2017, eq. 2); ``kind``: :func:`distance`."""
    return distance(kind, x_rec, x, beta)


def identity_loss(x: torch.Tensor, g_x: torch.Tensor, kind: str = "l1", beta: float = 1.0) -> torch.Tensor:
    """Identity mapping mean |G(y) - y|: a generator fed an image of its own output domain should keep it."""
    return distance(kind, g_x, x, beta)
