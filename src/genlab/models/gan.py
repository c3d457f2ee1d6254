"""GAN and conditional GAN (Goodfellow et al. 2014; Radford et al. 2016; Mirza & Osindero 2014;
Miyato & Koyama 2018).

G maps noise z ~ N(0, I) to an image, D maps an image to a logit l, D(x) = sigmoid(l). The objective
is the two-player game of Goodfellow et al. 2014

    min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]

trained as in their Algorithm 1: for each iteration, k = ``d_steps`` discriminator updates
(each on a fresh real batch and fresh noise, ascending the objective), then one generator update.
``loss='minimax'`` is exactly that (G descends log(1 - D(G(z)))); ``loss='nonsaturating'``, the
default, has G ascend log D(G(z)) instead, because the minimax G gradient (~ D(G(z))) vanishes
when D confidently rejects early samples, while this one (~ 1 - D(G(z))) does not. ``lsgan`` and
``hinge`` are the least-squares (Mao et al. 2017) and hinge (Lim & Ye 2017) games; ``wgan-gp`` is
the Wasserstein critic with a gradient penalty (Gulrajani et al. 2017: no BatchNorm in D, the penalty
weighted by ``gp_weight``). The formulas are in :mod:`genlab.losses`.

Conv networks (``arch``): 'dcgan' is genlab's DCGAN (stride-2 4x4 transposed convs in G, stride-2
4x4 convs in D, any image size); 'dcgan-radford' is the network of Radford et al. 2016 as published
(no biases before BatchNorm, the noise projected to the first map with BatchNorm per channel, D's
last layer a linear map without bias); 'dcgan-upsample' has G upsample by nearest neighbour and
apply 3x3 convs with LeakyReLU (Odena et al. 2016) and D use 3x3 stride-2 convs, each followed by
2-D dropout of 0.25, with BatchNorm after the activation (the layout of PyTorch-GAN's DCGAN).

By default G's update reuses the fake batch D was just trained on (one G forward per step, as the
published DCGAN code does); ``reuse_fake=False`` draws fresh noise for it, as Goodfellow et al.'s
Algorithm 1 writes it, at the cost of a second forward pass of G.

A conditional generator can learn to ignore its noise and draw one picture per label (mode
collapse, quick on a small data set); ``mode_seeking`` adds Mao et al. 2019's term to G's loss, which
rewards two noise draws for the same label giving different images (on by default for conditional GANs).

A conditional GAN (``num_classes > 0``) gives the label y to both networks: G(z, y) takes a label
embedding concatenated to the noise; D is a projection discriminator (Miyato & Koyama 2018),

    logit(x, y) = psi(phi(x)) + <embed(y), phi(x)>

so D judges (image, label) pairs. Images enter and leave the model in [0, 1]; G works in [-1, 1]
(tanh output) and D sees real images mapped to [-1, 1] too.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from .. import losses, shards
from ..errors import GenlabError
from .base import GenerativeModel, check, check_rates, g_and_d_optimizers, standard_normal
from .blocks import ConvDecoder, UpsampleDecoder, check_conv_size, default_channels, init_weights, mlp
from .capabilities import Conditional, LatentModel, Sampler, class_labels

ARCHS = ("dcgan", "dcgan-radford", "dcgan-upsample", "mlp")


@dataclass
class GANConfig:
    """GAN / conditional GAN hyper-parameters (``num_classes > 0`` makes it conditional)."""

    # keys added after runs were saved without them: such a run resumes with the behaviour it had
    WHEN_ABSENT: ClassVar[dict[str, object]] = {"reuse_fake": False}

    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W), set from the data
    arch: str = (
        "dcgan"  # 'dcgan', 'dcgan-radford', 'dcgan-upsample' (conv; see above) or 'mlp' (as in Goodfellow et al.)
    )
    latent_dim: int = 64  # size of the noise z
    hidden: tuple[int, ...] = (256, 512)  # MLP widths of G (D uses them reversed)
    channels: tuple[int, ...] = ()  # DCGAN widths per stride-2 stage of D (G mirrors); () picks from the size
    g_channels: tuple[int, ...] = ()  # conv G's widths from its smallest map up; () mirrors channels
    loss: str = "nonsaturating"  # 'minimax' (Goodfellow et al.'s game), 'nonsaturating', 'lsgan', 'hinge' or 'wgan-gp'
    gp_weight: float = 10.0  # wgan-gp: weight of the gradient penalty (Gulrajani et al.'s lambda)
    mode_seeking: float = 1.0  # conditional only: weight of the mode-seeking term in G's loss (0 = off)
    d_steps: int = 1  # k: discriminator updates per generator update, each on a fresh real batch
    lr_g: float | None = None  # Adam learning rate of G; None: --set lr, else 2e-4
    lr_d: float | None = None  # Adam learning rate of D; None: --set lr, else 2e-4
    betas: tuple[float, ...] = (0.5, 0.999)  # Adam betas of both (DCGAN's)
    spectral_norm: bool = False  # spectral normalisation on every layer of D (then no BatchNorm in D)
    reuse_fake: bool = True  # G's update on the fake batch of the last D update (False: fresh noise, a second G pass)
    ema: bool = True  # keep an exponential moving average of G's weights and sample from it
    ema_decay: float = 0.999  # EMA: w_ema <- decay * w_ema + (1 - decay) * w (warmed up from 0.1)
    ema_start: int = 0  # before this step the EMA copy just follows G
    num_classes: int = 0  # > 0: conditional GAN on labels 0..num_classes-1
    label_dim: int = 32  # size of G's label embedding (conditional only)

    def __post_init__(self):
        check(
            len(self.image_shape) == 3 and all(int(s) >= 1 for s in self.image_shape),
            f"image_shape must be three integers (C, H, W) >= 1, got {self.image_shape}",
        )
        check(self.arch in ARCHS, f"arch must be one of {', '.join(ARCHS)}, got '{self.arch}'")
        check(self.latent_dim >= 1, f"latent_dim must be an integer >= 1, got {self.latent_dim}")
        check(
            len(self.hidden) >= 1 and all(h >= 1 for h in self.hidden),
            f"hidden must be a comma-separated list of integers >= 1, got {self.hidden}",
        )
        check(
            all(c >= 1 for c in self.channels),
            f"channels must be a comma-separated list of integers >= 1 (or empty), got {self.channels}",
        )
        check(
            all(c >= 1 for c in self.g_channels),
            f"g_channels must be a comma-separated list of integers >= 1 (or empty), got {self.g_channels}",
        )
        check(self.loss in losses.GAN_LOSSES, f"loss must be one of {', '.join(losses.GAN_LOSSES)}, got '{self.loss}'")
        check(self.gp_weight >= 0, f"gp_weight must be a number >= 0, got {self.gp_weight}")
        check(self.mode_seeking >= 0, f"mode_seeking must be a number >= 0 (0: off), got {self.mode_seeking}")
        check(self.d_steps >= 1, f"d_steps must be an integer >= 1, got {self.d_steps}")
        check_rates(self)
        check(
            len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            f"betas must be two numbers in [0, 1), got {self.betas}",
        )
        check(0 <= self.ema_decay < 1, f"ema_decay must be a number in [0, 1), got {self.ema_decay}")
        check(self.ema_start >= 0, f"ema_start must be an integer >= 0, got {self.ema_start}")
        check(self.num_classes >= 0, f"num_classes must be an integer >= 0 (0: unconditional), got {self.num_classes}")
        check(self.label_dim >= 1, f"label_dim must be an integer >= 1, got {self.label_dim}")
        if self.arch != "mlp":
            check_conv_size(tuple(self.image_shape))


# ---- networks ----


class Generator(nn.Module):
    """(z (B, latent_dim), y (B,) or None, or a label embedding (B, label_dim)) -> images (B, C, H, W) in [-1, 1]."""

    def __init__(self, config: GANConfig):
        super().__init__()
        shape = tuple(config.image_shape)
        self.embed = nn.Embedding(config.num_classes, config.label_dim) if config.num_classes else None
        d_in = config.latent_dim + (config.label_dim if self.embed is not None else 0)
        if config.arch == "mlp":
            self.net: nn.Module = nn.Sequential(mlp([d_in, *config.hidden, math.prod(shape)]), nn.Unflatten(1, shape))
            return
        g_chans = tuple(config.g_channels or reversed(d_channels(config)))  # widest (smallest map) first
        if config.arch == "dcgan-upsample":
            self.net = init_weights(UpsampleDecoder(shape, g_chans, d_in))
            return
        # DCGAN: linear to the smallest map (BatchNorm + ReLU), then stride-2 transposed convs with
        # BatchNorm + ReLU, cropped to the exact sizes D's stride-2 convs see (any H, W); tanh at the end.
        radford = config.arch == "dcgan-radford"
        norm = "channels" if radford else "features"
        decoder = ConvDecoder(shape, g_chans[::-1], d_in, act=nn.ReLU(), fc_norm=norm, bias=not radford)
        self.net = init_weights(decoder)
        if radford and isinstance(decoder.fc, nn.Linear):  # the published projection: a transposed conv's init
            nn.init.normal_(decoder.fc.weight, 0.0, 0.02)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, emb: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            emb = self.embed(y) if emb is None else emb  # (B, label_dim)
            z = torch.cat([z, emb], dim=1)  # (B, latent_dim + label_dim)
        return torch.tanh(self.net(z))  # (B, C, H, W)


class Discriminator(nn.Module):
    """(x (B, C, H, W) in [-1, 1], y (B,) or None) -> logits (B,).

    phi: stride-2 4x4 convs with LeakyReLU(0.2) (BatchNorm after the first unless spectral norm or
    wgan-gp, whose per-image gradient penalty a batch statistic would break), or an MLP; psi: a linear
    layer. Conditional: + <embed(y), phi(x)> (projection discriminator).
    """

    def __init__(self, config: GANConfig):
        super().__init__()
        shape = tuple(config.image_shape)
        c, h, w = shape
        sn = config.spectral_norm
        batch_norm = not sn and config.loss != "wgan-gp"
        if config.arch == "mlp":
            widths = list(reversed(config.hidden))
            self.phi: nn.Module = nn.Sequential(
                nn.Flatten(), mlp([math.prod(shape), *widths], act=_leaky, last_act=True)
            )
            features = widths[-1]
        else:
            bias = config.arch != "dcgan-radford"  # Radford et al.: none before a BatchNorm
            layers: list[nn.Module] = []
            for i, ch in enumerate(d_channels(config)):
                if config.arch == "dcgan-upsample":  # 3x3 stride-2 conv, LeakyReLU, dropout, BatchNorm
                    layers += [nn.Conv2d(c, ch, 3, stride=2, padding=1), _leaky(), nn.Dropout2d(0.25)]
                    layers += [nn.BatchNorm2d(ch)] if i > 0 and batch_norm else []
                else:  # DCGAN: 4x4 stride-2 convs (each input pixel seen evenly), BatchNorm, LeakyReLU
                    layers.append(nn.Conv2d(c, ch, 4, stride=2, padding=1, bias=bias))
                    layers += [nn.BatchNorm2d(ch)] if i > 0 and batch_norm else []
                    layers.append(_leaky())
                c = ch
            self.phi = init_weights(nn.Sequential(*layers, nn.Flatten()))
            with torch.no_grad():  # floor(n / 2) per stage: the flattened size, read off one dummy pass
                features = self.phi(torch.zeros(2, *shape)).shape[1]
        self.psi = nn.Linear(features, 1, bias=config.arch != "dcgan-radford")
        if config.arch == "dcgan-radford":  # the published last layer is a conv over the last map
            nn.init.normal_(self.psi.weight, 0.0, 0.02)
        self.embed = nn.Embedding(config.num_classes, features) if config.num_classes else None
        if self.embed is not None:  # the scale of psi's weights: N(0, 1) would swamp the logit at the start
            nn.init.normal_(self.embed.weight, std=features**-0.5)
        if sn:
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Conv2d, nn.Embedding)):
                    _spectral_norm(m)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        f = self.phi(x)  # (B, F)
        logit = self.psi(f).squeeze(1)  # (B,)
        if self.embed is not None:
            logit = logit + (self.embed(y) * f).sum(1)  # projection: <embed(y), phi(x)>
        return logit


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.2)


def d_channels(config: GANConfig) -> tuple[int, ...]:
    """D's conv widths, narrowest first: ``channels``, or 64, 128, ... (capped at 512) by the image size."""
    return tuple(config.channels or default_channels(tuple(config.image_shape), base=64))


# ---- the model ----


class GAN(GenerativeModel):
    """GAN (``num_classes == 0``) or conditional GAN (``num_classes > 0``), one config, one class."""

    family = "gan"
    config_class = GANConfig
    capabilities = frozenset({LatentModel, Sampler})
    metric_groups = ("samples",)
    explorer_view = "noise"

    def __init__(self, config: GANConfig):
        super().__init__(config)
        if config.num_classes > 0:
            self.family, self.capabilities = "cgan", ConditionalGAN.capabilities
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)
        self.generator_ema = None
        if config.ema:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False).eval()

    @property
    def conditional(self) -> bool:
        return self.config.num_classes > 0

    def networks(self) -> dict[str, nn.Module]:
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        if self.generator_ema is not None:
            nets["generator_ema"] = self.generator_ema
        return nets

    def configure_optimizers(self, train) -> dict[str, torch.optim.Optimizer]:
        return g_and_d_optimizers(
            self,
            self.generator.parameters(),
            self.discriminator.parameters(),
            train,
            names=("generator", "discriminator"),
        )

    @property
    def batches_per_step(self) -> int:  # k real batches per iteration, one per D update
        return self.config.d_steps

    # ---- training ----
    def _labels_of(self, batch) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if batch.y is None:
            raise GenlabError(
                "a conditional GAN needs labelled data (num_classes > 0 but the batch has no "
                "labels); use a dataset with classes or --model gan"
            )
        return batch.y

    def train_step(self, batches, optimizers, step):
        cfg = self.config
        G, D = self.generator, self.discriminator
        opt_d, opt_g = optimizers["discriminator"], optimizers["generator"]
        d_total = torch.zeros((), device=self.device)
        # G's update reuses D's last fake batch (its graph kept) unless told not to, or mode seeking needs its own
        reuse = cfg.reuse_fake and not (self.conditional and cfg.mode_seeking > 0)

        # (1) update D, k = d_steps times: ascend log D(x) + log(1 - D(G(z))) (or the chosen game),
        #     each time on a fresh real batch and fresh noise
        D.requires_grad_(True)
        for i in range(cfg.d_steps):
            batch = batches.next()
            real = batch.x * 2 - 1  # (B, C, H, W) in [-1, 1]
            y = self._labels_of(batch)
            z = shards.randn(real.shape[0], cfg.latent_dim, device=real.device)
            with torch.set_grad_enabled(reuse and i == cfg.d_steps - 1):
                fake = G(z, y)  # (B, C, H, W)
            real_logits, fake_logits = D(real, y), D(fake.detach(), y)
            d_loss = losses.gan_d_loss(cfg.loss, real_logits, fake_logits)
            if cfg.loss == "wgan-gp":
                gp = losses.gradient_penalty(lambda x, y=y: D(x, y), real, fake.detach())
                d_loss = d_loss + cfg.gp_weight * gp
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            d_total = d_total + d_loss.detach()

        # (2) update G: descend log(1 - D(G(z))) (minimax) or ascend log D(G(z)) (non-saturating), ...
        D.requires_grad_(False)  # no D gradients from G's loss
        seek = self.conditional and cfg.mode_seeking > 0 and real.shape[0] >= 2
        if seek:  # two noise draws for each label of the first half of the batch
            half = real.shape[0] // 2
            y = torch.cat([y[:half], y[:half]])
        if not reuse:  # the last real batch's labels: G is trained on the data's label distribution
            z = shards.randn(y.shape[0] if seek else real.shape[0], cfg.latent_dim, device=real.device)
            fake = G(z, y)
        g_loss = losses.gan_g_loss(cfg.loss, D(fake, y), real_logits.detach())
        out = {}
        if seek:  # ... and, conditional, keep the two draws of each label apart
            ms = losses.mode_seeking(fake[:half], fake[half:], z[:half], z[half:])
            g_loss_total = g_loss + cfg.mode_seeking * ms
            out["mode_seeking"] = ms.detach()
        else:
            g_loss_total = g_loss
        opt_g.zero_grad(set_to_none=True)
        g_loss_total.backward()
        opt_g.step()
        D.requires_grad_(True)

        self.update_ema(step)
        return {
            "d_loss": d_total / cfg.d_steps,
            "g_loss": g_loss.detach(),
            "logit_real": real_logits.detach().mean(),
            "logit_fake": fake_logits.detach().mean(),
            **out,
        }

    @torch.no_grad()
    def update_ema(self, step: int) -> None:
        """w_ema <- decay * w_ema + (1 - decay) * w; buffers are copied.

        A copy of G before ``ema_start``; after it, decay = min(ema_decay, (1 + t) / (10 + t)) at t steps
        past the start (the usual warm-up), so early samples are not dominated by the random init.
        """
        if self.generator_ema is None:
            return
        t = step - self.config.ema_start
        decay = min(self.config.ema_decay, (1 + t) / (10 + t)) if t >= 0 else 0.0
        for p_ema, p in zip(self.generator_ema.parameters(), self.generator.parameters()):
            p_ema.lerp_(p, 1.0 - decay)
        for b_ema, b in zip(self.generator_ema.buffers(), self.generator.buffers()):
            b_ema.copy_(b)

    # ---- use ----
    @torch.no_grad()
    def decode(self, z: torch.Tensor, labels=None, label_embedding: torch.Tensor | None = None) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] from noise z (B, latent_dim), by the EMA generator when there is one.

        Conditional only: ``labels``, an int or B ints in [0, num_classes) (None cycles 0..K-1), or
        ``label_embedding`` (B, label_dim), vectors given in place of the labels' (to interpolate classes).
        """
        z = self.as_codes(z)
        y = class_labels(labels, z.shape[0], self.config.num_classes, self.device)
        if label_embedding is not None and y is None:
            raise GenlabError("a label embedding needs a conditional model (cgan)")
        net = self.generator_ema if self.generator_ema is not None else self.generator
        was = net.training
        net.eval()
        emb = None if label_embedding is None else label_embedding.to(self.device, torch.float32)
        x = net(z, y, emb)
        net.train(was)
        return ((x + 1) / 2).clamp(0, 1)

    @torch.no_grad()
    def label_embedding(self, labels) -> torch.Tensor:
        """The generator's embedding (B, label_dim) of class labels (conditional only)."""
        net = self.generator_ema if self.generator_ema is not None else self.generator
        given = torch.as_tensor(labels).reshape(-1)
        y = class_labels(given, given.numel(), self.config.num_classes, self.device)
        if net.embed is None or y is None:
            raise GenlabError("a label embedding needs a conditional model (cgan)")
        return net.embed(y)

    @torch.no_grad()
    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n noise vectors (n, latent_dim) ~ N(0, I)."""
        return standard_normal(n, self.config.latent_dim, generator, self.device)

    def latent_scale(self):
        return None  # the noise is N(0, I)

    @torch.no_grad()
    def sample(self, n, generator=None, labels=None):
        """n new images (n, C, H, W) in [0, 1]: ``decode`` of n noise draws.

        ``labels`` (conditional only): an int, or n ints in [0, num_classes); None cycles 0..K-1.
        """
        return self.decode(self.sample_latent(n, generator), labels)

    @torch.no_grad()
    def sample_grid_per_class(self, n_per_class: int, generator=None) -> torch.Tensor:
        """(num_classes * n_per_class, C, H, W): n_per_class samples of class 0, then of class 1, ..."""
        if not self.conditional:
            raise GenlabError("a per-class grid needs a conditional GAN (--model cgan)")
        check(n_per_class >= 1, f"n_per_class must be an integer >= 1, got {n_per_class}")
        k = self.config.num_classes
        labels = torch.arange(k).repeat_interleave(n_per_class)
        return self.sample(k * n_per_class, generator=generator, labels=labels)

    @torch.no_grad()
    def preview(self, batch, generator):
        """Unconditional: 64 samples. Conditional: one row (or block of rows) per class."""
        if not self.conditional:
            return self.sample(64, generator=generator)
        return self.sample_grid_per_class(per_class_for_grid(self.config.num_classes), generator)


def per_class_for_grid(k: int, max_images: int = 100) -> int:
    """Samples per class so that a near-square grid (ceil(sqrt(N)) per row) puts each class on whole rows."""
    best, limit = 1, max(max_images, min(k * k, 400))  # a K x K grid for up to 20 classes
    for m in range(1, limit + 1):
        n = k * m
        if n > limit:
            break
        if m % math.ceil(math.sqrt(n)) == 0:
            best = m
    return best


class ConditionalGAN(GAN):
    """The registry's 'cgan': the same GAN with ``num_classes`` required (the run layer sets it from the data)."""

    family = "cgan"
    capabilities = frozenset({LatentModel, Sampler, Conditional})

    def __init__(self, config: GANConfig):
        check(
            config.num_classes >= 1,
            f"cgan needs num_classes >= 1 (the number of labels), got "
            f"{config.num_classes}; train on labelled data or use --model gan",
        )
        super().__init__(config)
