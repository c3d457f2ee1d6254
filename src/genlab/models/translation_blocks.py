"""Networks and training helpers shared by the image-translation families (pix2pix, CycleGAN, CycleGAN-VC).

- :class:`UNet`: the pix2pix generator (Isola et al. 2017, appendix 6.1.1): 4x4 stride-2 convs down to
  a 1x1 bottleneck, transposed convs back up, skip connections between mirrored layers, dropout in the
  innermost decoder layers. Depth from the image size (:func:`unet_depth`); every layer upsamples to
  the exact size its mirror saw, so 8x8, 28x28, 64x64 and odd sizes such as 30x45 all work.
- :class:`UNetUpsample`: the same U-Net with conv-norm-activation blocks whose activated outputs are the
  skips, no biases, dropout on both sides of the innermost layers and a last layer that upsamples by
  nearest neighbour and applies a 4x4 conv (the layout of PyTorch-GAN's pix2pix).
- :class:`ResnetGenerator`: the CycleGAN generator (Zhu et al. 2017, appendix 7.2; Johnson et al. 2016):
  c7s1-ngf, d2ngf, d4ngf, n_blocks residual blocks, u2ngf, ungf, c7s1-C + tanh; reflection padding.
  Its two upsampling layers are transposed convs or nearest-neighbour upsampling + 3x3 convs
  (:class:`UpsampleConv`, Odena et al. 2016).
- :class:`PatchGAN`: the Markovian discriminator: one logit per overlapping patch. Its receptive
  field with ``n`` stride-2 layers is ``9 * 2**n - 2`` pixels (16, 34, 70, 142 for n = 1..4; n = 3
  is the paper's 70x70). :func:`default_patch_layers` picks the largest ``n`` whose field is at most
  half the smaller image side, which gives the paper's 70x70 at 256x256 and always a field between
  about 1/4 and 1/2 of the side (28x28 -> 7, 64x64 -> 16, 128x128 -> 34). With ``last_stride=2`` the
  widest conv strides too and the 1-channel conv keeps the size: field ``6 * 2**(n + 1) - 2`` (94 for
  n = 3), the same weights at a quarter of the positions (the layout of PyTorch-GAN's PatchGANs).
- :class:`ImagePool`: the history of generated images the CycleGAN discriminators see (Shrivastava et al. 2017).

The networks work on images scaled to [-1, 1] (tanh outputs); the models convert from and to [0, 1].
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import GenlabError
from .blocks import init_weights

MAX_MULT = 8  # channel widths grow as base * 2**i, capped at base * MAX_MULT (the papers' 512 for base 64)


def width(base: int, i: int) -> int:
    return base * min(2**i, MAX_MULT)


def norm_layer(kind: str, channels: int) -> nn.Module:
    """'batch' (pix2pix) or 'instance' (CycleGAN; no affine, no running statistics, as the reference code)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def check_shape(x: torch.Tensor, shape: tuple[int, int, int], what: str = "this model") -> None:
    """One-line error if x is not (B, *shape)."""
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(shape):
        got = "x".join(map(str, x.shape[1:])) if x.ndim == 4 else str(tuple(x.shape))
        raise GenlabError(
            f"{what} takes {'x'.join(map(str, shape))} images (C x H x W), got {got}; "
            "resize or convert the images first"
        )


# ---------------------------------------------------------------------------------------------
# U-Net (pix2pix)
# ---------------------------------------------------------------------------------------------


def unet_depth(height: int, width_: int) -> int:
    """Stride-2 layers down to a bottleneck of side 1: floor(log2(min side)), capped at 8 (256 -> 1 as the paper)."""
    side = min(height, width_)
    if side < 2:
        raise GenlabError(f"the U-Net needs images of at least 2x2, got {height}x{width_}")
    return min(8, int(math.log2(side)))


def unet_sizes(height: int, width_: int, depth: int) -> list[tuple[int, int]]:
    """Feature-map sizes, input first: a 4x4 stride-2 conv with padding 1 maps n to floor(n / 2)."""
    sizes = [(height, width_)]
    for _ in range(depth):
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))
    return sizes


class UNet(nn.Module):
    """(B, in_ch, H, W) in [-1, 1] -> (B, out_ch, H, W) in [-1, 1].

    Encoder e_i = Conv(4, s2) (LeakyReLU 0.2 before, norm after, except e_0 and the innermost).
    Decoder u_i = ConvT(4, s2) of ReLU(cat(e_i, u_{i+1})) (only e_{L-1} at the innermost), norm,
    dropout in the ``dropout_layers`` innermost ones; u_0 ends in tanh.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        size: tuple[int, int],
        ngf: int = 64,
        norm: str = "batch",
        dropout: float = 0.5,
        dropout_layers: int = -1,
        depth: int | None = None,
    ):
        super().__init__()
        self.depth = depth or unet_depth(*size)
        self.sizes = unet_sizes(*size, self.depth)
        if min(self.sizes[-1]) < 1:
            raise GenlabError(f"a U-Net of depth {self.depth} needs images of at least {2**self.depth} pixels a side")
        L = self.depth
        if dropout_layers < 0:
            dropout_layers = min(3, L // 2)
        bias = norm == "instance"  # batch norm has its own shift
        self.down = nn.ModuleList()
        for i in range(L):
            c_in = in_ch if i == 0 else width(ngf, i - 1)
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(c_in, width(ngf, i), 4, stride=2, padding=1, bias=bias or i in (0, L - 1)))
            if 0 < i < L - 1:
                layers.append(norm_layer(norm, width(ngf, i)))
            self.down.append(nn.Sequential(*layers))
        self.up_conv = nn.ModuleList()
        self.up_post = nn.ModuleList()
        for i in range(L):
            c_in = width(ngf, i) * (1 if i == L - 1 else 2)
            c_out = out_ch if i == 0 else width(ngf, i - 1)
            self.up_conv.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=bias or i == 0))
            post: list[nn.Module] = [nn.Tanh()] if i == 0 else [norm_layer(norm, c_out)]
            if i > 0 and i >= L - dropout_layers and dropout > 0:
                post.append(nn.Dropout(dropout))
            self.up_post.append(nn.Sequential(*post))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for down in self.down:
            h = down(h)  # e_i: (B, width_i, H_{i+1}, W_{i+1})
            skips.append(h)
        for i in reversed(range(self.depth)):
            inp = skips[i] if i == self.depth - 1 else torch.cat([skips[i], h], dim=1)
            h = self.up_conv[i](torch.relu(inp), output_size=self.sizes[i])  # exact size of layer i's input
            h = self.up_post[i](h)
        return h


class UpsampleConv(nn.Module):
    """Nearest-neighbour upsampling to ``output_size``, then a ``kernel`` x ``kernel`` stride-1 conv that keeps
    the size (zero padding ``kernel // 2`` before, ``(kernel - 1) // 2`` after): a drop-in for a stride-2
    ConvTranspose2d called with ``output_size`` (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts").

    The upsampling runs channels-last (PyTorch's NCHW nearest kernel is several times slower on a CPU
    for small maps; same values) and the conv gets the result back in the standard layout, so the
    layers after it keep theirs.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, bias: bool = True):
        super().__init__()
        even = kernel % 2 == 0
        self.pad = nn.ZeroPad2d((kernel // 2, (kernel - 1) // 2) * 2) if even else nn.Identity()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=0 if even else kernel // 2, bias=bias)

    def forward(self, x: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        x = nn.functional.interpolate(x.contiguous(memory_format=torch.channels_last), size=output_size)
        return self.conv(self.pad(x.contiguous()))


class UNetUpsample(nn.Module):
    """(B, in_ch, H, W) in [-1, 1] -> (B, out_ch, H, W) in [-1, 1]: the U-Net of :class:`UNet` laid out as
    PyTorch-GAN's pix2pix generator.

    Encoder d_i = LeakyReLU 0.2 (norm (Conv(4, s2)(d_{i-1}))), no norm on d_0 and the innermost d_{L-1}.
    Decoder u_j = ReLU(norm(ConvT(4, s2)(cat(u_{j+1}, d_j)))) from the innermost (which takes d_{L-1}
    alone); the output is tanh(Conv(4)(upsample(cat(u_1, d_0)))) (:class:`UpsampleConv`). No biases but the
    last conv's. Dropout on the ``dropout_layers`` innermost encoder layers (-1: every layer of width
    8 ngf, 5 of 8 at 256x256) and on the decoder layers whose output meets one of them in a skip.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        size: tuple[int, int],
        ngf: int = 64,
        norm: str = "instance",
        dropout: float = 0.5,
        dropout_layers: int = -1,
    ):
        super().__init__()
        self.depth = L = unet_depth(*size)
        self.sizes = unet_sizes(*size, L)
        if dropout_layers < 0:
            dropout_layers = sum(width(ngf, i) == ngf * MAX_MULT for i in range(L))
        first_dropped = L - dropout_layers

        def post(c: int, normed: bool, act: nn.Module, drop: bool) -> list[nn.Module]:
            layers = [norm_layer(norm, c)] if normed else []
            return layers + [act] + ([nn.Dropout(dropout)] if drop and dropout > 0 else [])

        self.down = nn.ModuleList()
        for i in range(L):
            c_in = in_ch if i == 0 else width(ngf, i - 1)
            conv = nn.Conv2d(c_in, width(ngf, i), 4, stride=2, padding=1, bias=False)
            self.down.append(
                nn.Sequential(conv, *post(width(ngf, i), 0 < i < L - 1, nn.LeakyReLU(0.2), i >= first_dropped))
            )
        self.up_conv = nn.ModuleList()  # up_conv[j - 1] makes u_j, j = 1 .. L-1
        self.up_post = nn.ModuleList()
        for j in range(1, L):
            c_in = width(ngf, j) * (1 if j == L - 1 else 2)
            c_out = width(ngf, j - 1)
            self.up_conv.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False))
            self.up_post.append(nn.Sequential(*post(c_out, True, nn.ReLU(), j - 1 >= first_dropped)))
        self.head = UpsampleConv(ngf * (2 if L > 1 else 1), out_ch, 4)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for down in self.down:
            h = down(h)  # d_i: (B, width_i, H_{i+1}, W_{i+1})
            skips.append(h)
        for j in reversed(range(1, self.depth)):
            h = self.up_conv[j - 1](h, output_size=self.sizes[j])  # u_j at the size of d_{j-1}
            h = torch.cat([self.up_post[j - 1](h), skips[j - 1]], dim=1)
        return torch.tanh(self.head(h, self.sizes[0]))


# ---------------------------------------------------------------------------------------------
# ResNet generator (CycleGAN)
# ---------------------------------------------------------------------------------------------

RESNET_MIN_SIDE = 5  # reflection padding needs a side > 3 at full size and >= 2 after two stride-2 convs


class ResnetBlock(nn.Module):
    """x + [reflpad1, conv3, norm, ReLU, reflpad1, conv3, norm](x)."""

    def __init__(self, ch: int, norm: str):
        super().__init__()
        bias = norm == "instance"
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3, bias=bias),
            norm_layer(norm, ch),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3, bias=bias),
            norm_layer(norm, ch),
        )

    def forward(self, x):
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """(B, in_ch, H, W) in [-1, 1] -> (B, out_ch, H, W) in [-1, 1]:
    c7s1-ngf, d2ngf, d4ngf, R4ngf x n, u2ngf, ungf, c7s1-out.

    ``upsample``: 'transposed' (the paper's fractionally-strided convs) or 'nearest' (nearest-neighbour
    upsampling + 3x3 conv, :class:`UpsampleConv`; the same parameter count)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        size: tuple[int, int],
        ngf: int = 32,
        n_blocks: int = 6,
        norm: str = "instance",
        upsample: str = "transposed",
    ):
        super().__init__()
        h, w = size
        if min(h, w) < RESNET_MIN_SIDE:
            raise GenlabError(
                f"the ResNet generator needs images of at least {RESNET_MIN_SIDE}x{RESNET_MIN_SIDE}, "
                f"got {h}x{w}; use a larger image size"
            )
        bias = norm == "instance"
        # a 3x3 stride-2 conv with padding 1 maps n to ceil(n / 2); the transposed convs return to these sizes
        self.sizes = [(h, w), ((h + 1) // 2, (w + 1) // 2), ((h + 3) // 4, (w + 3) // 4)]
        self.stem = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(in_ch, ngf, 7, bias=bias), norm_layer(norm, ngf), nn.ReLU(True)
        )
        self.down = nn.Sequential(
            nn.Conv2d(ngf, 2 * ngf, 3, stride=2, padding=1, bias=bias),
            norm_layer(norm, 2 * ngf),
            nn.ReLU(True),
            nn.Conv2d(2 * ngf, 4 * ngf, 3, stride=2, padding=1, bias=bias),
            norm_layer(norm, 4 * ngf),
            nn.ReLU(True),
        )
        self.blocks = nn.Sequential(*[ResnetBlock(4 * ngf, norm) for _ in range(n_blocks)])
        if upsample == "nearest":
            self.up1: nn.Module = UpsampleConv(4 * ngf, 2 * ngf, 3, bias=bias)
            self.up2: nn.Module = UpsampleConv(2 * ngf, ngf, 3, bias=bias)
        else:
            self.up1 = nn.ConvTranspose2d(4 * ngf, 2 * ngf, 3, stride=2, padding=1, output_padding=1, bias=bias)
            self.up2 = nn.ConvTranspose2d(2 * ngf, ngf, 3, stride=2, padding=1, output_padding=1, bias=bias)
        self.post1 = nn.Sequential(norm_layer(norm, 2 * ngf), nn.ReLU(True))
        self.post2 = nn.Sequential(norm_layer(norm, ngf), nn.ReLU(True))
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_ch, 7), nn.Tanh())
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.down(self.stem(x)))  # (B, 4 ngf, ceil(H/4), ceil(W/4))
        h = self.post1(self.up1(h, output_size=self.sizes[1]))
        h = self.post2(self.up2(h, output_size=self.sizes[0]))
        return self.head(h)


# ---------------------------------------------------------------------------------------------
# PatchGAN discriminator
# ---------------------------------------------------------------------------------------------

PATCH_MIN_SIDE = 3  # the two final stride-1 4x4 convs take one pixel each from a side


def patch_receptive_field(n_layers: int, last_stride: int = 1) -> int:
    """Side of the input patch one output logit sees: 9 * 2**n - 2 (7, 16, 34, 70, 142, ...), or with
    ``last_stride=2`` 6 * 2**(n + 1) - 2 (10, 22, 46, 94, ...).

    Back from the output: two 4x4 stride-1 convs give 1 + 3 + 3 = 7 (one gives 4); each 4x4 stride-2
    conv maps r to 2r + 2.
    """
    if last_stride == 2:
        return 6 * 2 ** (n_layers + 1) - 2
    return 9 * 2**n_layers - 2


def patch_min_side(last_stride: int) -> int:
    """Pixels a side must keep after the n stride-2 layers: 3 for two stride-1 4x4 convs, 2 for one more
    stride-2 conv (whose output the last conv keeps at its size)."""
    return PATCH_MIN_SIDE if last_stride == 1 else 2


def default_patch_layers(height: int, width_: int, last_stride: int = 1) -> int:
    """The largest n with receptive field <= half the smaller side, and the map still large enough before
    the last convs."""
    side = min(height, width_)
    n = 0
    while patch_receptive_field(n + 1, last_stride) <= side / 2 and side // 2 ** (n + 1) >= patch_min_side(last_stride):
        n += 1
    return n


class PatchGAN(nn.Module):
    """(B, in_ch, H, W) in [-1, 1] -> (B, 1, h, w) logits, one per overlapping patch.

    n_layers x [Conv(4, s2), norm, LeakyReLU 0.2] (no norm on the first), Conv(4, s1) norm LeakyReLU,
    Conv(4, s1) -> 1 channel. Widths ndf * 2**i capped at 8 ndf, as the reference NLayerDiscriminator.
    ``last_stride=2``: the widest conv has stride 2 and the 1-channel conv zero-pads 2 before and 1 after,
    keeping the map's size.
    """

    def __init__(
        self,
        in_ch: int,
        size: tuple[int, int],
        ndf: int = 64,
        n_layers: int = -1,
        norm: str = "batch",
        last_stride: int = 1,
    ):
        super().__init__()
        h, w = size
        self.last_stride = last_stride
        self.n_layers = default_patch_layers(h, w, last_stride) if n_layers < 0 else n_layers
        least = patch_min_side(last_stride)
        if min(h, w) // 2**self.n_layers < least:
            raise GenlabError(
                f"patch_layers={self.n_layers} is too deep for {h}x{w} images (each layer halves the "
                f"side and {least} pixels must remain); use patch_layers <= "
                f"{max(0, int(math.log2(max(1, min(h, w) // least))))}"
            )
        bias = norm == "instance"
        layers: list[nn.Module] = []
        c = in_ch
        for i in range(self.n_layers):
            layers.append(nn.Conv2d(c, width(ndf, i), 4, stride=2, padding=1, bias=bias or i == 0))
            if i > 0:
                layers.append(norm_layer(norm, width(ndf, i)))
            layers.append(nn.LeakyReLU(0.2, True))
            c = width(ndf, i)
        last = width(ndf, self.n_layers)
        layers.append(nn.Conv2d(c, last, 4, stride=last_stride, padding=1, bias=bias or self.n_layers == 0))
        if self.n_layers > 0:
            layers.append(norm_layer(norm, last))
        layers.append(nn.LeakyReLU(0.2, True))
        if last_stride == 2:
            layers.append(nn.ZeroPad2d((1, 0, 1, 0)))  # with the conv's padding 1: 2 before, 1 after
        layers.append(nn.Conv2d(last, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)
        init_weights(self)

    @property
    def receptive_field(self) -> int:
        return patch_receptive_field(self.n_layers, self.last_stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ---------------------------------------------------------------------------------------------
# History pool (CycleGAN)
# ---------------------------------------------------------------------------------------------


class ImagePool:
    """The last ``size`` generated images, shown to a discriminator instead of only the newest ones.

    ``query(images)``, image by image: while the pool is not full, store the new image and return it;
    once full, with probability 1/2 return a stored image chosen uniformly (and store the new one in
    its place), otherwise return the new image. Draws come from torch's global RNG, which the
    training loop saves, so a resumed run makes the same choices. ``size = 0`` passes images through (detached).
    """

    def __init__(self, size: int = 50):
        self.size = size
        self.count = 0
        self.images: torch.Tensor | None = None  # (size, C, H, W) once the first image arrives

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images.detach()  # D's update must not reach back into G's graph
        images = images.detach()
        if self.images is None:
            self.images = images.new_zeros((self.size, *images.shape[1:]), dtype=torch.float32)
        out = []
        for img in images:
            if self.count < self.size:
                self.images[self.count] = img
                self.count += 1
                out.append(img)
            elif float(torch.rand(())) > 0.5:
                j = int(torch.randint(0, self.size, ()))
                old = self.images[j].clone().to(img.dtype)
                self.images[j] = img
                out.append(old)
            else:
                out.append(img)
        return torch.stack(out)

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        images = self.images[: self.count].cpu() if self.images is not None else torch.zeros(0)
        return {f"{prefix}.images": images, f"{prefix}.count": torch.tensor(self.count)}

    def load_state(self, state: dict[str, torch.Tensor], prefix: str, device) -> None:
        if f"{prefix}.count" not in state:
            return
        self.count = int(state[f"{prefix}.count"])
        stored = state[f"{prefix}.images"]
        if self.count == 0:
            self.images = None
            return
        self.images = torch.zeros((self.size, *stored.shape[1:]), dtype=torch.float32, device=device)
        self.images[: self.count] = stored.to(device)


# ---------------------------------------------------------------------------------------------
# helpers for the models
# ---------------------------------------------------------------------------------------------


EVAL_CHUNK = 8  # images per forward pass when translating in eval mode: a 64-image preview at 256x256
# through the U-Net in one batch holds several GB of activations


def in_chunks(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``net(x)``, a chunk of :data:`EVAL_CHUNK` images at a time in eval mode (each image's output is its
    own then: dropout off, batch norm on running statistics), the whole batch at once in training mode."""
    if net.training or len(x) <= EVAL_CHUNK:
        return net(x)
    return torch.cat([net(c) for c in x.split(EVAL_CHUNK)])


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x * 2.0 - 1.0


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1]."""
    return (x + 1.0) * 0.5


def linear_decay_schedulers(model, optimizers: dict, train, total_steps: int) -> dict:
    """``configure_schedulers`` of the translation models: every rate constant for the first ``decay_start``
    of the run, then decaying linearly to 0 (:func:`linear_decay`)."""
    if model.config.decay_start >= 1:
        return {}
    f = linear_decay(total_steps, model.config.decay_start)
    return {k: torch.optim.lr_scheduler.LambdaLR(opt, f) for k, opt in optimizers.items()}


def linear_decay(total_steps: int, decay_start: float):
    """LambdaLR factor: 1 until ``decay_start * total_steps``, then linearly down to 1/(decay length) at the
    last step."""
    start = int(decay_start * total_steps)

    def factor(step: int) -> float:
        if step < start:
            return 1.0
        return max(0.0, (total_steps - step) / max(1, total_steps - start))

    return factor


def preview_rows(rows: list[torch.Tensor], n: int) -> torch.Tensor:
    """Arrange rows of images (each (n, C, H, W)) for a near-square grid: bands of len(rows) rows.

    The grid tiles ``ceil(sqrt(B))`` images per row, so we return w*w images with w a multiple of
    len(rows) and w*w/len(rows) <= n: each band shows w examples, one row per kind (input | output | ...).
    """
    if len({row.shape[1] for row in rows}) > 1:  # e.g. gray edges beside RGB: show gray as RGB
        rows = [row.expand(-1, 3, -1, -1) if row.shape[1] == 1 else row for row in rows]
    r = len(rows)
    w = r * int(math.isqrt(n // r))  # largest multiple of r with w * w <= r * n
    if w == 0:  # too few examples for a band: interleave them
        return torch.stack(rows, 1).flatten(0, 1)
    bands = []
    for b in range(w // r):
        sl = slice(b * w, (b + 1) * w)
        bands += [row[sl] for row in rows]
    return torch.cat(bands)
