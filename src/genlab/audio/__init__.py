"""Audio for the voice models: WAV in and out, log-mel features and Griffin-Lim, pitch, voice metrics.

Everything is genlab's own numpy/torch code (``wave`` for the file format, ``torch.stft`` /
``torch.istft`` for the transforms); no audio library is needed.
"""

from .features import (
    FeatureConfig,
    griffin_lim,
    log_mel,
    mel_filterbank,
    mel_to_magnitude,
)
from .pitch import convert_f0, estimate_f0, logf0_stats, pitch_shift
from .wav import SAMPLE_RATE, load_audio, read_wav, resample, write_wav

__all__ = [
    "SAMPLE_RATE",
    "FeatureConfig",
    "convert_f0",
    "estimate_f0",
    "griffin_lim",
    "load_audio",
    "log_mel",
    "logf0_stats",
    "mel_filterbank",
    "mel_to_magnitude",
    "pitch_shift",
    "read_wav",
    "resample",
    "write_wav",
]
