"""The in-memory dataset every model trains on, and batching by indexing.

All images are held as one uint8 tensor ``(N, C, H, W)``; a batch is ``images[idx]`` converted to
float in [0, 1]. Audio features (the voice datasets) are held as float32 ``(N, 1, D, T)`` and used as
they are. No per-sample Python loop anywhere on the training path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ImageData:
    """Images in memory as uint8 ``(N, C, H, W)``, with optional labels and generative factors.

    ``pair`` holds the second image of each pair for paired datasets (pix2pix), ``(N, C2, H, W)``.
    ``factors`` holds integer factor indices ``(N, F)`` for datasets with known factors (dSprites);
    ``factor_sizes`` the number of values of each factor, ``factor_names`` their names.
    """

    name: str
    images: torch.Tensor  # (N, C, H, W) uint8, or float32 features (voices)
    labels: torch.Tensor | None = None  # (N,) int64
    classes: list[str] | None = None
    factors: torch.Tensor | None = None  # (N, F) int64
    factor_sizes: list[int] | None = None
    factor_names: list[str] | None = None
    pair: torch.Tensor | None = None  # (N, C2, H, W) uint8
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.images.dtype not in (torch.uint8, torch.float32) or self.images.ndim != 4:
            raise ValueError(
                f"images must be uint8 (N, C, H, W) (or float32 features), got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def shape(self) -> tuple[int, ...]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])

    @property
    def num_classes(self) -> int | None:
        if self.classes is not None:
            return len(self.classes)
        if self.labels is not None:
            return int(self.labels.max()) + 1
        return None

    def subset(self, idx: torch.Tensor) -> ImageData:
        """A new ImageData holding rows ``idx`` (a view-free index copy)."""
        pick = lambda t: None if t is None else t[idx]  # noqa: E731
        return ImageData(
            self.name,
            self.images[idx],
            pick(self.labels),
            self.classes,
            pick(self.factors),
            self.factor_sizes,
            self.factor_names,
            pick(self.pair),
            dict(self.meta),
        )


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 in [0, 1]; float features are returned as float32 copies, unscaled."""
    if images.dtype != torch.uint8:
        return images.float().clone()
    return images.float().div_(255.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float in [0, 1] -> uint8, rounded and clamped."""
    return images.detach().clamp(0, 1).mul(255).round().to(torch.uint8)


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 (N, C, H, W) to (N, C, size, size): antialiased bilinear, in chunks, uint8 out.

    Non-square images are center-cropped to a square first.
    """
    n, c, h, w = images.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    images = images[:, :, top : top + side, left : left + side]
    if side == size:
        return images.contiguous()
    out = torch.empty((n, c, size, size), dtype=torch.uint8)
    for a in range(0, n, 4096):
        x = images[a : a + 4096].float()
        y = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[a : a + 4096] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out
