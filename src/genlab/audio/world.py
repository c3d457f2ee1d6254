"""The WORLD vocoder (Morise et al. 2016) through ``pyworld``: analysis into features, and synthesis.

Per frame of ``frame_period`` ms (5 by default, as CycleGAN-VC):

- F0 by Harvest (Morise 2017), 0 in unvoiced frames;
- the spectral envelope by CheapTrick (Morise 2015), a power spectrum of ``fft_size // 2 + 1`` bins,
  coded to ``n_coded`` mel-cepstrum-like coefficients by WORLD's ``code_spectral_envelope`` (the
  features the CycleGAN-VC generator converts; 36 as in Kaneko et al. 2019, 24 in the 2018 paper);
- the aperiodicity by D4C (Morise 2016), ``fft_size // 2 + 1`` bins in [0, 1].

Synthesis decodes the envelope and runs WORLD's synthesiser with the (converted) F0 and the
source's aperiodicity. ``pyworld`` comes from the PyPI wheel ``pyworld-prebuilt``; without it genlab
falls back to Griffin-Lim (:mod:`genlab.audio.features`), and the run's config says which was used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GenlabError

F0_FLOOR, F0_CEIL = 60.0, 500.0  # Hz: the range Harvest searches
INSTALL = "pip install pyworld-prebuilt"


def world_available() -> bool:
    try:
        import pyworld  # noqa: F401
    except ImportError:
        return False
    return True


def _pyworld():
    try:
        import pyworld
    except ImportError:
        raise GenlabError(f"the WORLD vocoder needs pyworld, which is not installed: {INSTALL}") from None
    return pyworld


@dataclass
class WorldFrames:
    """One utterance analysed: F0 (T,) Hz, envelope (T, F) power, aperiodicity (T, F), coded (T, D)."""

    f0: np.ndarray
    sp: np.ndarray
    ap: np.ndarray
    coded: np.ndarray


def fft_size(sample_rate: int) -> int:
    return int(_pyworld().get_cheaptrick_fft_size(sample_rate, F0_FLOOR))


def analyse(x: np.ndarray, sample_rate: int, frame_period: float = 5.0, n_coded: int = 36) -> WorldFrames:
    """Waveform (N,) float in [-1, 1] -> :class:`WorldFrames` (Harvest, CheapTrick, D4C, coded envelope)."""
    pw = _pyworld()
    x = np.ascontiguousarray(x, dtype=np.float64)
    f0, t = pw.harvest(x, sample_rate, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=frame_period)
    sp = pw.cheaptrick(x, f0, t, sample_rate, f0_floor=F0_FLOOR)
    ap = pw.d4c(x, f0, t, sample_rate)
    coded = pw.code_spectral_envelope(sp, sample_rate, n_coded)
    return WorldFrames(f0, sp, ap, coded)


def envelope(x: np.ndarray, sample_rate: int, frame_period: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """(F0 (T,), spectral envelope (T, F)) without the aperiodicity: what the metrics need."""
    pw = _pyworld()
    x = np.ascontiguousarray(x, dtype=np.float64)
    f0, t = pw.harvest(x, sample_rate, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=frame_period)
    return f0, pw.cheaptrick(x, f0, t, sample_rate, f0_floor=F0_FLOOR)


def synthesise(
    f0: np.ndarray, coded: np.ndarray, ap: np.ndarray, sample_rate: int, frame_period: float = 5.0
) -> np.ndarray:
    """WORLD synthesis from F0 (T,), coded envelope (T, D) and aperiodicity (T, F) -> float32 waveform.

    Peak-normalised to 0.9 when louder (a converted envelope can overshoot).
    """
    pw = _pyworld()
    n = min(len(f0), len(coded), len(ap))
    sp = pw.decode_spectral_envelope(
        np.ascontiguousarray(coded[:n], dtype=np.float64), sample_rate, fft_size(sample_rate)
    )
    y = pw.synthesize(
        np.ascontiguousarray(f0[:n], dtype=np.float64),
        sp,
        np.ascontiguousarray(ap[:n], dtype=np.float64),
        sample_rate,
        frame_period,
    )
    peak = float(np.abs(y).max()) if y.size else 0.0
    return (y * (0.9 / peak) if peak > 0.9 else y).astype(np.float32)


def shift_pitch(x: np.ndarray, sample_rate: int, f0_map, frame_period: float = 5.0) -> np.ndarray:
    """The same speech with F0 replaced by ``f0_map(f0)``, envelope and aperiodicity kept (WORLD)."""
    fr = analyse(x, sample_rate, frame_period)
    return synthesise(f0_map(fr.f0), fr.coded, fr.ap, sample_rate, frame_period)
