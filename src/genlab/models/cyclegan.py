"""CycleGAN: unpaired image-to-image translation (Zhu et al. 2017, "Unpaired Image-to-Image
Translation using Cycle-Consistent Adversarial Networks").

Two generators G_AB: A -> B and G_BA: B -> A (ResNet blocks) and two PatchGAN discriminators,
D_A on domain A and D_B on domain B. The full objective (eq. 3, with the identity term of section 5):

    L = L_GAN(G_AB, D_B) + L_GAN(G_BA, D_A)
        + lambda_cycle * (E ||G_BA(G_AB(a)) - a||_1 + E ||G_AB(G_BA(b)) - b||_1)
        + lambda_cycle * lambda_identity * (E ||G_AB(b) - b||_1 + E ||G_BA(a) - a||_1)

with the least-squares adversarial loss (``gan_loss='lsgan'``: G minimises (D(G(x)) - 1)^2, D
minimises 1/2 [(D(y) - 1)^2 + D(G(x))^2]), lambda_cycle = 10, lambda_identity = 0.5. L1 terms are
means over pixels of images in [-1, 1], as the reference code. Each discriminator sees generated
images through a 50-image history pool (:class:`ImagePool`). Adam lr 2e-4, betas (0.5, 0.999),
constant for the first ``decay_start`` of the run, then decaying linearly to zero.

Data (the unpaired-batch design): one ImageData holds domain A in ``images`` and domain B in
``pair``, with the same number of rows but no correspondence between row i of each (see
``genlab.data.unpaired``). The loop's batch gives A (``.x``, in its seeded epoch order); B rows are
drawn in ``train_step`` with ``torch.randint`` from the global RNG, independently of A, so the
A/B combinations change every step (as the reference's random B index) and a resumed run draws the
same ones (the loop saves the global RNG). The row-aligned ``.pair`` of the batch is never used for training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import losses, shards
from ..errors import GenlabError
from .base import GenerativeModel, check, check_rates, g_and_d_optimizers
from .capabilities import DIRECTIONS, Translator, check_direction
from .translation_blocks import (
    RESNET_MIN_SIDE,
    ImagePool,
    PatchGAN,
    ResnetGenerator,
    check_shape,
    in_chunks,
    linear_decay_schedulers,
    preview_rows,
    to_signed,
    to_unit,
)


@dataclass
class CycleGANConfig:
    """CycleGAN hyper-parameters (the paper's values unless noted)."""

    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W) of domain A (a batch's .x), set from the data
    pair_channels: int = 0  # channels of domain B (the data's .pair); 0: the same as A
    ngf: int = 32  # generator width after the first conv (paper: 64); 2 ngf and 4 ngf after the downsamplings
    ndf: int = 32  # discriminator width of the first layer (paper: 64)
    n_blocks: int = 6  # ResNet blocks (paper: 6 at 128x128, 9 at 256x256)
    upsample: str = "transposed"  # generators' upsampling: 'transposed' convs (paper) or 'nearest' + 3x3 conv
    norm: str = "instance"  # 'instance' (paper) or 'batch', in every network
    patch_layers: int = -1  # stride-2 layers of the PatchGANs; -1: receptive field <= half the side
    patch_last_stride: int = 1  # stride of the PatchGANs' widest conv: 1 (the paper's 70x70 at n = 3) or 2
    gan_loss: str = "lsgan"  # 'lsgan' (paper), 'nonsaturating', 'hinge' or 'minimax'
    lambda_cycle: float = 10.0  # weight of both cycle-consistency terms
    lambda_identity: float = 0.5  # identity weight, as a fraction of lambda_cycle; 0 turns it off
    pool_size: int = 50  # generated images remembered per discriminator; 0: no history
    lr_g: float | None = None  # Adam learning rate of both generators; None: --set lr, else 2e-4
    lr_d: float | None = None  # Adam learning rate of both discriminators; None: --set lr, else 2e-4
    betas: tuple[float, ...] = (0.5, 0.999)  # Adam betas
    decay_start: float = 0.5  # fraction of the run at constant lr; then linear decay to 0 (paper: 100 + 100 epochs)

    def __post_init__(self):
        self.image_shape = tuple(self.image_shape)
        check(
            len(self.image_shape) == 3 and all(int(s) >= 1 for s in self.image_shape),
            f"image_shape must be (C, H, W), got {self.image_shape}",
        )
        check(
            min(self.image_shape[1:]) >= RESNET_MIN_SIDE,
            f"CycleGAN needs images of at least {RESNET_MIN_SIDE}x{RESNET_MIN_SIDE}, got "
            f"{self.image_shape[1]}x{self.image_shape[2]}; use a larger image size",
        )
        check(self.pair_channels >= 0, f"pair_channels must be an integer >= 0, got {self.pair_channels}")
        check(self.ngf >= 1 and self.ndf >= 1, f"ngf and ndf must be integers >= 1, got {self.ngf}, {self.ndf}")
        check(self.n_blocks >= 0, f"n_blocks must be an integer >= 0, got {self.n_blocks}")
        check(self.norm in ("batch", "instance"), f"norm must be 'batch' or 'instance', got '{self.norm}'")
        check(
            self.upsample in ("transposed", "nearest"),
            f"upsample must be 'transposed' or 'nearest', got '{self.upsample}'",
        )
        check(self.patch_layers >= -1, f"patch_layers must be -1 (auto) or an integer >= 0, got {self.patch_layers}")
        check(self.patch_last_stride in (1, 2), f"patch_last_stride must be 1 or 2, got {self.patch_last_stride}")
        check(
            self.gan_loss in losses.GAN_LOSSES,
            f"gan_loss must be one of {', '.join(losses.GAN_LOSSES)}, got '{self.gan_loss}'",
        )
        check(self.lambda_cycle >= 0, f"lambda_cycle must be a number >= 0, got {self.lambda_cycle}")
        check(self.lambda_identity >= 0, f"lambda_identity must be a number >= 0, got {self.lambda_identity}")
        check(
            self.lambda_identity == 0 or self.pair_channels in (0, self.image_shape[0]),
            f"the identity loss needs domains with the same channels (A has {self.image_shape[0]}, B has "
            f"{self.pair_channels}); set lambda_identity=0",
        )
        check(self.pool_size >= 0, f"pool_size must be an integer >= 0, got {self.pool_size}")
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


class CycleGAN(GenerativeModel):
    family = "cyclegan"
    config_class = CycleGANConfig
    capabilities = frozenset({Translator})
    metric_groups = ("translation",)
    explorer_view = "translate"
    directions = DIRECTIONS

    def __init__(self, config: CycleGANConfig):
        super().__init__(config)
        c = config
        ca, h, w = c.shape_a
        cb = c.shape_b[0]
        self.g_ab = ResnetGenerator(ca, cb, (h, w), c.ngf, c.n_blocks, c.norm, c.upsample)
        self.g_ba = ResnetGenerator(cb, ca, (h, w), c.ngf, c.n_blocks, c.norm, c.upsample)
        self.d_a = PatchGAN(ca, (h, w), c.ndf, c.patch_layers, c.norm, c.patch_last_stride)
        self.d_b = PatchGAN(cb, (h, w), c.ndf, c.patch_layers, c.norm, c.patch_last_stride)
        self.pool_a = ImagePool(c.pool_size)  # generated A images G_BA(b), shown to D_A
        self.pool_b = ImagePool(c.pool_size)  # generated B images G_AB(a), shown to D_B

    # ---- training ----
    def networks(self):
        return {"g_ab": self.g_ab, "g_ba": self.g_ba, "d_a": self.d_a, "d_b": self.d_b}

    def configure_optimizers(self, train):
        return g_and_d_optimizers(
            self,
            [*self.g_ab.parameters(), *self.g_ba.parameters()],
            [*self.d_a.parameters(), *self.d_b.parameters()],
            train,
        )

    configure_schedulers = linear_decay_schedulers

    def draw_b(self, batches, n: int) -> torch.Tensor:
        """n domain-B images (n, C_B, H, W) in [0, 1], rows drawn uniformly with the global RNG."""
        if batches.data.pair is None:
            raise GenlabError(
                "CycleGAN trains on two domains: use an unpaired dataset such as fashion-stripes, "
                "or trainA/ trainB/ folders (genlab.data.unpaired.combine_unpaired)"
            )
        idx = shards.randint(len(batches.data), n)
        b = batches.gather(idx).pair
        if tuple(b.shape[1:]) != self.config.shape_b:
            raise GenlabError(
                f"domain B images are {'x'.join(map(str, b.shape[1:]))} but the model was built for "
                f"{'x'.join(map(str, self.config.shape_b))}; set image_shape and pair_channels "
                "from the data"
            )
        return b

    def train_step(self, batches, optimizers, step):
        c = self.config
        kind = c.gan_loss
        a_batch = batches.next().x  # (B, C_A, H, W) in [0, 1]
        check_shape(a_batch, c.shape_a, "this CycleGAN model (domain A)")
        a = to_signed(a_batch)
        b = to_signed(self.draw_b(batches, a.shape[0]))  # (B, C_B, H, W), independent of a
        # instance norm normalises each image alone: passes on different images may share one call
        return cycle_update(self, a, b, optimizers, kind, batched=c.norm == "instance")

    def extra_state(self):
        """The two history pools (images and fill count), saved with the training state for exact resume."""
        return {**self.pool_a.state("pool_a"), **self.pool_b.state("pool_b")}

    def load_extra_state(self, state):
        self.pool_a.load_state(state, "pool_a", self.device)
        self.pool_b.load_state(state, "pool_b", self.device)

    # ---- use ----
    def input_shape(self, direction: str) -> tuple[int, ...]:
        return self.config.shape_a if direction == "AtoB" else self.config.shape_b

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """G_AB (direction 'AtoB') or G_BA ('BtoA') on images (B, C, H, W), uint8 or float in [0, 1] -> [0, 1]."""
        check_direction(direction)
        g = self.g_ab if direction == "AtoB" else self.g_ba
        return to_unit(in_chunks(g, to_signed(self.as_images(images, self.input_shape(direction)))))

    @torch.no_grad()
    def preview(self, batch, generator):
        """Bands of six rows: A | G_AB(A) | G_BA(G_AB(A)) | B | G_BA(B) | G_AB(G_BA(B))."""
        a = batch.x
        if batch.pair is None:
            ab = self.translate(a)
            return preview_rows([a, ab, self.translate(ab, "BtoA")], a.shape[0])
        b = batch.pair
        ab, ba = self.translate(a), self.translate(b, "BtoA")
        return preview_rows([a, ab, self.translate(ab, "BtoA"), b, ba, self.translate(ba)], a.shape[0])


def cycle_update(
    model,
    a: torch.Tensor,
    b: torch.Tensor,
    optimizers: dict,
    kind: str,
    distance: str = "l1",
    beta: float = 1.0,
    batched: bool = False,
) -> dict:
    """One CycleGAN iteration on domain batches a, b (in [-1, 1], drawn independently): D first, then G.

    Shared by ``cyclegan`` and ``cyclegan-voice``; ``model`` has g_ab, g_ba, d_a, d_b, the two history
    pools and a config with lambda_cycle and lambda_identity (a fraction of lambda_cycle). ``distance``
    (and smooth-l1's ``beta``) measures the cycle and identity terms: the papers' L1 unless a model says
    otherwise (:func:`genlab.losses.distance`).

    ``batched``: the networks normalise each image on its own (instance norm, no batch statistics), so
    the passes of one network on different images can run as one pass on their concatenation, with the
    same outputs and gradients: with the identity term, G_BA runs on [b; a] and G_AB on [a; b; G_BA(b)]
    (two calls instead of four; G_BA(G_AB(a)) is the third), and each D on [real; pooled fake]. At batch 1
    (the papers' setting) fewer, larger convolutions run faster on a CPU; the losses are the same.
    """
    c = model.config
    n = a.shape[0]
    idt_a = idt_b = rec_b = None
    if batched and c.lambda_identity > 0:  # identity needs G_BA on a and G_AB on b: same channels
        fake_a, idt_a = model.g_ba(torch.cat([b, a])).split([b.shape[0], n])  # G_BA(b), G_BA(a)
        fake_b, idt_b, rec_b = model.g_ab(torch.cat([a, b, fake_a])).split([n, b.shape[0], b.shape[0]])
    else:
        fake_b = model.g_ab(a)  # G_AB(a), in [-1, 1]
        fake_a = model.g_ba(b)  # G_BA(b)

    # (1) update D_A and D_B: real images up, generated ones (through the history pools) down
    d_a_loss = losses.gan_d_loss(kind, *_real_and_fake(model.d_a, a, model.pool_a.query(fake_a), batched))
    d_b_loss = losses.gan_d_loss(kind, *_real_and_fake(model.d_b, b, model.pool_b.query(fake_b), batched))
    optimizers["d"].zero_grad(set_to_none=True)
    (d_a_loss + d_b_loss).backward()
    optimizers["d"].step()

    # (2) update G_AB and G_BA: fool the updated discriminators, close both cycles, keep identities
    for d in (model.d_a, model.d_b):
        d.requires_grad_(False)
    adv = losses.generator_adv_loss(kind, model.d_b(fake_b)) + losses.generator_adv_loss(kind, model.d_a(fake_a))
    for d in (model.d_a, model.d_b):
        d.requires_grad_(True)
    if rec_b is None:
        rec_b = model.g_ab(fake_a)  # G_AB(G_BA(b))
    cyc = losses.cycle_loss(a, model.g_ba(fake_b), distance, beta) + losses.cycle_loss(b, rec_b, distance, beta)
    g_loss = adv + c.lambda_cycle * cyc
    out = {}
    if c.lambda_identity > 0:
        if idt_a is None or idt_b is None:
            idt_b, idt_a = model.g_ab(b), model.g_ba(a)
        idt = losses.identity_loss(b, idt_b, distance, beta) + losses.identity_loss(a, idt_a, distance, beta)
        g_loss = g_loss + c.lambda_cycle * c.lambda_identity * idt
        out["identity"] = idt.detach()
    optimizers["g"].zero_grad(set_to_none=True)
    g_loss.backward()
    optimizers["g"].step()
    return {
        "d_a": d_a_loss.detach(),
        "d_b": d_b_loss.detach(),
        "g_loss": g_loss.detach(),
        "g_adv": adv.detach(),
        "cycle": cyc.detach(),
        **out,
    }


def _real_and_fake(d, real: torch.Tensor, fake: torch.Tensor, batched: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """D's outputs on the real and on the fake batch: one pass on both when ``batched``, else two."""
    if not batched:
        return d(real), d(fake)
    real_out, fake_out = d(torch.cat([real, fake])).split([real.shape[0], fake.shape[0]])
    return real_out, fake_out
