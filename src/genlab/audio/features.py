"""Log-mel spectrograms, their inversion to a waveform (Griffin-Lim), silence trimming.

- STFT: Hann window of ``n_fft`` samples, hop ``hop``, centred frames (``torch.stft``).
- Mel filterbank: triangles on the HTK mel scale m = 2595 log10(1 + f / 700), peak 1, ``n_mels`` bands
  from ``fmin`` to ``fmax`` (Slaney's area normalisation is not used: the inversion is a least-squares fit).
- Log-mel: ln(max(M |X|, floor)) with M the filterbank and |X| the STFT magnitude, (n_mels, T).
- Inversion: |X| >= 0 fitted to M |X| = exp(logmel) by non-negative least squares, then fast Griffin-Lim
  (Griffin and Lim 1984; momentum 0.99 as Perraudin et al. 2013) for the phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .wav import SAMPLE_RATE

LOG_FLOOR = 1e-5


@dataclass(frozen=True)
class FeatureConfig:
    """The spectrogram settings shared by a dataset and the model trained on it."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 512  # 32 ms window at 16 kHz
    hop: int = 128  # 8 ms: 75 % overlap, which Griffin-Lim needs
    n_mels: int = 80
    fmin: float = 50.0
    fmax: float = 8000.0


DEFAULT = FeatureConfig()


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def _filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(min(fmax, sr / 2)), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    fb = np.clip(np.minimum(up, down), 0.0, None)
    # a band narrower than one FFT bin would be empty: give it its nearest bin
    for i in np.where(fb.sum(1) == 0)[0]:
        fb[i, int(np.argmin(np.abs(freqs - mid[i, 0])))] = 1.0
    return fb.astype(np.float32)


def mel_filterbank(cfg: FeatureConfig = DEFAULT) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters with peak 1 (see the module docstring)."""
    return torch.from_numpy(_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax))


def stft(x: torch.Tensor, cfg: FeatureConfig) -> torch.Tensor:
    """(N,) waveform -> complex (n_fft // 2 + 1, T) with T = N // hop + 1."""
    window = torch.hann_window(cfg.n_fft, dtype=x.dtype)
    return torch.stft(x, cfg.n_fft, cfg.hop, window=window, center=True, return_complex=True)


def istft(spec: torch.Tensor, cfg: FeatureConfig, length: int | None = None) -> torch.Tensor:
    window = torch.hann_window(cfg.n_fft, dtype=spec.real.dtype)
    return torch.istft(spec, cfg.n_fft, cfg.hop, window=window, center=True, length=length)


def log_mel(x, cfg: FeatureConfig = DEFAULT) -> torch.Tensor:
    """Waveform (N,) (numpy or torch) -> log-mel float32 (n_mels, T), natural log of mel magnitudes."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not torch.is_tensor(x) else x.float()
    mag = stft(x, cfg).abs()
    return (mel_filterbank(cfg) @ mag).clamp_min(LOG_FLOOR).log()


def mel_to_magnitude(logmel: torch.Tensor, cfg: FeatureConfig = DEFAULT, n_iter: int = 100) -> torch.Tensor:
    """Log-mel (n_mels, T) -> STFT magnitude S >= 0 (n_fft // 2 + 1, T) minimising ||M S - exp(logmel)||^2.

    Non-negative least squares by multiplicative updates (Lee and Seung 2001), S <- S * M^T Y / M^T M S,
    from S = M^T Y scaled. (The plain pseudo-inverse is ill-conditioned where low mel bands are
    narrower than an FFT bin, and blows up on spectrograms a generator made.)
    """
    fb = mel_filterbank(cfg)
    y = logmel.float().exp()
    num = fb.T @ y  # (F, T)
    gram = fb.T @ fb
    s = num / (fb.sum(0)[:, None].clamp_min(1e-8) * fb.sum(1).mean())
    for _ in range(n_iter):
        s = s * num / (gram @ s).clamp_min(1e-12)
    return s


def griffin_lim(
    mag: torch.Tensor, cfg: FeatureConfig = DEFAULT, n_iter: int = 60, momentum: float = 0.99, seed: int = 0
) -> np.ndarray:
    """A waveform whose STFT magnitude is close to ``mag`` (F, T): fast Griffin-Lim from a seeded random phase."""
    length = (mag.shape[1] - 1) * cfg.hop
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(mag.shape, generator=g) * 2 * np.pi
    spec = mag * torch.exp(1j * phase)
    prev = torch.zeros_like(spec)
    for _ in range(n_iter):
        rebuilt = stft(istft(spec, cfg, length), cfg)
        accel = rebuilt - (momentum / (1 + momentum)) * prev if momentum else rebuilt
        prev = rebuilt
        spec = mag * torch.exp(1j * torch.angle(accel))
    return istft(spec, cfg, length).numpy().astype(np.float32)


def mel_to_wave(logmel: torch.Tensor, cfg: FeatureConfig = DEFAULT, n_iter: int = 60) -> np.ndarray:
    """The vocoder: log-mel (n_mels, T) -> waveform, peak-normalised to 0.9 when louder."""
    y = griffin_lim(mel_to_magnitude(logmel, cfg), cfg, n_iter)
    peak = float(np.abs(y).max()) if y.size else 0.0
    return y * (0.9 / peak) if peak > 0.9 else y


def trim_silence(x: np.ndarray, sample_rate: int = SAMPLE_RATE, top_db: float = 40.0, frame: int = 400) -> np.ndarray:
    """Drop leading and trailing frames more than ``top_db`` below the loudest frame (RMS)."""
    n = len(x) // frame
    if n < 2:
        return x
    rms = np.sqrt((x[: n * frame].reshape(n, frame) ** 2).mean(1) + 1e-12)
    db = 20 * np.log10(rms / rms.max())
    loud = np.where(db > -top_db)[0]
    return x[loud[0] * frame : (loud[-1] + 1) * frame]
