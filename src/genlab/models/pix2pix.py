"""pix2pix: paired image-to-image translation (Isola et al. 2017, "Image-to-Image Translation with
Conditional Adversarial Networks").

A U-Net generator G maps an input image x to y_hat = G(x); a PatchGAN discriminator D judges
(input, output) pairs concatenated on channels, one logit per patch. The objective (eq. 4):

    G* = arg min_G max_D  L_cGAN(G, D) + lambda_L1 * E ||y - G(x)||_1

with L_cGAN = E log D(x, y) + E log(1 - D(x, G(x))); G uses the non-saturating form (BCE against
"real"), as the paper, and lambda_L1 = 100. Any kind of ``losses.gan_d_loss`` works (``gan_loss``).
The L1 term is the mean absolute error on images in [-1, 1] (the networks' range, as the
reference code), so lambda_L1 = 100 weighs it as in the paper. Adam, lr 2e-4, betas (0.5, 0.999).

Data: a paired ImageData; a batch's ``.x`` is side A and ``.pair`` side B. ``direction='AtoB'``
translates A into B (edges2fashion: edges -> garment; maps: aerial -> map); 'BtoA' the reverse.
The generator is the paper's U-Net (``g_arch='unet'``) or the same U-Net laid out with nearest-neighbour
upsampling at the output (``'unet-upsample'``, see ``translation_blocks.UNetUpsample``); the PatchGAN's
widest conv has stride 1 (the paper's 70x70 patches) or 2 (``patch_last_stride=2``: 94x94 patches from
the same weights at a quarter of the cost). Dropout is the only noise (the paper's z); it is active in
training only, so ``translate`` (in eval mode) is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import losses
from ..errors import GenlabError
from .base import GenerativeModel, check, check_rates, g_and_d_optimizers
from .capabilities import DIRECTIONS, Translator, check_direction
from .translation_blocks import (
    PatchGAN,
    UNet,
    UNetUpsample,
    in_chunks,
    linear_decay_schedulers,
    preview_rows,
    to_signed,
    to_unit,
)

NORMS = ("batch", "instance")
G_ARCHS = ("unet", "unet-upsample")


@dataclass
class Pix2PixConfig:
    """pix2pix hyper-parameters (the paper's values unless noted)."""

    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W) of side A (a batch's .x), set from the data
    pair_channels: int = 0  # channels of side B (a batch's .pair); 0: the same as side A
    direction: str = "AtoB"  # 'AtoB': A is the input and B the target; 'BtoA' the reverse
    g_arch: str = "unet"  # 'unet' (the paper's) or 'unet-upsample' (see translation_blocks.UNetUpsample)
    ngf: int = 32  # generator width of the first layer (paper: 64), doubling per layer up to 8 ngf
    ndf: int = 32  # discriminator width of the first layer (paper: 64)
    norm: str = "batch"  # 'batch' (paper) or 'instance', in both networks
    dropout: float = 0.5  # dropout rate in the innermost decoder layers (training only)
    dropout_layers: int = -1  # layers with dropout, innermost first; -1: 'unet' min(3, depth // 2) (paper: 3 of
    # 8 decoder layers), 'unet-upsample' every encoder layer of width 8 ngf and the decoder layers meeting them
    patch_layers: int = -1  # stride-2 layers of the PatchGAN; -1: receptive field <= half the side (see blocks)
    patch_last_stride: int = 1  # stride of the PatchGAN's widest conv: 1 (the paper's 70x70) or 2
    gan_loss: str = "nonsaturating"  # 'nonsaturating' (the paper's BCE), 'lsgan', 'hinge' or 'minimax'
    lambda_l1: float = 100.0  # weight of the L1 term
    lr_g: float | None = None  # Adam learning rate of G; None: --set lr, else 2e-4
    lr_d: float | None = None  # Adam learning rate of D; None: --set lr, else 2e-4
    betas: tuple[float, ...] = (0.5, 0.999)  # Adam betas of both
    decay_start: float = 1.0  # fraction of the run after which the lr decays linearly to 0; 1.0: constant

    def __post_init__(self):
        self.image_shape = tuple(self.image_shape)
        check(
            len(self.image_shape) == 3 and all(int(s) >= 1 for s in self.image_shape),
            f"image_shape must be (C, H, W), got {self.image_shape}",
        )
        check(
            min(self.image_shape[1:]) >= 4,
            f"pix2pix needs images of at least 4x4, got "
            f"{self.image_shape[1]}x{self.image_shape[2]}; use a larger image size",
        )
        check(self.pair_channels >= 0, f"pair_channels must be an integer >= 0, got {self.pair_channels}")
        check(self.direction in DIRECTIONS, f"direction must be 'AtoB' or 'BtoA', got '{self.direction}'")
        check(self.g_arch in G_ARCHS, f"g_arch must be one of {', '.join(G_ARCHS)}, got '{self.g_arch}'")
        check(self.ngf >= 1 and self.ndf >= 1, f"ngf and ndf must be integers >= 1, got {self.ngf}, {self.ndf}")
        check(self.norm in NORMS, f"norm must be 'batch' or 'instance', got '{self.norm}'")
        check(0 <= self.dropout < 1, f"dropout must be a number in [0, 1), got {self.dropout}")
        check(
            self.dropout_layers >= -1, f"dropout_layers must be -1 (auto) or an integer >= 0, got {self.dropout_layers}"
        )
        check(self.patch_layers >= -1, f"patch_layers must be -1 (auto) or an integer >= 0, got {self.patch_layers}")
        check(self.patch_last_stride in (1, 2), f"patch_last_stride must be 1 or 2, got {self.patch_last_stride}")
        check(
            self.gan_loss in losses.GAN_LOSSES,
            f"gan_loss must be one of {', '.join(losses.GAN_LOSSES)}, got '{self.gan_loss}'",
        )
        check(self.lambda_l1 >= 0, f"lambda_l1 must be a number >= 0, got {self.lambda_l1}")
        check_rates(self)
        check(
            len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            f"betas must be two numbers in [0, 1), got {self.betas}",
        )
        check(0 <= self.decay_start <= 1, f"decay_start must be a number in [0, 1], got {self.decay_start}")

    @property
    def shape_a(self) -> tuple[int, ...]:
        return tuple(self.image_shape)

    @property
    def shape_b(self) -> tuple[int, ...]:
        c, h, w = self.image_shape
        return (self.pair_channels or c, h, w)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.shape_a if self.direction == "AtoB" else self.shape_b

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.shape_b if self.direction == "AtoB" else self.shape_a


class Pix2Pix(GenerativeModel):
    family = "pix2pix"
    config_class = Pix2PixConfig
    capabilities = frozenset({Translator})
    metric_groups = ("translation",)
    explorer_view = "translate"

    def __init__(self, config: Pix2PixConfig):
        super().__init__(config)
        c_in, h, w = config.input_shape
        c_out = config.output_shape[0]
        unet = UNet if config.g_arch == "unet" else UNetUpsample
        self.generator = unet(c_in, c_out, (h, w), config.ngf, config.norm, config.dropout, config.dropout_layers)
        # D sees (input, output) concatenated on channels
        self.discriminator = PatchGAN(
            c_in + c_out, (h, w), config.ndf, config.patch_layers, config.norm, config.patch_last_stride
        )

    # ---- training ----
    def networks(self):
        return {"generator": self.generator, "discriminator": self.discriminator}

    def configure_optimizers(self, train):
        return g_and_d_optimizers(self, self.generator.parameters(), self.discriminator.parameters(), train)

    configure_schedulers = linear_decay_schedulers

    def split_batch(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(input, target) of a paired batch, in [0, 1], by ``direction``."""
        if batch.pair is None:
            raise GenlabError(
                "pix2pix trains on paired data (each image with its target); use a paired dataset "
                "such as edges2fashion or maps, or a paired folder (A/ and B/, or A|B side by side)"
            )
        c = self.config
        if tuple(batch.x.shape[1:]) != c.shape_a or tuple(batch.pair.shape[1:]) != c.shape_b:
            raise GenlabError(
                f"the paired data is {'x'.join(map(str, batch.x.shape[1:]))} -> "
                f"{'x'.join(map(str, batch.pair.shape[1:]))} but the model was built for "
                f"{'x'.join(map(str, c.shape_a))} -> {'x'.join(map(str, c.shape_b))}; "
                "set image_shape and pair_channels from the data"
            )
        return (batch.x, batch.pair) if c.direction == "AtoB" else (batch.pair, batch.x)

    def train_step(self, batches, optimizers, step):
        x, y = self.split_batch(batches.next())  # (B, C_in, H, W), (B, C_out, H, W) in [0, 1]
        kind = self.config.gan_loss
        xs, ys = to_signed(x), to_signed(y)
        fake = self.generator(xs)  # (B, C_out, H, W) in [-1, 1]

        # (1) update D: real pairs (x, y) up, fake pairs (x, G(x)) down
        d_real = self.discriminator(torch.cat([xs, ys], 1))  # (B, 1, h, w)
        d_fake = self.discriminator(torch.cat([xs, fake.detach()], 1))
        d_loss = losses.gan_d_loss(kind, d_real, d_fake)
        optimizers["d"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["d"].step()

        # (2) update G: fool the updated D and stay close to the target in L1
        self.discriminator.requires_grad_(False)
        adv = losses.generator_adv_loss(kind, self.discriminator(torch.cat([xs, fake], 1)))
        self.discriminator.requires_grad_(True)
        l1 = losses.l1_loss(fake, ys)
        g_loss = adv + self.config.lambda_l1 * l1
        optimizers["g"].zero_grad(set_to_none=True)
        g_loss.backward()
        optimizers["g"].step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "g_adv": adv.detach(), "l1": l1.detach()}

    # ---- use ----
    @property
    def directions(self) -> tuple[str, ...]:
        return (self.config.direction,)

    def input_shape(self, direction: str) -> tuple[int, ...]:
        return self.config.input_shape

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str | None = None) -> torch.Tensor:
        """Translate input images (B, C, H, W), uint8 or float in [0, 1] -> outputs (B, C', H, W) in [0, 1].

        ``direction`` may only repeat the one the model was trained for (pix2pix has one generator).
        Call ``.eval()`` first (``genlab.load`` does) for the deterministic, dropout-free output.
        """
        if direction is not None:
            check_direction(direction, self.directions)
        return to_unit(in_chunks(self.generator, to_signed(self.as_images(images, self.config.input_shape))))

    @torch.no_grad()
    def preview(self, batch, generator):
        """Bands of three rows: input | output | target."""
        x, y = self.split_batch(batch)
        return preview_rows([x, self.translate(x), y], x.shape[0])
