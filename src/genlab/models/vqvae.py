"""VQ-VAE: a discrete latent of codebook vectors (van den Oord, Vinyals & Kavukcuoglu 2017,
"Neural Discrete Representation Learning").

The encoder maps an image to a grid z_e(x) (B, D, h, w) of D-dimensional vectors; each is replaced
by its nearest entry of a codebook e (K, D), z_q = e_k with k = argmin_j ||z_e - e_j||; the decoder
maps z_q back to an image. The loss (eq. 3), summed over pixels and latent positions per image:

    L = -log p(x | z_q(x)) + ||sg[z_e(x)] - e||^2 + beta ||z_e(x) - sg[e]||^2

with sg the stop-gradient. The argmin has no gradient: the decoder's gradient w.r.t. z_q is copied
to z_e (the straight-through estimator, z_q = z_e + sg[e - z_e]). The second term (the codebook
loss) moves the chosen entries towards the encodings; the third (the commitment loss, beta = 0.25
as in the paper) keeps the encoder close to its entries. -log p(x|z) is the squared error of the
decoded image (a Gaussian of fixed variance, ``loss='mse'``) or the Bernoulli cross-entropy
(``loss='bce'``). The codebook starts as K encodings of the first training batch (so no entry
starts far from the data and stays unused). ``perplexity`` in the logs is exp(entropy) of the code
usage in a batch: how many entries are in use.

As a :class:`~genlab.models.capabilities.LatentModel` the code of an image is the grid z_q,
flattened to ``latent_dim = D * h * w`` values; ``decode`` snaps any code to the nearest codebook
entry at every position first, so traversals and interpolations move through codes in discrete jumps.

Sampling: the paper fits an autoregressive PixelCNN prior over the code indices. Here the prior is
simpler: each of the h * w positions draws its index independently from the categorical
distribution of the indices seen at that position over (up to 10,000) training images, refitted
after every epoch. Samples have the right parts in the right places but little global coherence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from .. import losses
from ..data.base import to_float
from .base import GenerativeModel, check
from .blocks import check_conv_size, conv_sizes, default_channels
from .capabilities import Encoder, LatentModel, Sampler, class_labels

PRIOR_IMAGES = 10_000  # training images whose codes give the prior's per-position frequencies


@dataclass
class VQVAEConfig:
    """VQ-VAE hyper-parameters."""

    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W), set from the data
    channels: tuple[int, ...] = ()  # conv widths per stride-2 stage; () picks them from the image size
    embedding_dim: int = 16  # D: size of each codebook vector
    num_codes: int = 64  # K: codebook entries
    beta: float = 0.25  # weight of the commitment loss (the paper's 0.25)
    loss: str = "mse"  # -log p(x|z): 'mse' (squared error, the paper's) or 'bce'

    def __post_init__(self):
        check(len(self.image_shape) == 3, f"image_shape must be (C, H, W), got {self.image_shape}")
        check_conv_size(tuple(self.image_shape))
        check(all(c >= 1 for c in self.channels), f"channels must be integers >= 1, got {self.channels}")
        check(self.embedding_dim >= 1, f"embedding_dim must be an integer >= 1, got {self.embedding_dim}")
        check(self.num_codes >= 2, f"num_codes must be an integer >= 2, got {self.num_codes}")
        check(self.beta >= 0, f"beta must be a number >= 0, got {self.beta}")
        check(self.loss in ("mse", "bce"), f"loss must be 'mse' or 'bce', got '{self.loss}'")


class VQVAE(GenerativeModel):
    initialized: torch.Tensor  # buffers
    prior_logits: torch.Tensor
    family = "vqvae"
    config_class = VQVAEConfig
    capabilities = frozenset({LatentModel, Encoder, Sampler})
    metric_groups = ("reconstruction", "samples")
    explorer_view = "latent"

    def __init__(self, config: VQVAEConfig):
        super().__init__(config)
        c, h, w = shape = tuple(config.image_shape)
        chans = tuple(config.channels or default_channels(shape))
        d = config.embedding_dim
        sizes = conv_sizes(h, w, len(chans))
        self.grid = sizes[-1]  # (h, w) of the latent grid
        down: list[nn.Module] = []
        for ch in chans:  # stride-2 3x3 convs, then a 1x1 conv to D channels
            down += [nn.Conv2d(c, ch, 3, stride=2, padding=1), nn.ReLU()]
            c = ch
        self.encoder = nn.Sequential(*down, nn.Conv2d(c, d, 1))
        self.dec_in = nn.Sequential(nn.Conv2d(d, chans[-1], 3, padding=1), nn.ReLU())
        outs = [*chans[::-1][1:], shape[0]]
        self.ups = nn.ModuleList(nn.ConvTranspose2d(i, o, 4, stride=2, padding=1) for i, o in zip(chans[::-1], outs))
        self.up_sizes = [tuple(s) for s in reversed(sizes[:-1])]  # the exact size of each stage's output
        self.codebook = nn.Parameter(
            torch.empty(config.num_codes, d).uniform_(-1 / config.num_codes, 1 / config.num_codes)
        )
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        # log-frequencies of each code at each position (h * w, K): the sampling prior (uniform until fitted)
        self.register_buffer("prior_logits", torch.zeros(sizes[-1][0] * sizes[-1][1], config.num_codes))

    @property
    def latent_dim(self) -> int:
        return self.config.embedding_dim * self.grid[0] * self.grid[1]

    # ---- the networks and the quantiser
    def decoder(self, z_q: torch.Tensor) -> torch.Tensor:
        """(B, D, h, w) -> image logits (B, C, H, W)."""
        x = self.dec_in(z_q)
        for i, (up, (h, w)) in enumerate(zip(self.ups, self.up_sizes)):
            x = up(x)[:, :, :h, :w]
            if i < len(self.ups) - 1:
                x = torch.relu(x)
        return x

    def nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """Index (B, h, w) of the codebook entry nearest to each vector of z_e (B, D, h, w)."""
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])  # (B*h*w, D)
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.T + self.codebook.pow(2).sum(1)  # (N, K)
        return dist.argmin(1).view(z_e.shape[0], *z_e.shape[2:])

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Codebook vectors of indices (B, h, w) -> z_q (B, D, h, w)."""
        return self.codebook[idx].permute(0, 3, 1, 2)

    def _grid(self, z: torch.Tensor) -> torch.Tensor:
        return z.view(z.shape[0], self.config.embedding_dim, *self.grid)

    # ---- LatentModel / Encoder
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W), uint8 or float in [0, 1] -> their quantised codes z_q, flattened (B, latent_dim)."""
        return self.lookup(self.nearest(self.encoder(self.as_images(x)))).flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, latent_dim), each position snapped to its nearest codebook entry -> images in [0, 1]."""
        z_e = self._grid(self.as_codes(z))
        return torch.sigmoid(self.decoder(self.lookup(self.nearest(z_e))))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def latent_scale(self):
        """Mean and std of the codebook entries per dimension, repeated over the grid positions."""
        per_dim = self.grid[0] * self.grid[1]
        return (
            self.codebook.mean(0).repeat_interleave(per_dim),
            self.codebook.std(0).clamp_min(1e-6).repeat_interleave(per_dim),
        )

    @torch.no_grad()
    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes (n, latent_dim): at each position an index drawn from that position's code frequencies."""
        probs = torch.softmax(self.prior_logits.float().cpu(), 1)  # (h*w, K), drawn on CPU for reproducibility
        idx = torch.multinomial(probs, n, replacement=True, generator=generator).T  # (n, h*w)
        return self.lookup(idx.view(n, *self.grid).to(self.codebook.device)).flatten(1)

    @torch.no_grad()
    def sample(self, n, generator=None, labels=None):
        """n new images (n, C, H, W) in [0, 1]: codes drawn from the per-position prior, decoded."""
        class_labels(labels, n, 0)  # a label is an error: this model is unconditional
        return self.decode(self.sample_latent(n, generator))

    # ---- training
    def loss(self, x: torch.Tensor, step: int = 0) -> dict[str, torch.Tensor]:
        z_e = self.encoder(x)  # (B, D, h, w)
        if self.training and not bool(self.initialized):
            self._init_codebook(z_e)
        idx = self.nearest(z_e.detach())
        e = self.lookup(idx)
        z_q = z_e + (e - z_e).detach()  # straight-through: the forward pass sees e, the gradient flows to z_e
        logits = self.decoder(z_q)
        if self.config.loss == "bce":
            rec = losses.bernoulli_nll(logits, x).mean()
        else:
            rec = losses.squared_error(torch.sigmoid(logits), x).mean()
        codebook = losses.squared_error(e, z_e.detach()).mean()  # ||sg[z_e] - e||^2
        commit = losses.squared_error(z_e, e.detach()).mean()  # ||z_e - sg[e]||^2
        usage = torch.bincount(idx.flatten(), minlength=self.config.num_codes).float() / idx.numel()
        perplexity = torch.exp(-(usage * usage.clamp_min(1e-12).log()).sum())
        return {
            "loss": rec + codebook + self.config.beta * commit,
            "recon": rec,
            "codebook": codebook,
            "commit": commit,
            "perplexity": perplexity,
        }

    @torch.no_grad()
    def _init_codebook(self, z_e: torch.Tensor) -> None:
        """K encodings z_e (B, D, h, w) of the first batch (random positions; repeats when fewer) as the codebook."""
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, self.config.embedding_dim)
        pick = torch.randint(0, flat.shape[0], (self.config.num_codes,), device=flat.device)
        self.codebook.copy_(flat[pick])
        if dist.is_available() and dist.is_initialized():  # data-parallel: every process takes rank 0's codebook
            dist.broadcast(self.codebook.data, src=0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def on_epoch_end(self, data) -> None:
        """Refit the sampling prior: the frequency of each code at each position over the training images."""
        was = self.training
        self.eval()
        idx = torch.linspace(0, len(data) - 1, min(len(data), PRIOR_IMAGES)).long()
        counts = torch.ones_like(self.prior_logits)  # add-one smoothing: every code stays possible
        for chunk in idx.split(1000):
            codes = self.nearest(self.encoder(to_float(data.images[chunk]).to(self.device))).flatten(1)  # (b, h*w)
            counts.scatter_add_(1, codes.T, torch.ones_like(codes.T, dtype=counts.dtype))
        self.prior_logits.copy_(counts.log())
        self.train(was)
