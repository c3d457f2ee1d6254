"""The two vocoders a voice model can use: features a generator converts, and the way back to sound.

- ``world`` (the default where ``pyworld`` is installed): the coded WORLD spectral envelope,
  ``n_features`` coefficients per 5 ms frame (:mod:`genlab.audio.world`); F0 from Harvest; the
  aperiodicity is kept from the source and WORLD synthesises the waveform with the converted F0.
- ``griffin-lim`` (the fallback without ``pyworld``): an ``n_features``-band log-mel per 8 ms frame
  (:mod:`genlab.audio.features`); F0 by YIN; Griffin-Lim makes the waveform, which is then
  pitch-shifted by one ratio per utterance to the converted median F0 (it cannot follow the F0 curve).

Both give ``features`` as float32 ``(D, T)`` and ``f0`` as ``(T,)`` Hz (0 = unvoiced) on the same frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..errors import GenlabError, one_of
from . import world
from .features import FeatureConfig, log_mel, mel_to_wave
from .pitch import estimate_f0, pitch_shift

VOCODERS = ("world", "griffin-lim")


@dataclass
class Analysis:
    features: np.ndarray  # (D, T) float32
    f0: np.ndarray  # (T,) Hz, 0 where unvoiced
    extra: Any = None  # what synthesis needs besides (the WORLD aperiodicity)


@dataclass(frozen=True)
class VocoderSettings:
    """Everything that fixes the features; recorded with the data and in the model's config."""

    name: str = "world"
    sample_rate: int = 16000
    n_features: int = 36  # WORLD: coded envelope coefficients; Griffin-Lim: mel bands
    frame_period: float = 5.0  # ms (WORLD)
    n_fft: int = 512  # Griffin-Lim's STFT (32 ms at 16 kHz), hop 8 ms
    hop: int = 128
    fmin: float = 50.0
    fmax: float = 8000.0
    griffin_lim_iters: int = 60

    @property
    def segment(self) -> int:
        """Frames per training crop: 128 x 5 ms (CycleGAN-VC's 128 frames), or 64 x 8 ms."""
        return 128 if self.name == "world" else 64


def default_vocoder() -> str:
    return "world" if world.world_available() else "griffin-lim"


def default_settings(name: str | None = None) -> VocoderSettings:
    name = name or default_vocoder()
    if name not in VOCODERS:
        raise one_of("vocoder", name, VOCODERS)
    return VocoderSettings(name=name, n_features=36 if name == "world" else 80)


def settings_dict(s: VocoderSettings) -> dict:
    return asdict(s)


def _mel_config(s: VocoderSettings) -> FeatureConfig:
    return FeatureConfig(s.sample_rate, s.n_fft, s.hop, s.n_features, s.fmin, s.fmax)


def analyse(x: np.ndarray, s: VocoderSettings) -> Analysis:
    """Waveform (N,) at ``s.sample_rate`` -> features (D, T), F0 (T,) and what synthesis needs."""
    x = np.asarray(x, dtype=np.float32)
    if s.name == "world":
        fr = world.analyse(x, s.sample_rate, s.frame_period, s.n_features)
        return Analysis(fr.coded.T.astype(np.float32), fr.f0, fr.ap)
    cfg = _mel_config(s)
    lm = log_mel(x, cfg).numpy()
    f0 = estimate_f0(x, s.sample_rate, s.hop)[: lm.shape[1]]
    return Analysis(lm, np.pad(f0, (0, lm.shape[1] - len(f0))), None)


def synthesise(features: np.ndarray, f0: np.ndarray, extra, s: VocoderSettings) -> np.ndarray:
    """Features (D, T) + the F0 wanted (T,) (+ the source's aperiodicity for WORLD) -> float32 waveform."""
    if s.name == "world":
        if extra is None:
            raise GenlabError("WORLD synthesis needs the source's aperiodicity; analyse the source first")
        return world.synthesise(f0, np.asarray(features, dtype=np.float64).T, extra, s.sample_rate, s.frame_period)
    y = mel_to_wave(torch.as_tensor(np.asarray(features, dtype=np.float32)), _mel_config(s), s.griffin_lim_iters)
    heard = estimate_f0(y, s.sample_rate, s.hop)
    if (f0 > 0).sum() >= 3 and (heard > 0).sum() >= 3:  # one ratio: Griffin-Lim cannot follow the F0 curve
        ratio = float(np.clip(np.median(f0[f0 > 0]) / np.median(heard[heard > 0]), 0.5, 2.0))
        y = pitch_shift(y, ratio)
    return y.astype(np.float32)
