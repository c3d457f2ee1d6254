"""Networks shared by the families: MLP and convolutional encoders and decoders for any image size.

Size rule (conv): each of the ``depth`` stride-2 stages maps a side of n pixels to ceil(n / 2);
the decoder upsamples to the exact sizes the encoder saw, so every size from 4x4 up works
(8x8 digits, 28x28 Fashion-MNIST, 64x64 dSprites, and odd user sizes such as 30x45).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ..errors import GenlabError

MIN_CONV_SIDE = 4


def conv_sizes(height: int, width: int, depth: int) -> list[tuple[int, int]]:
    """Feature-map sizes after each stride-2 stage, input first: [(H, W), (ceil(H/2), ceil(W/2)), ...]."""
    sizes = [(height, width)]
    for _ in range(depth):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def default_depth(height: int, width: int) -> int:
    """Stride-2 stages for an image: halve until the smaller side is about 4 (1 for 8x8, 2 for 28x28, 4 for 64x64)."""
    return max(1, min(5, int(math.log2(min(height, width))) - 2))


def check_conv_size(shape: tuple[int, ...]) -> None:
    c, h, w = shape
    if min(h, w) < MIN_CONV_SIDE:
        raise GenlabError(
            f"conv networks need images of at least {MIN_CONV_SIDE}x{MIN_CONV_SIDE}, got {h}x{w}; "
            "use --set arch=mlp or a larger image size"
        )


def default_channels(shape: tuple[int, ...], base: int = 32) -> tuple[int, ...]:
    """Channel widths per stage: base, 2*base, ... capped at 8*base."""
    depth = default_depth(shape[1], shape[2])
    return tuple(min(base * 2**i, base * 8) for i in range(depth))


def mlp(sizes: list[int], act: Callable[[], nn.Module] = nn.ReLU, last_act: bool = False) -> nn.Sequential:
    """Linear layers sizes[0] -> ... -> sizes[-1] with ``act`` between them."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or last_act:
            layers.append(act())
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, out_features): stride-2 conv stages, then flatten and a linear layer."""

    def __init__(self, shape: tuple[int, ...], channels: tuple[int, ...], out_features: int):
        super().__init__()
        check_conv_size(shape)
        c, h, w = shape
        layers: list[nn.Module] = []
        for ch in channels:
            layers += [nn.Conv2d(c, ch, 3, stride=2, padding=1), nn.BatchNorm2d(ch), nn.LeakyReLU(0.2)]
            c = ch
        self.features = nn.Sequential(*layers)
        fh, fw = conv_sizes(h, w, len(channels))[-1]
        self.head = nn.Linear(c * fh * fw, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class ConvDecoder(nn.Module):
    """(B, in_features) -> (B, C, H, W) logits: a linear layer to the smallest map, then one stride-2
    transposed conv per stage (DCGAN style), each cropped to the exact size the encoder saw, so any
    image size works. The last stage outputs the image channels directly (no full-resolution conv
    on wide features: it is the most expensive layer a decoder can have)."""

    def __init__(
        self,
        shape: tuple[int, ...],
        channels: tuple[int, ...],
        in_features: int,
        act: nn.Module | None = None,
        fc_norm: str = "",
        bias: bool = True,
    ):
        super().__init__()
        check_conv_size(shape)
        c, h, w = shape
        sizes = conv_sizes(h, w, len(channels))
        chans = list(channels)[::-1]  # widest first
        self.start = (chans[0], *sizes[-1])
        n0 = chans[0] * sizes[-1][0] * sizes[-1][1]
        # fc_norm: BatchNorm on the first map, per feature ('features') or per channel ('channels':
        # Radford et al.'s generator, whose 4x4 transposed conv on the 1x1 noise is this linear layer)
        check_choice("fc_norm", fc_norm, ("", "features", "channels"))
        self.fc = (
            nn.Sequential(nn.Linear(in_features, n0, bias=bias), nn.BatchNorm1d(n0))
            if fc_norm == "features"
            else nn.Linear(in_features, n0, bias=bias)
        )
        self.start_norm = nn.BatchNorm2d(chans[0]) if fc_norm == "channels" else None
        self.sizes = [tuple(s) for s in reversed(sizes[:-1])]  # target size of each stage
        outs = chans[1:] + [c]
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(i, o, 4, stride=2, padding=1, bias=bias) for i, o in zip(chans, outs)
        )
        self.norms = nn.ModuleList(nn.BatchNorm2d(o) for o in outs[:-1])
        self.act = act if act is not None else nn.LeakyReLU(0.2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], *self.start)  # (B, C0, h0, w0)
        x = self.act(x if self.start_norm is None else self.start_norm(x))
        for i, (up, (h, w)) in enumerate(zip(self.ups, self.sizes)):
            x = up(x)[:, :, :h, :w]  # (B, C_i, 2h_{i-1}, 2w_{i-1}) cropped to the encoder's size
            if i < len(self.norms):
                x = self.act(self.norms[i](x))
        return x  # (B, C, H, W) logits


class UpsampleDecoder(nn.Module):
    """(B, in_features) -> (B, C, H, W) logits: a linear layer to the smallest map with BatchNorm, then
    per stage nearest-neighbour upsampling by 2 (cropped to the size the encoder saw), a 3x3 conv,
    BatchNorm and LeakyReLU(0.2), and a last 3x3 conv to the image channels. Upsampling + conv
    instead of a stride-2 transposed conv avoids its checkerboard artifacts (Odena et al. 2016).
    ``channels``: the widths from the smallest map up, one upsampling stage per width after the first.
    """

    def __init__(self, shape: tuple[int, ...], channels: tuple[int, ...], in_features: int):
        super().__init__()
        check_conv_size(shape)
        c, h, w = shape
        sizes = conv_sizes(h, w, len(channels) - 1)
        self.start = (channels[0], *sizes[-1])
        self.fc = nn.Linear(in_features, math.prod(self.start))
        self.start_norm = nn.BatchNorm2d(channels[0])
        self.sizes = [tuple(s) for s in reversed(sizes[:-1])]
        self.convs = nn.ModuleList(nn.Conv2d(i, o, 3, padding=1) for i, o in zip(channels[:-1], channels[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm2d(o) for o in channels[1:])
        self.act = nn.LeakyReLU(0.2)
        self.out = nn.Conv2d(channels[-1], c, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.start_norm(self.fc(z).view(z.shape[0], *self.start))  # (B, C0, h0, w0)
        for conv, norm, (h, w) in zip(self.convs, self.norms, self.sizes):
            # channels-last: the CPU kernel of nearest upsampling is ~20x faster in that layout
            x = x.contiguous(memory_format=torch.channels_last)
            x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")[:, :, :h, :w]  # (B, C_i, h_i, w_i)
            x = self.act(norm(conv(x)))
        return self.out(x)  # (B, C, H, W) logits


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise GenlabError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")


def build_encoder(
    arch: str, shape: tuple[int, ...], out_features: int, hidden: tuple[int, ...], channels: tuple[int, ...]
) -> nn.Module:
    """Image (B, C, H, W) -> (B, out_features). ``arch`` is 'mlp' or 'conv'."""
    if arch == "mlp":
        return nn.Sequential(nn.Flatten(), mlp([math.prod(shape), *hidden, out_features]))
    return ConvEncoder(shape, channels or default_channels(shape), out_features)


def build_decoder(
    arch: str, shape: tuple[int, ...], in_features: int, hidden: tuple[int, ...], channels: tuple[int, ...]
) -> nn.Module:
    """(B, in_features) -> logits (B, C, H, W). Mirror of :func:`build_encoder`."""
    if arch == "mlp":
        return nn.Sequential(mlp([in_features, *reversed(hidden), math.prod(shape)]), nn.Unflatten(1, shape))
    return ConvDecoder(shape, channels or default_channels(shape), in_features)


def init_weights(net: nn.Module, std: float = 0.02) -> nn.Module:
    """The papers' initialisation: conv weights N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return net
