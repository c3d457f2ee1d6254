"""CycleGAN-VC: unpaired voice conversion on log-mel spectrograms (Kaneko and Kameoka 2018,
"Parallel-Data-Free Voice Conversion Using Cycle-Consistent Adversarial Networks").

The objective is CycleGAN's (see :mod:`genlab.models.cyclegan`): least-squares adversarial terms
for G_AB / D_B and G_BA / D_A, lambda_cycle = 10 times the two L1 cycle terms, and
lambda_cycle * lambda_identity (= 5, the paper's identity weight) times the two identity terms;
discriminators see generated spectrograms through 50-segment history pools; Adam 2e-4 / (0.5, 0.999)
with linear decay. Data: ``genlab.data.voices`` (A in ``.x``, B drawn independently from ``.pair``).

Networks. A spectrogram segment is an image (B, 1, n_mels, T) of speaker-normalised log-mel values
z / CLIP in [-1, 1] (``.x`` in [0, 1] scaled to [-1, 1]).

- Generator (the paper's 1-D gated CNN, widths scaled by ``channels``): the mel bands are the channels
  of 1-D convolutions over time. Conv(15) GLU -> 2 x [Conv(5, stride 2) IN GLU] (downsample) ->
  ``n_blocks`` residual blocks [Conv(3) IN GLU, Conv(3) IN, + skip] -> 2 x [Conv(5) pixel-shuffle x2 IN GLU]
  (upsample) -> Conv(15) to n_mels. A gated linear unit is GLU(a, b) = a * sigmoid(b) (Dauphin et al. 2017).
  Linear output (no tanh), any length T (padded to a multiple of 4 inside).
- Discriminator: the 2-D PatchGAN of the image models on the (n_mels, T) picture, instance norm.

Back to sound (:meth:`CycleGANVoice.convert`): log-mel of the input (16 kHz) -> normalise with the
source speaker's statistics -> generator -> denormalise with the target's -> Griffin-Lim
(:func:`genlab.audio.features.mel_to_wave`) -> explicit pitch: the source F0 track is mapped by the
log-Gaussian transform (CycleGAN-VC's) and the waveform is pitch-shifted (phase vocoder + resampling)
by the ratio of the mapped median F0 to the median F0 actually heard in the Griffin-Lim output. When
the generator has already produced the target's pitch, the ratio is ~1 and nothing is shifted; when it
kept the source's, the shift brings it to the target. The shift is one ratio per utterance and moves
the whole spectrum (formants too), which the generator's envelope already accounts for only in part.
The per-speaker mel and log-F0 statistics live in the ``stats`` network's buffers, saved in
``stats.safetensors`` with the weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import GenlabError
from .base import GenerativeModel, check, check_rates, g_and_d_optimizers
from .capabilities import DIRECTIONS, Translator, VoiceConverter, check_direction
from .cyclegan import CycleGAN, cycle_update
from .translation_blocks import (
    ImagePool,
    PatchGAN,
    check_shape,
    linear_decay_schedulers,
    preview_rows,
)


@dataclass
class CycleGANVoiceConfig:
    """CycleGAN-VC hyper-parameters (the paper's where noted) and the spectrogram settings."""

    image_shape: tuple[int, int, int] = (1, 80, 64)  # (1, n_mels, frames per training segment), set from the data
    channels: int = 32  # generator width after the first GLU (paper: 128); 2x and 4x after the downsamplings
    n_blocks: int = 6  # residual GLU blocks (paper: 6)
    ndf: int = 16  # PatchGAN width (paper: 128 in a gated 2-D CNN; kept small for CPU training)
    patch_layers: int = 2  # stride-2 layers of the PatchGAN (receptive field 34 x 34 bins x frames)
    lambda_cycle: float = 10.0  # paper: 10
    lambda_identity: float = 0.5  # fraction of lambda_cycle (paper: identity weight 5)
    pool_size: int = 50
    lr_g: float | None = None  # G's rate; None: --set lr, else 2e-4 (the paper's)
    lr_d: float | None = None  # D's rate; None: half the base rate (the paper's 1e-4)
    betas: tuple[float, ...] = (0.5, 0.999)
    decay_start: float = 0.5  # fraction of the run at constant lr, then linear decay to 0
    sample_rate: int = 16000  # the spectrogram settings of genlab.audio.features.FeatureConfig
    n_fft: int = 512
    hop: int = 128
    fmin: float = 50.0
    fmax: float = 8000.0
    clip: float = 3.0  # normalised log-mel range [-clip, clip] (genlab.data.voices.CLIP)
    griffin_lim_iters: int = 60

    def __post_init__(self):
        self.image_shape = tuple(self.image_shape)
        check(len(self.image_shape) == 3 and self.image_shape[0] == 1 and min(self.image_shape) >= 1,
              f"image_shape must be (1, n_mels, frames), got {self.image_shape}; train on voice data (--data voices)")
        check(self.image_shape[2] % 4 == 0 and self.image_shape[2] >= 16,
              f"the training segments must be a multiple of 4 frames, at least 16, got {self.image_shape[2]}")
        check(self.channels >= 1 and self.ndf >= 1, f"channels and ndf must be >= 1, got {self.channels}, {self.ndf}")
        check(self.n_blocks >= 0, f"n_blocks must be >= 0, got {self.n_blocks}")
        check(self.patch_layers >= -1, f"patch_layers must be -1 (auto) or >= 0, got {self.patch_layers}")
        check(self.lambda_cycle >= 0 and self.lambda_identity >= 0, "lambda_cycle and lambda_identity must be >= 0")
        check(self.pool_size >= 0, f"pool_size must be >= 0, got {self.pool_size}")
        check_rates(self)
        check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "betas must be two numbers in [0, 1)")
        check(0 <= self.decay_start <= 1, f"decay_start must be in [0, 1], got {self.decay_start}")
        check(self.clip > 0 and self.griffin_lim_iters >= 1, "clip must be > 0 and griffin_lim_iters >= 1")

    @property
    def features(self):
        from ..audio.features import FeatureConfig

        return FeatureConfig(self.sample_rate, self.n_fft, self.hop, self.image_shape[1], self.fmin, self.fmax)


# ---------------------------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------------------------

class GLUConv(nn.Module):
    """Conv1d to 2 * out channels, optional instance norm, GLU -> out channels."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, norm: bool = True):
        super().__init__()
        self.conv = nn.Conv1d(cin, 2 * cout, k, stride, padding=k // 2)
        self.norm = nn.InstanceNorm1d(2 * cout, affine=True) if norm else nn.Identity()

    def forward(self, x):
        return nn.functional.glu(self.norm(self.conv(x)), dim=1)


class ResidualGLU(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.glu = GLUConv(c, 2 * c, 3)
        self.out = nn.Sequential(nn.Conv1d(2 * c, c, 3, padding=1), nn.InstanceNorm1d(c, affine=True))

    def forward(self, x):
        return x + self.out(self.glu(x))


class UpGLU(nn.Module):
    """Conv1d, 1-D pixel shuffle (time x 2), instance norm, GLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv1d(cin, 4 * cout, 5, padding=2)
        self.norm = nn.InstanceNorm1d(2 * cout, affine=True)

    def forward(self, x):
        h = self.conv(x)  # (B, 4 cout, T)
        b, c, t = h.shape
        h = h.view(b, c // 2, 2, t).permute(0, 1, 3, 2).reshape(b, c // 2, 2 * t)  # (B, 2 cout, 2T)
        return nn.functional.glu(self.norm(h), dim=1)


class VoiceGenerator(nn.Module):
    """(B, 1, n_mels, T) -> (B, 1, n_mels, T): the CycleGAN-VC 1-D gated CNN (see the module docstring)."""

    def __init__(self, n_mels: int, c: int = 32, n_blocks: int = 6):
        super().__init__()
        self.net = nn.Sequential(
            GLUConv(n_mels, c, 15, norm=False),
            GLUConv(c, 2 * c, 5, stride=2), GLUConv(2 * c, 4 * c, 5, stride=2),  # T -> T / 4
            *[ResidualGLU(4 * c) for _ in range(n_blocks)],
            UpGLU(4 * c, 2 * c), UpGLU(2 * c, c),  # T / 4 -> T
            nn.Conv1d(c, n_mels, 15, padding=7))

    def forward(self, x):
        t = x.shape[-1]
        pad = (-t) % 4
        h = x.squeeze(1)  # (B, n_mels, T)
        if pad:
            h = nn.functional.pad(h, (0, pad), mode="replicate")
        return self.net(h)[..., :t].unsqueeze(1)


class VoiceStats(nn.Module):
    """Both speakers' statistics as buffers (row 0: A, row 1: B), saved in ``stats.safetensors``."""

    def __init__(self, n_mels: int):
        super().__init__()
        self.register_buffer("mel_mean", torch.zeros(2, n_mels))
        self.register_buffer("mel_std", torch.ones(2, n_mels))
        self.register_buffer("logf0", torch.tensor([[math.log(100.0), 0.1], [math.log(200.0), 0.1]]))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))

    def set_from(self, meta: dict, config: CycleGANVoiceConfig) -> None:
        v = meta.get("voice") if isinstance(meta, dict) else None
        if v is None:
            raise GenlabError("cyclegan-voice trains on voice data: --data voices, or a folder with trainA/ trainB/ "
                              "of WAV files")
        f, want = v["features"], config.features
        if (f["sample_rate"], f["n_fft"], f["hop"], f["n_mels"]) != (want.sample_rate, want.n_fft, want.hop,
                                                                       want.n_mels) or v["clip"] != config.clip:
            raise GenlabError(f"the voice data's spectrogram settings {f} differ from the model's; set the model's "
                              "sample_rate, n_fft, hop and clip to the data's")
        for i, s in enumerate((v["A"], v["B"])):
            self.mel_mean[i] = torch.tensor(s["mel_mean"])
            self.mel_std[i] = torch.tensor(s["mel_std"])
            self.logf0[i] = torch.tensor(s["logf0"])
        self.ready.fill_(True)


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------

class CycleGANVoice(GenerativeModel):
    family = "cyclegan-voice"
    config_class = CycleGANVoiceConfig
    capabilities = frozenset({Translator, VoiceConverter})
    metric_groups = ("translation",)
    directions = DIRECTIONS

    def __init__(self, config: CycleGANVoiceConfig):
        super().__init__(config)
        c = config
        _, m, t = c.image_shape
        self.g_ab = VoiceGenerator(m, c.channels, c.n_blocks)
        self.g_ba = VoiceGenerator(m, c.channels, c.n_blocks)
        self.d_a = PatchGAN(1, (m, t), c.ndf, c.patch_layers, "instance")
        self.d_b = PatchGAN(1, (m, t), c.ndf, c.patch_layers, "instance")
        self.stats = VoiceStats(m)
        self.pool_a = ImagePool(c.pool_size)
        self.pool_b = ImagePool(c.pool_size)

    # ---- training ----
    def networks(self):
        return {"g_ab": self.g_ab, "g_ba": self.g_ba, "d_a": self.d_a, "d_b": self.d_b, "stats": self.stats}

    def configure_optimizers(self, train):
        return g_and_d_optimizers(self, [*self.g_ab.parameters(), *self.g_ba.parameters()],
                                  [*self.d_a.parameters(), *self.d_b.parameters()], train, d_share=0.5)

    configure_schedulers = linear_decay_schedulers

    def train_step(self, batches, optimizers, step):
        c = self.config
        if not bool(self.stats.ready):
            self.stats.set_from(batches.data.meta, c)
        if batches.data.pair is None:
            raise GenlabError("cyclegan-voice trains on two voices: --data voices, or trainA/ trainB/ WAV folders")
        a = batches.next().x * 2 - 1  # (B, 1, n_mels, T), speaker-normalised log-mel / clip
        check_shape(a, c.image_shape, "this cyclegan-voice model (voice A)")
        b = batches.gather(torch.randint(0, len(batches.data), (a.shape[0],))).pair * 2 - 1  # independent of a
        check_shape(b, c.image_shape, "this cyclegan-voice model (voice B)")
        return cycle_update(self, a, b, optimizers, "lsgan")

    extra_state = CycleGAN.extra_state  # the two history pools, saved for exact resume
    load_extra_state = CycleGAN.load_extra_state

    # ---- use ----
    def input_shape(self, direction: str) -> tuple[int, int, int]:
        return tuple(self.config.image_shape)

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """G_AB or G_BA on normalised spectrogram images (B, 1, n_mels, T) in [0, 1] (any T) -> [0, 1] (clamped)."""
        check_direction(direction)
        g = self.g_ab if direction == "AtoB" else self.g_ba
        return ((g(images.to(self.device).float() * 2 - 1) + 1) * 0.5).clamp(0, 1)

    @torch.no_grad()
    def convert_log_mel(self, logmel: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """Log-mel (n_mels, T) of the source voice -> log-mel (n_mels, T) in the target voice."""
        check_direction(direction)
        src, tgt = (0, 1) if direction == "AtoB" else (1, 0)
        s, c = self.stats, self.config.clip
        z = (logmel.to(self.device) - s.mel_mean[src, :, None]) / s.mel_std[src, :, None]
        x = (z.clamp(-c, c) / c)[None, None]  # (1, 1, n_mels, T)
        g = self.g_ab if direction == "AtoB" else self.g_ba
        return (g(x)[0, 0].clamp(-1, 1) * c) * s.mel_std[tgt, :, None] + s.mel_mean[tgt, :, None]

    @torch.no_grad()
    def convert(self, waveform, sample_rate: int, direction: str = "AtoB", pitch: bool = True) -> tuple[np.ndarray, int]:
        """Speech in one voice -> (the same words in the other voice as float32 mono, the model's sample rate).

        ``waveform``: mono (N,) float (numpy or torch) at ``sample_rate`` Hz (resampled to 16 kHz);
        ``pitch=False`` skips the explicit F0 correction (see the module docstring).
        """
        from ..audio.features import log_mel, mel_to_wave
        from ..audio.pitch import convert_f0, estimate_f0, pitch_shift
        from ..audio.wav import check_waveform, resample

        if not bool(self.stats.ready):
            raise GenlabError("this cyclegan-voice model has no speaker statistics (it was never trained); train it")
        cfg = self.config.features
        x = waveform.detach().cpu().numpy() if torch.is_tensor(waveform) else np.asarray(waveform)
        x = x.astype(np.float32)
        check_waveform(x, sample_rate, "the input audio")
        x = resample(x, int(sample_rate), cfg.sample_rate)
        converted = self.convert_log_mel(log_mel(x, cfg), direction).cpu()
        y = mel_to_wave(converted, cfg, self.config.griffin_lim_iters)
        if pitch:
            src, tgt = (0, 1) if direction == "AtoB" else (1, 0)
            lf = self.stats.logf0.cpu().double().numpy()
            f0 = estimate_f0(x, cfg.sample_rate, cfg.hop)
            f0_out = estimate_f0(y, cfg.sample_rate, cfg.hop)
            if (f0 > 0).sum() >= 3 and (f0_out > 0).sum() >= 3:
                want = float(np.median(convert_f0(f0[f0 > 0], tuple(lf[src]), tuple(lf[tgt]))))
                ratio = float(np.clip(want / np.median(f0_out[f0_out > 0]), 0.5, 2.0))
                y = pitch_shift(y, ratio)
        return y.astype(np.float32), cfg.sample_rate

    @torch.no_grad()
    def preview(self, batch, generator):
        """Bands of six rows of spectrograms (low frequencies at the bottom): A | G_AB(A) | cycle | B | G_BA(B) | cycle."""
        a, b = batch.x, batch.pair
        ab, ba = self.translate(a), self.translate(b, "BtoA")
        rows = [a, ab, self.translate(ab, "BtoA"), b, ba, self.translate(ba)]
        return preview_rows([r.flip(2) for r in rows], a.shape[0])
