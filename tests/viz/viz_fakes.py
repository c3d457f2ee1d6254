"""Fake models with known codes and KLs, and tiny real ones, for the latent-space pictures."""

from dataclasses import dataclass

import torch
from torch import nn

from genlab.data.base import ImageData
from genlab.models import build_model
from genlab.models.capabilities import Encoder, GaussianPosterior, LatentModel


@dataclass
class FakeConfig:
    latent_dim: int = 4
    image_shape: tuple = (1, 4, 4)


class FakeVAE(nn.Module):
    """q(z|x) = N(mu(x), diag(exp(logvar))) with a fixed logvar per dimension: KL_j known in closed form.

    ``decode`` records every code it is given, so tests can check the codes a picture used.
    """

    family = "vae"
    capabilities = frozenset({LatentModel, Encoder, GaussianPosterior})

    def __init__(self, logvar=(-0.1, -3.0, 0.0, -1.0)):
        super().__init__()
        self.config = FakeConfig(latent_dim=len(logvar))
        self.logvar = nn.Parameter(torch.tensor(logvar), requires_grad=False)
        self.seen: list[torch.Tensor] = []
        self.latent_dim = self.config.latent_dim

    def encode_dist(self, x):
        mu = x.flatten(1)[:, : self.config.latent_dim] * 0  # (B, D) zeros: KL depends on logvar only
        mu = mu + x.flatten(1)[:, :1] * 1e-3  # tiny dependence on x, so codes differ per image
        return mu, self.logvar.expand_as(mu)

    def encode(self, x):
        return self.encode_dist(x)[0]

    def decode(self, z):
        self.seen.append(z.detach().clone())
        pixels = z.sum(1, keepdim=True) + torch.arange(16.0).view(1, 16) / 16 * z[:, :1]  # (B, 16)
        return torch.sigmoid(pixels).view(-1, 1, 4, 4)

    def sample_latent(self, n, generator=None):
        return torch.randn(n, self.config.latent_dim, generator=generator)

    def latent_scale(self):
        return None  # N(0, I)


class FakeAE(nn.Module):
    """Codes are the first D pixels times known scales: the code variance order is the scale order."""

    family = "ae"
    capabilities = frozenset({LatentModel, Encoder})

    def __init__(self, scales=(1.0, 5.0, 0.1)):
        super().__init__()
        self.config = FakeConfig(latent_dim=len(scales))
        self.scales = nn.Parameter(torch.tensor(scales), requires_grad=False)
        self.seen: list[torch.Tensor] = []
        self.latent_dim = self.config.latent_dim

    def encode(self, x):
        return x.flatten(1)[:, : self.config.latent_dim] * self.scales

    def decode(self, z):
        self.seen.append(z.detach().clone())
        return torch.sigmoid(z.mean(1)).view(-1, 1, 1, 1).expand(-1, 1, 4, 4)

    def sample_latent(self, n, generator=None):
        return torch.randn(n, self.config.latent_dim, generator=generator)

    def latent_scale(self):  # not N(0, I): traversal values are std of the test codes
        return torch.zeros(self.config.latent_dim), self.scales.detach()


def fake_data(n=40, seed=0, shape=(1, 4, 4)):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    return ImageData("fake", images, torch.arange(n) % 3, ["a", "b", "c"])


def tiny(family, latent_dim=2, **kw):
    torch.manual_seed(0)
    if family in ("gan", "cgan"):
        kw = {"hidden": (16,), "label_dim": 4, **kw}
    else:
        kw = {"hidden": (16,), **kw}
    return build_model(family, image_shape=(1, 8, 8), arch="mlp", latent_dim=latent_dim, **kw).eval()
