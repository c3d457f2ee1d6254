"""Model families, by name: one registry dict. What each can do: :mod:`genlab.models.capabilities`."""

from __future__ import annotations

from ..errors import one_of
from .autoencoder import AEConfig, Autoencoder
from .base import GenerativeModel
from .capabilities import supports
from .cyclegan import CycleGAN, CycleGANConfig
from .cyclegan_voice import CycleGANVoice, CycleGANVoiceConfig
from .gan import GAN, ConditionalGAN, GANConfig
from .pix2pix import Pix2Pix, Pix2PixConfig
from .vae import VAE, VAEConfig
from .vqvae import VQVAE

MODELS: dict[str, type[GenerativeModel]] = {
    "ae": Autoencoder,
    "vae": VAE,
    "gan": GAN,
    "cgan": ConditionalGAN,
    "pix2pix": Pix2Pix,
    "cyclegan": CycleGAN,
    "cyclegan-voice": CycleGANVoice,
    "vqvae": VQVAE,
}


def model_class(name: str) -> type[GenerativeModel]:
    if name not in MODELS:
        raise one_of("model", name, MODELS)
    return MODELS[name]


def families_with(capability: type) -> list[str]:
    """The registered families that declare ``capability``."""
    return [name for name, cls in MODELS.items() if supports(cls, capability)]


def build_model(name: str, **config) -> GenerativeModel:
    """``build_model('vae', image_shape=(1, 28, 28), beta=4)``: the family's config, then the model."""
    cls = model_class(name)
    return cls(cls.config_class(**config))


__all__ = [
    "MODELS",
    "model_class",
    "families_with",
    "build_model",
    "GenerativeModel",
    "AEConfig",
    "Autoencoder",
    "VAEConfig",
    "VAE",
    "GANConfig",
    "GAN",
    "ConditionalGAN",
    "Pix2PixConfig",
    "Pix2Pix",
    "CycleGANConfig",
    "CycleGAN",
    "CycleGANVoiceConfig",
    "CycleGANVoice",
]
