"""Variational autoencoder and beta-VAE (Kingma & Welling 2014; Higgins et al. 2017; Burgess et al. 2018).

The encoder outputs mu and log sigma^2 of q(z|x); z = mu + sigma * eps (reparameterisation);
the loss is the negative ELBO with a weight on the KL term:

    L = E_q[-log p(x|z)] + beta * KL(q(z|x) || N(0, I))        (nats per image)

With ``likelihood = 'gaussian'``, p(x|z) = N(dec(z), sigma^2 I); ``learn_sigma`` learns sigma with the
networks (the gamma of Dai & Wipf 2019), which lets the decoder's means sharpen as sigma falls.

beta = 1 is the VAE, beta > 1 the beta-VAE (Higgins et al. 2017). ``kl_warmup_steps`` ramps beta from 0;
``capacity_max`` > 0 switches to the capacity-annealed objective of Burgess et al. 2018:
recon + gamma * |KL - C|, C growing linearly from 0 to capacity_max over ``capacity_steps``.

``tc=True`` is the beta-TCVAE of Chen et al. 2018: the KL term is split into the index-code mutual
information, the total correlation of q(z) and the dimension-wise KL (``losses.kl_decomposition``),
and beta weighs the total correlation only:  L = recon + MI + beta * TC + dimwise KL.
``tc_estimator`` picks how q(z) is estimated on the batch: 'mws' (minibatch-weighted sampling, the
batch standing for the data set: its mutual information cannot exceed log batch_size, so on a small
batch the TC term takes most of the KL) or 'mss' (minibatch stratified sampling, unbiased for the
training set's ``dataset_size`` images, which the run sets from the data; Chen et al. 2018, appendix C).

``second_stage_start > 0`` makes it the 2-stage VAE of Dai & Wipf 2019: from that step on the first
VAE is frozen and a second, fully connected VAE is fitted on its latent codes z ~ q(z|x), with a
Gaussian likelihood whose variance gamma^2 is learned; new images are u ~ N(0, I) decoded by the
second VAE into z, then by the first into x. The prior of the first VAE is thus replaced by the
distribution its codes really have, which closes the "holes" that prior samples fall into.

``prior = "gmm"`` closes them the other way (Ghosh et al. 2020, "From variational to deterministic
autoencoders", ex-post density estimation): after every epoch a mixture of ``prior_components``
full-covariance Gaussians is fitted by EM to the posterior means of the training images, and new
images decode its draws. Training, the ELBO and every likelihood figure are those of the N(0, I) VAE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .. import losses
from .base import DEFAULT_LR, GenerativeModel, adam, check, standard_normal
from .blocks import build_decoder, build_encoder, mlp
from .capabilities import Encoder, GaussianPosterior, LatentModel, Sampler
from .latent_prior import GaussianMixturePrior, training_codes


@dataclass
class VAEConfig:
    """VAE / beta-VAE hyper-parameters."""

    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W), set from the data
    arch: str = "conv"  # 'conv' or 'mlp'
    latent_dim: int = 16  # size of z
    hidden: tuple[int, ...] = (512,)  # MLP hidden widths (encoder; the decoder mirrors them)
    channels: tuple[int, ...] = ()  # conv widths per stride-2 stage; () picks them from the image size
    beta: float = 1.0  # weight of the KL term; > 1 is a beta-VAE
    likelihood: str = "bernoulli"  # p(x|z): 'bernoulli' (BCE on logits) or 'gaussian' (fixed sigma)
    sigma: float = 1.0  # std of the Gaussian likelihood (its starting value when learned)
    learn_sigma: bool = False  # Gaussian likelihood: sigma is learned with the networks (Dai & Wipf 2019)
    kl_warmup_steps: int = 0  # beta ramps linearly from 0 over this many steps
    capacity_max: float = 0.0  # > 0: Burgess et al. capacity objective, C in nats
    capacity_steps: int = 100_000  # steps over which C grows from 0 to capacity_max
    gamma: float = 1000.0  # weight of |KL - C| in the capacity objective
    tc: bool = False  # beta-TCVAE: beta weighs only the total correlation of q(z) (Chen et al. 2018)
    tc_estimator: str = "mws"  # q(z) on the batch: 'mws' (weighted) or 'mss' (stratified, needs dataset_size)
    dataset_size: int = 0  # training images (set from the data); the 'mss' estimator's N
    second_stage_start: int = 0  # > 0: the 2-stage VAE; from this step on, fit a second VAE on the codes
    second_hidden: tuple[int, ...] = (1024, 1024)  # widths of the second VAE's MLPs (Dai & Wipf: 3 x 1024)
    second_latent_dim: int = 0  # latent size of the second VAE; 0 = latent_dim
    prior: str = "standard"  # sampling: 'standard' N(0, I), or 'gmm' fitted to the codes (Ghosh et al. 2020)
    prior_components: int = 10  # Gaussians of the 'gmm' sampling distribution (full covariances)

    def __post_init__(self):
        check(self.arch in ("conv", "mlp"), f"arch must be 'conv' or 'mlp', got '{self.arch}'")
        check(self.latent_dim >= 1, f"latent_dim must be an integer >= 1, got {self.latent_dim}")
        check(self.beta >= 0, f"beta must be a number >= 0, got {self.beta}")
        check(
            self.likelihood in ("bernoulli", "gaussian"),
            f"likelihood must be 'bernoulli' or 'gaussian', got '{self.likelihood}'",
        )
        check(self.sigma > 0, f"sigma must be a number > 0, got {self.sigma}")
        check(
            not self.learn_sigma or self.likelihood == "gaussian",
            "learn_sigma needs likelihood = 'gaussian' (a Bernoulli likelihood has no sigma)",
        )
        check(self.kl_warmup_steps >= 0, f"kl_warmup_steps must be an integer >= 0, got {self.kl_warmup_steps}")
        check(self.capacity_max >= 0, f"capacity_max must be a number >= 0, got {self.capacity_max}")
        check(self.capacity_steps >= 1, f"capacity_steps must be an integer >= 1, got {self.capacity_steps}")
        check(all(h >= 1 for h in self.hidden), "hidden widths must be integers >= 1")
        check(
            self.second_stage_start >= 0,
            f"second_stage_start must be an integer >= 0 (0: one stage), got {self.second_stage_start}",
        )
        check(
            len(self.second_hidden) >= 1 and all(h >= 1 for h in self.second_hidden),
            f"second_hidden must be a comma-separated list of integers >= 1, got {self.second_hidden}",
        )
        check(self.second_latent_dim >= 0, f"second_latent_dim must be an integer >= 0, got {self.second_latent_dim}")
        check(not (self.tc and self.capacity_max > 0), "tc and capacity_max are two different objectives; set one")
        check(self.prior in ("standard", "gmm"), f"prior must be 'standard' or 'gmm', got '{self.prior}'")
        check(self.prior_components >= 1, f"prior_components must be an integer >= 1, got {self.prior_components}")
        check(
            not (self.prior == "gmm" and self.second_stage_start > 0),
            "prior = 'gmm' and second_stage_start are two ways to sample the codes; set one",
        )
        check(self.tc_estimator in ("mws", "mss"), f"tc_estimator must be 'mws' or 'mss', got '{self.tc_estimator}'")
        check(self.dataset_size >= 0, f"dataset_size must be an integer >= 0, got {self.dataset_size}")
        check(
            self.tc_estimator == "mws" or self.dataset_size >= 2,
            "tc_estimator 'mss' needs the training set's size: train it with genlab train, which sets dataset_size",
        )


class SecondStage(nn.Module):
    """The second VAE of Dai & Wipf 2019 on codes z (B, D): u ~ q(u|z), z ~ N(dec(u), gamma^2 I)."""

    steps: torch.Tensor  # buffer: updates done (0: not fitted)

    def __init__(self, latent_dim: int, hidden: tuple[int, ...], inner_dim: int):
        super().__init__()
        self.encoder = mlp([latent_dim, *hidden, 2 * inner_dim])
        self.decoder = mlp([inner_dim, *reversed(hidden), latent_dim])
        self.log_gamma = nn.Parameter(torch.zeros(()))  # learned: gamma -> the codes' residual scale
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))  # updates done (0: not fitted)

    def loss(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.encoder(z).chunk(2, dim=1)  # (B, d2) each
        u = losses.reparameterize(mu, logvar)
        rec = losses.gaussian_nll(self.decoder(u), z, self.log_gamma.exp()).mean()
        kl = losses.kl_normal_standard(mu, logvar).sum(1).mean()
        return {"loss": rec + kl, "stage2_recon": rec, "stage2_kl": kl, "stage2_gamma": self.log_gamma.exp()}


class VAE(GenerativeModel):
    family = "vae"
    config_class = VAEConfig
    capabilities = frozenset({LatentModel, Encoder, GaussianPosterior, Sampler})
    metric_groups = ("reconstruction", "likelihood", "latent", "disentanglement", "samples")
    explorer_view = "latent"

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        shape = tuple(config.image_shape)
        d = config.latent_dim
        # One encoder trunk, two linear heads would do; a single 2d-wide output is the same and faster.
        self.encoder = build_encoder(config.arch, shape, 2 * d, config.hidden, config.channels)
        self.decoder = build_decoder(config.arch, shape, d, config.hidden, config.channels)
        self.log_sigma = None
        if config.learn_sigma:  # one scalar std for every pixel, learned: gamma of Dai & Wipf 2019
            self.log_sigma = nn.Parameter(torch.tensor(math.log(config.sigma)))
        self.stage2 = None
        if config.second_stage_start > 0:
            self.stage2 = SecondStage(d, tuple(config.second_hidden), config.second_latent_dim or d)
        self.fitted_prior = None
        if config.prior == "gmm":  # refitted to the training codes after every epoch
            self.fitted_prior = GaussianMixturePrior(config.prior_components, d)

    def configure_optimizers(self, train):
        if self.stage2 is None:
            return super().configure_optimizers(train)
        first = [p for name, p in self.named_parameters() if not name.startswith("stage2.")]
        opt = {"lr": train.lr or DEFAULT_LR, "betas": train.betas, "weight_decay": train.weight_decay}
        return {"model": adam(first, **opt), "stage2": adam(self.stage2.parameters(), **opt)}

    # ---- the probabilistic pieces ----
    def encode_dist(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): images (B, C, H, W), uint8 or float in [0, 1] -> mu, logvar, each (B, latent_dim)."""
        mu, logvar = self.encoder(self.as_images(x)).chunk(2, dim=1)
        return mu, logvar

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean E_q[z] (B, latent_dim), the usual deterministic code."""
        return self.encode_dist(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> the mean of p(x|z), images in [0, 1]."""
        return torch.sigmoid(self.decoder(self.as_codes(z)))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def recon_nll(self, logits: torch.Tensor, x: torch.Tensor, constant: bool = True) -> torch.Tensor:
        """-log p(x|z) per image (B,), from decoder logits."""
        if self.config.likelihood == "bernoulli":
            return losses.bernoulli_nll(logits, x)
        if self.log_sigma is not None:  # a learned sigma's log term is part of what is optimised
            return losses.gaussian_nll(torch.sigmoid(logits), x, self.log_sigma.exp(), constant=True)
        return losses.gaussian_nll(torch.sigmoid(logits), x, self.config.sigma, constant=constant)

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for K latents per image: x (B, C, H, W), z (B, K, D) -> (B, K)."""
        b, k, d = z.shape
        logits = self.decoder(z.reshape(b * k, d))
        xs = x.unsqueeze(1).expand(b, k, *x.shape[1:]).reshape(b * k, *x.shape[1:])
        return -self.recon_nll(logits, xs).view(b, k)

    def beta_at(self, step: int) -> float:
        if self.config.kl_warmup_steps > 0:
            return self.config.beta * min(1.0, step / self.config.kl_warmup_steps)
        return self.config.beta

    def loss(self, x: torch.Tensor, step: int = 0) -> dict[str, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (B, D) each
        z = losses.reparameterize(mu, logvar)
        logits = self.decoder(z)
        rec = self.recon_nll(logits, x, constant=False).mean()
        kl = losses.kl_normal_standard(mu, logvar).sum(1).mean()
        nll = rec  # -log p(x|z): a Bernoulli's and a learned sigma's rec already is; a fixed sigma's lacks a constant
        if self.config.likelihood == "gaussian" and self.log_sigma is None:
            nll = rec + losses.gaussian_log_normalizer(x[0].numel(), self.config.sigma)
        if self.config.tc:  # beta-TCVAE: MI + beta * TC + dimension-wise KL in place of beta * KL
            n = self.config.dataset_size if self.config.tc_estimator == "mss" else 0
            parts = losses.kl_decomposition(z, mu, logvar, dataset_size=max(n, x.shape[0]) if n else 0)  # N >= M
            beta = self.beta_at(step)
            total = rec + parts["mutual_info"] + beta * parts["total_correlation"] + parts["dimwise_kl"]
            return {"loss": total, "recon": rec, "kl": kl, **parts, "elbo": -(nll + kl).detach()}
        if self.config.capacity_max > 0:
            c = self.config.capacity_max * min(1.0, step / self.config.capacity_steps)
            total = rec + self.config.gamma * (kl - c).abs()
        else:
            total = rec + self.beta_at(step) * kl
        out = {"loss": total, "recon": rec, "kl": kl, "elbo": -(nll + kl).detach()}  # the plain ELBO beside it
        if self.log_sigma is not None:
            out["sigma"] = self.log_sigma.detach().exp()
        return out

    def train_step(self, batches, optimizers, step):
        """The base's Adam step on the loss; from ``second_stage_start`` on, the second VAE's step instead."""
        if self.stage2 is not None and step >= self.config.second_stage_start:
            return self._second_stage_step(batches.next().x, optimizers["stage2"])
        return super().train_step(batches, optimizers, step)

    def _second_stage_step(self, x: torch.Tensor, opt) -> dict[str, torch.Tensor]:
        """One update of the second VAE on codes z ~ q(z|x) of the frozen first one."""
        was = self.encoder.training
        self.encoder.eval()  # frozen: no BatchNorm statistics updated either
        with torch.no_grad():
            z = losses.reparameterize(*self.encode_dist(x))
        self.encoder.train(was)
        assert self.stage2 is not None  # two_stage models have one
        out = self.stage2.loss(z)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        self.stage2.steps += 1
        return {k: v.detach() for k, v in out.items()}

    @torch.no_grad()
    def on_epoch_end(self, data) -> None:
        """prior = 'gmm': fit the mixture to the posterior means of the training images."""
        if self.fitted_prior is None:
            return
        was = self.training
        self.eval()
        self.fitted_prior.fit(training_codes(self.encode, data, self.device))
        self.train(was)

    @torch.no_grad()
    def sample_latent(self, n, generator=None):
        """Codes of new images: N(0, I) draws; once fitted, the mixture's draws or the second stage's decoded ones."""
        if self.fitted_prior is not None and int(self.fitted_prior.fitted) > 0:
            return self.fitted_prior.sample(n, generator)
        if self.stage2 is not None and int(self.stage2.steps) > 0:
            inner = self.config.second_latent_dim or self.config.latent_dim
            return self.stage2.decoder(standard_normal(n, inner, generator, self.device))
        return standard_normal(n, self.config.latent_dim, generator, self.device)

    def latent_scale(self):
        """None for the N(0, I) prior; the fitted mixture's mean and per-dimension std otherwise."""
        if self.fitted_prior is not None and int(self.fitted_prior.fitted) > 0:
            return self.fitted_prior.moments()
        return None

    @torch.no_grad()
    def sample(self, n, generator=None, labels=None):
        """Decode n draws of :meth:`sample_latent`: new images, (n, C, H, W) in [0, 1]."""
        return self.decode(self.sample_latent(n, generator))
