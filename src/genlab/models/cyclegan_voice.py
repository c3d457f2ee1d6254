"""CycleGAN-VC: unpaired voice conversion on WORLD features (Kaneko and Kameoka 2018,
"Parallel-Data-Free Voice Conversion Using Cycle-Consistent Adversarial Networks").

The objective is CycleGAN's (see :mod:`genlab.models.cyclegan`): least-squares adversarial terms
for G_AB / D_B and G_BA / D_A, lambda_cycle = 10 times the two L1 cycle terms, and
lambda_cycle * lambda_identity (= 5, the paper's identity weight) times the two identity terms
(``cycle_distance`` 'l2' or 'smooth-l1' measures both kinds of term with a loss quadratic near zero);
discriminators see generated segments through 50-segment history pools; Adam 2e-4 / 1e-4, betas
(0.5, 0.999), with linear decay. Data: ``genlab.data.voices`` (A in ``.x``, B drawn independently
from ``.pair``).

Features (:mod:`genlab.audio.vocoder`): with the ``world`` vocoder, per 5 ms frame the coded WORLD
spectral envelope (D = 36 coefficients), log F0 and the aperiodicity; the ``griffin-lim`` fallback
(no ``pyworld``) uses an 80-band log-mel per 8 ms frame. A training segment is (B, 1, D, T) of
speaker-normalised features z = (f - mean) / std (128 frames for WORLD). With ``variance='shared'`` the
std is both speakers' pooled one, so that a generator's identity map is a shift of the envelope's mean
(its shape kept) rather than the per-coefficient mean and variance conversion.

- Generator (the paper's 1-D gated CNN, widths scaled by ``channels``): the D coefficients are the
  channels of 1-D convolutions over time. Conv(15) GLU -> 2 x [Conv(5, stride 2) IN GLU] ->
  ``n_blocks`` residual blocks [Conv(3) IN GLU, Conv(3) IN, + skip] -> 2 x [Conv(5) pixel-shuffle x2
  IN GLU] -> Conv(15) to D. GLU(a, b) = a * sigmoid(b) (Dauphin et al. 2017). With ``residual``
  (the default) the network predicts a correction added to its input, its last layer starting at
  zero: training starts from the per-coefficient mean/variance conversion of the envelope and learns
  what that linear map misses. With ``correction_bound`` = c > 0 the correction is c * tanh(net / c):
  the same near zero, never more than c z-units per coefficient and frame, so the adversarial push
  cannot move the envelope far from the statistics map (a move that far blurs the words). Any length T
  (padded to a multiple of 4 inside).
- Discriminator: the 2-D PatchGAN of the image models on the (D, T) picture, instance norm.

Back to sound (:meth:`CycleGANVoice.convert`), as CycleGAN-VC: WORLD analysis of the input ->
normalise the envelope with the source speaker's statistics -> generator -> denormalise with the
target's; log F0 mapped by the two speakers' log-F0 means and standard deviations,
log f0' = (log f0 - mu_src) / sigma_src * sigma_tgt + mu_tgt; aperiodicity carried over; WORLD
synthesis. (Griffin-Lim: the waveform from the converted log-mel, then one pitch-shift ratio per
utterance to the mapped median F0.) The statistics live in the ``stats`` network's buffers, saved in
the run directory as ``stats.safetensors`` with the weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import losses, shards
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
    """CycleGAN-VC hyper-parameters (the paper's where noted) and the vocoder settings."""

    image_shape: tuple[int, int, int] = (1, 36, 128)  # (1, features per frame, frames per segment), from the data
    channels: int = 32  # generator width after the first GLU (paper: 128); 2x and 4x after the downsamplings
    n_blocks: int = 6  # residual GLU blocks (paper: 6)
    residual: bool = True  # the generator adds a correction to its input (its last layer starts at zero)
    correction_bound: float = (
        0.0  # > 0: the residual correction is bound * tanh(net / bound), at most that many z-units; 0: unbounded
    )
    variance: str = "speaker"  # scale of the z-scores: each speaker's own std, or 'shared' (both speakers' pooled std)
    ndf: int = 16  # PatchGAN width (paper: 128 in a gated 2-D CNN; kept small for CPU training)
    patch_layers: int = 2  # stride-2 layers of the PatchGAN
    lambda_cycle: float = 10.0  # paper: 10
    lambda_identity: float = 0.5  # fraction of lambda_cycle (paper: identity weight 5)
    cycle_distance: str = "l1"  # cycle and identity terms: 'l1' (paper), 'l2' or 'smooth-l1' (quadratic near zero)
    cycle_beta: float = 1.0  # smooth-l1's width in z-units: quadratic below it, L1 beyond
    pool_size: int = 50
    lr_g: float | None = None  # G's rate; None: --set lr, else 2e-4 (the paper's)
    lr_d: float | None = None  # D's rate; None: half the base rate (the paper's 1e-4)
    betas: tuple[float, ...] = (0.5, 0.999)
    decay_start: float = 0.5  # fraction of the run at constant lr, then linear decay to 0
    vocoder: str = "auto"  # 'world' (WORLD, needs pyworld) or 'griffin-lim'; 'auto': world when installed
    sample_rate: int = 16000
    frame_period: float = 5.0  # ms per frame (WORLD)
    n_fft: int = 512  # Griffin-Lim's STFT and hop (samples)
    hop: int = 128
    fmin: float = 50.0
    fmax: float = 8000.0
    griffin_lim_iters: int = 60

    def __post_init__(self):
        from ..audio.vocoder import VOCODERS, default_vocoder

        self.image_shape = tuple(self.image_shape)
        if self.vocoder == "auto":
            self.vocoder = default_vocoder()
        check(self.vocoder in VOCODERS, f"vocoder must be one of {', '.join(VOCODERS)} (or auto), got '{self.vocoder}'")
        check(
            len(self.image_shape) == 3 and self.image_shape[0] == 1 and min(self.image_shape) >= 1,
            f"image_shape must be (1, features, frames), got {self.image_shape}; train on voice data "
            "(--data recorded-voices or voices)",
        )
        check(
            self.image_shape[2] % 4 == 0 and self.image_shape[2] >= 16,
            f"the training segments must be a multiple of 4 frames, at least 16, got {self.image_shape[2]}",
        )
        check(self.channels >= 1 and self.ndf >= 1, f"channels and ndf must be >= 1, got {self.channels}, {self.ndf}")
        check(self.n_blocks >= 0, f"n_blocks must be >= 0, got {self.n_blocks}")
        check(self.patch_layers >= -1, f"patch_layers must be -1 (auto) or >= 0, got {self.patch_layers}")
        check(self.lambda_cycle >= 0 and self.lambda_identity >= 0, "lambda_cycle and lambda_identity must be >= 0")
        check(
            self.cycle_distance in losses.DISTANCES,
            f"cycle_distance must be one of {', '.join(losses.DISTANCES)}, got '{self.cycle_distance}'",
        )
        check(self.cycle_beta > 0, f"cycle_beta must be a number > 0, got {self.cycle_beta}")
        check(self.correction_bound >= 0, f"correction_bound must be a number >= 0, got {self.correction_bound}")
        check(
            self.residual or self.correction_bound == 0,
            "correction_bound bounds the residual correction; set residual=true or correction_bound=0",
        )
        check(self.pool_size >= 0, f"pool_size must be >= 0, got {self.pool_size}")
        check_rates(self)
        check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "betas must be two numbers in [0, 1)")
        check(0 <= self.decay_start <= 1, f"decay_start must be in [0, 1], got {self.decay_start}")
        check(
            self.frame_period > 0 and self.griffin_lim_iters >= 1, "frame_period must be > 0 and griffin_lim_iters >= 1"
        )

    @property
    def vocoder_settings(self):
        from ..audio.vocoder import VocoderSettings

        return VocoderSettings(
            self.vocoder,
            self.sample_rate,
            self.image_shape[1],
            self.frame_period,
            self.n_fft,
            self.hop,
            self.fmin,
            self.fmax,
            self.griffin_lim_iters,
        )


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
    """(B, 1, D, T) -> (B, 1, D, T): the CycleGAN-VC 1-D gated CNN (see the module docstring)."""

    def __init__(self, n_features: int, c: int = 32, n_blocks: int = 6, residual: bool = False, bound: float = 0.0):
        super().__init__()
        self.residual = residual
        self.bound = bound
        self.net = nn.Sequential(
            GLUConv(n_features, c, 15, norm=False),
            GLUConv(c, 2 * c, 5, stride=2),
            GLUConv(2 * c, 4 * c, 5, stride=2),  # T -> T / 4
            *[ResidualGLU(4 * c) for _ in range(n_blocks)],
            UpGLU(4 * c, 2 * c),
            UpGLU(2 * c, c),  # T / 4 -> T
            nn.Conv1d(c, n_features, 15, padding=7),
        )
        last = self.net[-1]
        if residual and isinstance(last, nn.Conv1d):  # start as the identity: the correction's last layer is zero
            nn.init.zeros_(last.weight)
            if last.bias is not None:
                nn.init.zeros_(last.bias)

    def forward(self, x):
        t = x.shape[-1]
        pad = (-t) % 4
        h = x.squeeze(1)  # (B, D, T)
        if pad:
            h = nn.functional.pad(h, (0, pad), mode="replicate")
        out = self.net(h)[..., :t].unsqueeze(1)
        if self.bound > 0:  # bound * tanh(out / bound): the same as out near zero, never beyond +-bound
            out = self.bound * torch.tanh(out / self.bound)
        return x + out if self.residual else out


class VoiceStats(nn.Module):
    """Both speakers' statistics as buffers (row 0: A, row 1: B), saved in ``stats.safetensors``."""

    mean: torch.Tensor  # (2, D) feature means
    std: torch.Tensor  # (2, D) feature standard deviations
    logf0: torch.Tensor  # (2, 2) log-F0 mean and standard deviation
    ready: torch.Tensor  # () bool: set from the data

    def __init__(self, n_features: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(2, n_features))
        self.register_buffer("std", torch.ones(2, n_features))
        self.register_buffer("logf0", torch.tensor([[math.log(100.0), 0.1], [math.log(200.0), 0.1]]))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))

    def set_from(self, meta: dict, config: CycleGANVoiceConfig) -> None:
        from ..audio.vocoder import settings_dict

        v = meta.get("voice") if isinstance(meta, dict) else None
        if v is None:
            raise GenlabError(
                "cyclegan-voice trains on voice data: --data recorded-voices (or voices), or a folder "
                "with trainA/ trainB/ of WAV files"
            )
        have, want = dict(v["vocoder"]), settings_dict(config.vocoder_settings)
        have.pop("griffin_lim_iters", None)
        want.pop("griffin_lim_iters", None)
        if have != want:
            diff = ", ".join(f"{k}={have.get(k)!r}" for k in sorted(want) if have.get(k) != want[k])
            raise GenlabError(
                f"the voice data was analysed with other vocoder settings ({diff}) than the model's; "
                "set the model's to the data's (a WORLD run needs pyworld: pip install pyworld-prebuilt)"
            )
        for i, s in enumerate((v["A"], v["B"])):
            self.mean[i] = torch.tensor(s["mean"])
            self.std[i] = torch.tensor(s["std"])
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
    explorer_view = "voice"
    directions = DIRECTIONS

    def __init__(self, config: CycleGANVoiceConfig):
        super().__init__(config)
        c = config
        _, m, t = c.image_shape
        self.g_ab = VoiceGenerator(m, c.channels, c.n_blocks, c.residual, c.correction_bound)
        self.g_ba = VoiceGenerator(m, c.channels, c.n_blocks, c.residual, c.correction_bound)
        self.d_a = PatchGAN(1, (m, t), c.ndf, c.patch_layers, "instance")
        self.d_b = PatchGAN(1, (m, t), c.ndf, c.patch_layers, "instance")
        self.stats = VoiceStats(m)
        self.pool_a = ImagePool(c.pool_size)
        self.pool_b = ImagePool(c.pool_size)

    # ---- training ----
    def networks(self):
        return {"g_ab": self.g_ab, "g_ba": self.g_ba, "d_a": self.d_a, "d_b": self.d_b, "stats": self.stats}

    def configure_optimizers(self, train):
        return g_and_d_optimizers(
            self,
            [*self.g_ab.parameters(), *self.g_ba.parameters()],
            [*self.d_a.parameters(), *self.d_b.parameters()],
            train,
            d_share=0.5,
        )

    configure_schedulers = linear_decay_schedulers

    def train_step(self, batches, optimizers, step):
        c = self.config
        if not bool(self.stats.ready):
            self.stats.set_from(batches.data.meta, c)
        if batches.data.pair is None:
            raise GenlabError(
                "cyclegan-voice trains on two voices: --data recorded-voices, or trainA/ trainB/ WAV folders"
            )
        a = self.rescale(batches.next().x, 0)  # (B, 1, D, T), speaker-normalised features
        check_shape(a, c.image_shape, "this cyclegan-voice model (voice A)")
        b = self.rescale(batches.gather(shards.randint(len(batches.data), a.shape[0])).pair, 1)  # independent of a
        check_shape(b, c.image_shape, "this cyclegan-voice model (voice B)")
        # passes one by one (batched=False), as the cyclegan-voice-recorded recipe was measured; its
        # instance-normed networks would allow batching, which saves little at its batch of 8
        return cycle_update(self, a, b, optimizers, "lsgan", c.cycle_distance, c.cycle_beta)

    extra_state = CycleGAN.extra_state  # the two history pools, saved for exact resume
    load_extra_state = CycleGAN.load_extra_state

    # ---- use ----
    def input_shape(self, direction: str) -> tuple[int, int, int]:
        return tuple(self.config.image_shape)

    def _generator(self, direction: str):
        check_direction(direction)
        return (self.g_ab, 0, 1) if direction == "AtoB" else (self.g_ba, 1, 0)

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """G_AB or G_BA on speaker-normalised feature segments (B, 1, D, T) (any T) -> (B, 1, D, T)."""
        g, _, _ = self._generator(direction)
        return g(images.to(self.device).float())

    @torch.no_grad()
    def convert_features(self, features: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """Vocoder features (D, T) of the source voice -> features (D, T) in the target voice."""
        g, src, tgt = self._generator(direction)
        s = self.stats
        z = (features.to(self.device).float() - s.mean[src, :, None]) / self.scale(src)[:, None]
        return g(z[None, None])[0, 0] * self.scale(tgt)[:, None] + s.mean[tgt, :, None]

    def scale(self, speaker: int) -> torch.Tensor:
        """(D,) the std that divides speaker's centred features: its own, or both speakers' pooled (``variance``)."""
        if self.config.variance == "speaker":
            return self.stats.std[speaker]
        return self.stats.std.pow(2).mean(0).sqrt()

    def rescale(self, z: torch.Tensor, speaker: int) -> torch.Tensor:
        """Segments normalised by the speaker's own std (the data) -> by :meth:`scale` (the model's units)."""
        if self.config.variance == "speaker":
            return z
        return z * (self.stats.std[speaker] / self.scale(speaker))[:, None].to(z.device)

    def convert_f0(self, f0: np.ndarray, direction: str = "AtoB") -> np.ndarray:
        """F0 (Hz, 0 = unvoiced) mapped by the log-Gaussian transform between the two speakers."""
        from ..audio.pitch import convert_f0

        _, src, tgt = self._generator(direction)
        lf = self.stats.logf0.cpu().double().numpy()
        return convert_f0(np.asarray(f0, dtype=np.float64), tuple(lf[src]), tuple(lf[tgt]))

    @torch.no_grad()
    def convert(
        self, waveform, sample_rate: int, direction: str = "AtoB", pitch: bool = True
    ) -> tuple[np.ndarray, int]:
        """Speech in one voice -> (the same words in the other voice as float32 mono, the model's sample rate).

        ``waveform``: mono (N,) float (numpy or torch) at ``sample_rate`` Hz (resampled to the model's);
        ``pitch=False`` keeps the source's F0 (the envelope is still converted).
        """
        from ..audio import vocoder
        from ..audio.wav import check_waveform, resample

        if not bool(self.stats.ready):
            raise GenlabError("this cyclegan-voice model has no speaker statistics (it was never trained); train it")
        vs = self.config.vocoder_settings
        x = waveform.detach().cpu().numpy() if torch.is_tensor(waveform) else np.asarray(waveform)
        x = x.astype(np.float32)
        check_waveform(x, sample_rate, "the input audio")
        x = resample(x, int(sample_rate), vs.sample_rate)
        a = vocoder.analyse(x, vs)
        features = self.convert_features(torch.from_numpy(a.features), direction).cpu().numpy()
        f0 = self.convert_f0(a.f0, direction) if pitch else a.f0
        return vocoder.synthesise(features, f0, a.extra, vs), vs.sample_rate

    @torch.no_grad()
    def preview(self, batch, generator):
        """Bands of six rows of feature segments (low coefficients at the bottom).

        A | G_AB(A) | cycle | B | G_BA(B) | cycle, z-scores shown as grey levels 0.5 + z / 6.
        """
        a, b = self.rescale(batch.x, 0), self.rescale(batch.pair, 1)
        ab, ba = self.translate(a), self.translate(b, "BtoA")
        rows = [a, ab, self.translate(ab, "BtoA"), b, ba, self.translate(ba)]
        return preview_rows([(r.flip(2) / 6 + 0.5).clamp(0, 1) for r in rows], a.shape[0])
