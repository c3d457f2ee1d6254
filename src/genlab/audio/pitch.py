"""Pitch: F0 tracking (YIN), the log-F0 Gaussian mapping between two voices, and pitch shifting.

- :func:`estimate_f0`: YIN (de Cheveigne and Kawahara 2002): per frame the difference function
  d(tau) = sum_j (x_j - x_{j+tau})^2 (computed with FFT autocorrelations), its cumulative-mean
  normalisation d'(tau) = d(tau) tau / sum_{k<=tau} d(k), the first dip below ``threshold`` (then its
  local minimum, refined by a parabola); frames with no dip or little energy are unvoiced (F0 = 0).
- :func:`convert_f0`: the mapping CycleGAN-VC uses (Kaneko and Kameoka 2018, after Liu et al. 2007):
  log f0_B = (log f0_A - mu_A) / sigma_A * sigma_B + mu_B, per voiced frame.
- :func:`pitch_shift`: all frequencies times ``ratio`` at the same duration: phase-vocoder time
  stretch by ``ratio`` (Flanagan and Golden 1966; Laroche and Dolson 1999 phase propagation) followed
  by band-limited resampling by 1 / ratio.
"""

from __future__ import annotations

import numpy as np
import torch

from .wav import resample_by

F0_MIN, F0_MAX = 60.0, 500.0


def _frames(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    n = 1 + max(0, len(x) - length) // hop
    idx = np.arange(length)[None, :] + hop * np.arange(n)[:, None]
    return x[idx]


def estimate_f0(
    x: np.ndarray,
    sample_rate: int,
    hop: int = 128,
    fmin: float = F0_MIN,
    fmax: float = F0_MAX,
    threshold: float = 0.15,
    silence_db: float = -40.0,
) -> np.ndarray:
    """F0 in Hz per frame (0 where unvoiced); frame t is centred at sample t * hop, as the centred STFT."""
    x = np.asarray(x, dtype=np.float64)
    tau_max = int(np.ceil(sample_rate / fmin))
    tau_min = max(2, int(np.floor(sample_rate / fmax)))
    w = tau_max  # integration window: one longest period
    length = w + tau_max
    n_frames = len(x) // hop + 1
    xp = np.pad(x, (length // 2, length))
    fr = _frames(xp, length, hop)[:n_frames]  # (T, length), frame t starts at t * hop - length // 2
    # d(tau) = r(0 .. w) energy terms - 2 r(tau), with r the windowed cross term
    nfft = 1 << int(np.ceil(np.log2(2 * length)))
    spec_full = np.fft.rfft(fr, nfft)
    spec_win = np.fft.rfft(fr[:, :w], nfft)
    cross = np.fft.irfft(spec_full * np.conj(spec_win), nfft)[:, : tau_max + 1]  # sum_j x_j x_{j+tau}, j < w
    sq = np.cumsum(np.pad(fr**2, ((0, 0), (1, 0))), axis=1)
    e0 = sq[:, w : w + 1]  # sum_{j<w} x_j^2
    taus = np.arange(tau_max + 1)
    e_tau = sq[:, taus + w] - sq[:, taus]  # sum_{j<w} x_{j+tau}^2
    d = np.maximum(e0 + e_tau - 2 * cross, 0.0)
    cum = np.cumsum(d[:, 1:], axis=1)
    dn = np.ones_like(d)
    dn[:, 1:] = d[:, 1:] * taus[1:] / np.maximum(cum, 1e-12)
    energy = e0[:, 0] / w
    loud = 10 * np.log10(energy + 1e-12) > 10 * np.log10(energy.max() + 1e-12) + silence_db
    f0 = np.zeros(n_frames)
    for t in np.where(loud)[0]:
        row = dn[t]
        below = np.where(row[tau_min:tau_max] < threshold)[0]
        if below.size == 0:
            continue
        tau = tau_min + below[0]
        while tau + 1 < tau_max and row[tau + 1] < row[tau]:
            tau += 1
        a, b, c = row[tau - 1], row[tau], row[min(tau + 1, tau_max)]
        den = a - 2 * b + c
        shift = 0.5 * (a - c) / den if den > 1e-12 else 0.0
        f0[t] = sample_rate / (tau + float(np.clip(shift, -1, 1)))
    return f0.astype(np.float32)


def logf0_stats(f0s) -> tuple[float, float]:
    """(mean, std) of ln F0 over the voiced frames of one or several F0 tracks."""
    v = (
        np.concatenate([np.asarray(f, dtype=np.float64).reshape(-1) for f in f0s])
        if isinstance(f0s, (list, tuple))
        else np.asarray(f0s, dtype=np.float64).reshape(-1)
    )
    v = v[v > 0]
    if v.size < 2:
        raise ValueError("need at least two voiced frames for log-F0 statistics")
    lv = np.log(v)
    return float(lv.mean()), float(max(lv.std(), 1e-3))


def convert_f0(f0: np.ndarray, source: tuple[float, float], target: tuple[float, float]) -> np.ndarray:
    """Map voiced F0 values by the log-Gaussian normalisation (see the module docstring); 0 stays 0."""
    f0 = np.asarray(f0, dtype=np.float64)
    out = np.zeros_like(f0)
    v = f0 > 0
    out[v] = np.exp((np.log(f0[v]) - source[0]) / source[1] * target[1] + target[0])
    return out.astype(np.float32)


def time_stretch(x: np.ndarray, rate: float, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """Phase vocoder: ``round(len(x) * rate)`` samples with the same frequencies."""
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    window = torch.hann_window(n_fft)
    spec = torch.stft(xt, n_fft, hop, window=window, center=True, return_complex=True)  # (F, T)
    n_frames = spec.shape[1]
    steps = torch.arange(0, n_frames - 1, 1.0 / rate)  # analysis positions of the output frames
    omega = torch.linspace(0, np.pi * hop, spec.shape[0])  # expected phase advance per hop
    padded = torch.cat([spec, torch.zeros_like(spec[:, :1])], 1)
    phase = torch.angle(spec[:, 0])
    out = torch.empty((spec.shape[0], len(steps)), dtype=spec.dtype)
    for i, s in enumerate(steps.tolist()):
        k = int(s)
        frac = s - k
        a, b = padded[:, k], padded[:, k + 1]
        mag = (1 - frac) * a.abs() + frac * b.abs()
        out[:, i] = torch.polar(mag, phase)
        dphi = torch.angle(b) - torch.angle(a) - omega
        dphi = dphi - 2 * np.pi * torch.round(dphi / (2 * np.pi))
        phase = phase + omega + dphi
    length = round(len(x) * rate)
    y = torch.istft(out, n_fft, hop, window=window, center=True, length=length)
    return y.numpy().astype(np.float32)


def pitch_shift(x: np.ndarray, ratio: float) -> np.ndarray:
    """Every frequency times ``ratio``, same length: stretch time by ``ratio``, then resample by ``1 / ratio``."""
    if abs(ratio - 1.0) < 1e-3:
        return np.asarray(x, dtype=np.float32)
    y = resample_by(time_stretch(x, ratio), 1.0 / ratio)
    n = len(x)
    return np.pad(y, (0, max(0, n - len(y))))[:n].astype(np.float32)
