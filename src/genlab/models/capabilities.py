"""What a model can do, as small protocols that each family declares.

A family lists the protocols it implements in ``capabilities``, the evaluation groups that apply to
it in ``metric_groups`` and the explorer panel that shows it in ``explorer_view``. Reports, pictures,
the explorer and the command line ask :func:`supports` / :func:`require`, never the family's name,
so a new family is its module plus one registry line.

- :class:`LatentModel`: images from codes z (B, latent_dim), and codes drawn from its prior.
- :class:`Encoder`: codes of images (and reconstructions).
- :class:`GaussianPosterior`: a diagonal Gaussian q(z|x) and log p(x|z) (likelihood bounds, KL per dimension).
- :class:`Sampler`: new images.
- :class:`Conditional`: images of a given class (labels 0..num_classes-1).
- :class:`Translator`: images of one domain translated into the other.
- :class:`VoiceConverter`: speech in one voice converted to the other.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

import torch

from ..errors import GenlabError

DIRECTIONS = ("AtoB", "BtoA")  # translation directions: A -> B and B -> A
# sliders over codes (+ encode), sliders over noise, translation, voice conversion (audio, spectrograms, F0)
EXPLORER_VIEWS = ("latent", "noise", "translate", "voice")


class LatentModel(Protocol):
    """Decodes codes z (B, latent_dim) to images (B, C, H, W) in [0, 1]; draws z from its prior.

    ``latent_dim`` is the size of a code (flattened: a grid of code vectors is one long code).

    ``latent_scale()`` is None when the prior is N(0, I) (codes are in prior units, straight paths
    between prior draws leave the prior's shell, so they are slerped); otherwise ``(center, scale)``,
    each (latent_dim,), the location and spread of its codes per dimension.
    """

    latent_dim: int

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor: ...

    def latent_scale(self) -> tuple[torch.Tensor, torch.Tensor] | None: ...


class Encoder(Protocol):
    """Codes (B, latent_dim) of images (B, C, H, W), and the images decoded back from them."""

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor: ...


class GaussianPosterior(Protocol):
    """q(z|x) = N(mu, diag(exp(logvar))) with prior N(0, I), and log p(x|z) for K codes per image."""

    def encode_dist(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor: ...


class Sampler(Protocol):
    """n new images (n, C, H, W) in [0, 1]."""

    def sample(self, n: int, generator: torch.Generator | None = None, labels=None) -> torch.Tensor: ...


class Conditional(Protocol):
    """Images of given classes: ``decode(z, labels)``, or of a given label embedding (to interpolate classes)."""

    def decode(self, z: torch.Tensor, labels=None, label_embedding: torch.Tensor | None = None) -> torch.Tensor: ...

    def label_embedding(self, labels: torch.Tensor) -> torch.Tensor: ...


class Translator(Protocol):
    """Images of one domain into the other; ``directions`` are those it can do ('AtoB', 'BtoA')."""

    directions: tuple[str, ...]

    def input_shape(self, direction: str) -> tuple[int, ...]: ...

    def translate(self, images: torch.Tensor, direction: str | None = None) -> torch.Tensor: ...


class VoiceConverter(Protocol):
    """A waveform in one voice -> (the same words in the other voice, its sample rate)."""

    def convert(self, waveform, sample_rate: int, direction: str = "AtoB", pitch: bool = True): ...


T = TypeVar("T")


def supports(model, capability: type) -> bool:
    """Whether ``model`` declares ``capability`` (one of the protocols above)."""
    return capability in getattr(model, "capabilities", ())


def require(model, capability: type[T], needed_for: str) -> T:
    """``model`` as a ``capability``, or a one-line error naming the families that have it."""
    if supports(model, capability):
        return model
    from . import families_with

    what, noun = CAPABILITY_WORDS[capability]
    raise GenlabError(
        f"model '{getattr(model, 'family', type(model).__name__)}' {what}; {needed_for} needs "
        f"{noun} ({', '.join(families_with(capability))})"
    )


CAPABILITY_WORDS = {  # what a model lacking it is, and what is needed
    LatentModel: ("has no latent space", "a model with a latent space"),
    Encoder: ("has no encoder", "a model with an encoder"),
    GaussianPosterior: ("has no Gaussian posterior q(z|x)", "a model with one"),
    Sampler: ("cannot sample; it translates", "a generative model"),
    Conditional: ("is unconditional", "a conditional model"),
    Translator: ("does not translate images", "an image translation model"),
    VoiceConverter: ("does not convert voices", "a voice conversion model"),
}


def check_direction(direction: str, directions: tuple[str, ...] = DIRECTIONS) -> str:
    """``direction`` if the model can translate that way, else a one-line error."""
    if direction not in DIRECTIONS:
        raise GenlabError(f"direction must be 'AtoB' or 'BtoA', got '{direction}'")
    if direction not in directions:
        raise GenlabError(
            f"this model translates {' and '.join(directions)} only, not {direction}; "
            f"train one with --set direction={direction} for the other way"
        )
    return direction


def class_labels(labels, n: int, num_classes: int, device=None) -> torch.Tensor | None:
    """Labels for n images of a model with ``num_classes`` classes (0: unconditional) -> (n,) long, or None.

    ``labels``: None (cycles 0..K-1), one int, or n ints in [0, K). A one-line error for labels given to an
    unconditional model, non-integers, a wrong count or a class out of range.
    """
    k = num_classes
    if not k:
        if labels is not None:
            raise GenlabError("a label needs a conditional model (cgan); this model is unconditional")
        return None
    if labels is None:
        return torch.arange(n, device=device) % k
    y = torch.as_tensor(labels, device=device)
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise GenlabError(f"labels must be integers in [0, {k}), got {y.dtype} values")
    y = y.long().reshape(-1)
    if y.numel() == 1:
        y = y.expand(n)
    if y.numel() != n:
        raise GenlabError(f"got {y.numel()} labels for {n} images; give one label or one per image")
    bad = y[(y < 0) | (y >= k)]
    if bad.numel():
        raise GenlabError(f"label {int(bad[0])} is outside the valid range [0, {k}) (0..{k - 1}) of this model")
    return y
