"""WAV files in and out (Python's ``wave`` + numpy), checks with one-line errors, band-limited resampling.

Waveforms are float32 numpy arrays in [-1, 1], mono. Reading takes PCM WAV of 8, 16, 24 or 32 bits,
mono or stereo (stereo is averaged to mono); writing gives 16-bit PCM mono.

Resampling (:func:`resample`) is a windowed-sinc interpolator: output sample n sits at input time
t = n * sr_in / sr_out and is sum_k x[k] * c * sinc(c (t - k)) * w(t - k), with cutoff
c = min(1, sr_out / sr_in) (the anti-aliasing low-pass when going down) and w a Kaiser window
(beta 8.6) over ``HALF_WIDTH / c`` input samples each side (tabulated finely, read by linear
interpolation). Any ratio works, not only rational ones (the pitch shifter resamples by arbitrary factors).
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..errors import GenlabError

SAMPLE_RATE = 16_000  # the voice models' rate; other rates are resampled to it
MIN_SECONDS = 0.25  # shorter clips hold too few frames for the features and the pitch tracker
MAX_SECONDS = 600.0  # 10 minutes: longer is refused (memory of STFT and Griffin-Lim)
MAX_BYTES = 200 * 2**20
HALF_WIDTH = 32  # zero crossings of the sinc kernel on each side
KAISER_BETA = 8.6
TABLE_STEPS = 512  # kernel table resolution (interpolation error ~1e-6)


def read_wav(path) -> tuple[np.ndarray, int]:
    """(waveform float32 (N,) in [-1, 1], sample_rate) from a PCM WAV file; stereo is averaged to mono."""
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"audio file '{path}' does not exist")
    if path.stat().st_size > MAX_BYTES:
        raise GenlabError(
            f"audio file '{path}' is {path.stat().st_size / 2**20:.0f} MB; genlab reads WAV files up "
            f"to {MAX_BYTES // 2**20} MB ({MAX_SECONDS / 60:.0f} minutes): cut it into shorter clips"
        )
    if path.stat().st_size == 0:
        raise GenlabError(f"audio file '{path}' is empty (0 bytes)")
    try:
        with wave.open(str(path), "rb") as f:
            channels, width, rate, frames = f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()
            raw = f.readframes(frames)
    except (wave.Error, EOFError) as e:
        raise GenlabError(
            f"'{path}' is not a PCM WAV file ({e}); convert it, e.g. ffmpeg -i IN -ac 1 -ar 16000 OUT.wav"
        ) from None
    if channels not in (1, 2):
        raise GenlabError(
            f"'{path}' has {channels} channels; genlab reads mono or stereo WAV: mix it down first "
            "(ffmpeg -i IN -ac 1 OUT.wav)"
        )
    if width not in (1, 2, 3, 4):
        raise GenlabError(f"'{path}' has {8 * width}-bit samples; genlab reads 8, 16, 24 or 32-bit PCM")
    x = _decode(raw, width)
    n = len(x) // channels
    x = x[: n * channels].reshape(n, channels).mean(1).astype(np.float32)
    check_waveform(x, rate, str(path))
    return x, rate


def _decode(raw: bytes, width: int) -> np.ndarray:
    if width == 1:  # unsigned 8-bit
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    if width == 3:  # little-endian 24-bit: widen to 32 bits
        b = np.frombuffer(raw, np.uint8)
        b = b[: len(b) // 3 * 3].reshape(-1, 3)
        v = b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16)
        v = np.where(v >= 2**23, v - 2**24, v)
        return v.astype(np.float32) / 2**23
    return np.frombuffer(raw, "<i4").astype(np.float32) / 2**31


def check_waveform(x: np.ndarray, sample_rate: int, what: str = "the waveform") -> None:
    """One-line errors for audio the voice models cannot use: empty, too short, too long, not finite, not mono."""
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate < 1000:
        raise GenlabError(f"{what}: sample rate must be an integer >= 1000 Hz, got {sample_rate!r}")
    if x.ndim != 1:
        raise GenlabError(f"{what}: expected a mono waveform (N,), got shape {tuple(x.shape)}; average the channels")
    if x.size == 0:
        raise GenlabError(f"{what} holds no samples (empty audio)")
    seconds = x.size / sample_rate
    if seconds < MIN_SECONDS:
        raise GenlabError(
            f"{what} is {seconds * 1000:.0f} ms long; the voice models need at least "
            f"{MIN_SECONDS * 1000:.0f} ms of audio"
        )
    if seconds > MAX_SECONDS:
        raise GenlabError(
            f"{what} is {seconds:.0f} s long; the voice models take at most {MAX_SECONDS:.0f} s: "
            "cut it into shorter clips"
        )
    if not np.isfinite(x).all():
        raise GenlabError(f"{what} holds NaN or infinite samples")


def load_audio(path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A WAV file as float32 mono at ``sample_rate`` (resampled when the file's rate differs)."""
    x, rate = read_wav(path)
    return resample(x, rate, sample_rate)


def wav_bytes(x, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Float mono audio (clipped to [-1, 1]) as the bytes of a 16-bit PCM WAV file."""
    pcm = np.round(np.clip(np.asarray(x, dtype=np.float64).reshape(-1), -1.0, 1.0) * 32767.0).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sample_rate))
        f.writeframes(pcm.tobytes())
    return buf.getvalue()


def write_wav(path, x, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write float mono audio (clipped to [-1, 1]) as 16-bit PCM WAV, atomically."""
    data = wav_bytes(x, sample_rate)
    return atomic_write(path, lambda f: f.write(data))


def resample_by(x: np.ndarray, ratio: float, chunk: int = 8192) -> np.ndarray:
    """Band-limited resampling to ``round(len(x) * ratio)`` samples (ratio = new rate / old rate)."""
    x = np.asarray(x, dtype=np.float64)
    if ratio == 1.0:
        return x.astype(np.float32)
    n_out = max(1, round(len(x) * ratio))
    cutoff = min(1.0, ratio)
    half = int(np.ceil(HALF_WIDTH / cutoff))
    offsets = np.arange(-half + 1, half + 1)  # taps relative to floor(t)
    # the kernel tabulated at TABLE_STEPS points per input sample, read with linear interpolation
    grid = np.arange(-(half + 1) * TABLE_STEPS, (half + 1) * TABLE_STEPS + 2) / TABLE_STEPS
    window = np.i0(KAISER_BETA * np.sqrt(np.clip(1 - (grid / (half + 1)) ** 2, 0, 1))) / np.i0(KAISER_BETA)
    table = cutoff * np.sinc(cutoff * grid) * window
    xp = np.pad(x, (half, half + 1))
    out = np.empty(n_out)
    for a in range(0, n_out, chunk):
        t = np.arange(a, min(n_out, a + chunk)) / ratio  # positions in input samples
        base = np.floor(t).astype(np.int64)
        k = base[:, None] + offsets[None, :]  # (n, taps) input indices
        pos = (t[:, None] - k + half + 1) * TABLE_STEPS  # distance from each tap, as a table position
        i = pos.astype(np.int64)
        frac = pos - i
        kernel = table[i] * (1 - frac) + table[i + 1] * frac
        out[a : a + len(t)] = (xp[k + half] * kernel).sum(1)
    return out.astype(np.float32)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample mono float audio from ``sr_in`` to ``sr_out`` Hz (windowed sinc; see the module docstring)."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    return resample_by(x, sr_out / sr_in)
