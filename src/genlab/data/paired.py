"""Built-in paired datasets for pix2pix: ``edges2fashion`` and ``maps``. A is ``images``, B is ``pair``.

edges2fashion
    A = a binary edge map of a Fashion-MNIST garment, B = the garment; 1x28x28 both sides, 60,000
    train / 10,000 test pairs from Fashion-MNIST's own splits, labels kept. Edges are Canny-like
    (Canny 1986, without hysteresis): Gaussian blur (sigma 0.8), Sobel gradients, non-maximum
    suppression across the gradient direction (4 directions), then magnitude >= 0.2 x the image's
    largest magnitude (and above an absolute floor, so flat noise makes no edges). White edges on black.

maps
    B = a flat-colour map, A = a textured aerial view of the same procedurally generated layout,
    64x64 RGB, 2,000 train / 200 test pairs ("aerial -> map" is AtoB, the pix2pix paper's maps
    task). Every layout has five classes (:data:`MAP_CLASSES`): ground, road, water (lakes from
    thresholded smooth noise, sometimes a river), park (another noise field) and building (lots on
    an 8-pixel grid, left free by the roads, water and parks). The map paints each class in one
    palette colour (``meta["palette"]``, uint8 (5, 3)); the aerial view paints soil, asphalt, rippled
    water, tree-dotted parks and shaded roofs with cast shadows. ``meta["classes"]`` holds the
    per-pixel class map uint8 (N, 64, 64); :func:`map_classes` recovers classes from any map image
    by its nearest palette colour, which is how ``pixel_accuracy`` scores generated maps.
    Layouts come in chunks of 100 from generators seeded by (split, chunk), so image i of a split
    is the same whatever is asked for; the test layouts use other seeds than the train ones.

Both are built in a few seconds, vectorised, and cached in memory (a fresh ImageData each call).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F

from genlab.data.base import ImageData
from genlab.errors import GenlabError

SPLITS = ("train", "test")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise GenlabError(f"unknown split '{split}'; choose one of: train, test")


def fashion(split: str) -> ImageData:
    """Fashion-MNIST ``split`` through genlab's IDX loader (one clear error when it is missing)."""
    from genlab.data import idx

    return idx.load_idx_dataset("fashion-mnist", split)


# ---------------------------------------------------------------------------------------------
# edges2fashion
# ---------------------------------------------------------------------------------------------

EDGE_SIGMA = 0.8
EDGE_REL_THRESHOLD = 0.2  # of the image's largest gradient magnitude
EDGE_ABS_THRESHOLD = 0.15  # Sobel magnitude on [0, 1] images


def _shift_sum(x: torch.Tensor, taps: list[float], dim: int) -> torch.Tensor:
    """1-D correlation of (N, H, W) along ``dim`` (1 or 2) with replicate padding, as a sum of shifted
    copies (single-channel conv2d is slow on CPU for many small images)."""
    r = len(taps) // 2
    n = x.shape[dim]
    xp = torch.cat(
        [x.narrow(dim, 0, 1).expand_as(x.narrow(dim, 0, r)), x, x.narrow(dim, n - 1, 1).expand_as(x.narrow(dim, 0, r))],
        dim,
    )
    out = torch.zeros_like(x)
    for i, t in enumerate(taps):
        if t != 0:
            out += t * xp.narrow(dim, i, n)
    return out


def _gaussian_taps(sigma: float) -> list[float]:
    r = max(1, round(2 * sigma))
    g = torch.exp(-(torch.arange(-r, r + 1, dtype=torch.float32) ** 2) / (2 * sigma**2))
    return (g / g.sum()).tolist()


def edge_map(images: torch.Tensor, chunk: int = 10_000) -> torch.Tensor:
    """Binary Canny-like edges of grayscale images: uint8 or [0, 1] float (N, 1, H, W) -> uint8 {0, 255}."""
    out = torch.empty(images.shape, dtype=torch.uint8)
    gauss = _gaussian_taps(EDGE_SIGMA)
    tan22 = 0.41421356  # tan(22.5 deg): sector boundaries of the gradient direction
    for a in range(0, images.shape[0], chunk):
        x = images[a : a + chunk, 0].float()  # (n, H, W)
        if images.dtype == torch.uint8:
            x = x / 255.0
        x = _shift_sum(_shift_sum(x, gauss, 1), gauss, 2)  # separable Gaussian blur
        gx = _shift_sum(_shift_sum(x, [-1.0, 0.0, 1.0], 2), [1.0, 2.0, 1.0], 1)  # Sobel, d/dx (columns)
        gy = _shift_sum(_shift_sum(x, [-1.0, 0.0, 1.0], 1), [1.0, 2.0, 1.0], 2)  # Sobel, d/dy (rows, down)
        mag = torch.sqrt(gx**2 + gy**2)
        # non-maximum suppression: keep pixels not smaller than both neighbours across the edge
        ax, ay = gx.abs(), gy.abs()
        horizontal = ay <= tan22 * ax  # gradient along x: compare left / right
        vertical = ax <= tan22 * ay  # gradient along y: compare up / down
        diag = ~horizontal & ~vertical
        same_sign = (gx * gy) > 0  # gradient towards down-right / up-left
        mp = F.pad(mag, [1, 1, 1, 1])
        h, w = mag.shape[-2:]
        nb = lambda dy, dx: mp[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]  # noqa: E731, B023 - used in this iteration
        peak_ok = (
            (horizontal & (mag >= nb(0, 1)) & (mag >= nb(0, -1)))
            | (vertical & (mag >= nb(1, 0)) & (mag >= nb(-1, 0)))
            | (diag & same_sign & (mag >= nb(1, 1)) & (mag >= nb(-1, -1)))
            | (diag & ~same_sign & (mag >= nb(1, -1)) & (mag >= nb(-1, 1)))
        )
        peak = mag.flatten(1).amax(1).view(-1, 1, 1)
        edges = peak_ok & (mag >= EDGE_REL_THRESHOLD * peak) & (mag >= EDGE_ABS_THRESHOLD)
        out[a : a + chunk, 0] = edges.to(torch.uint8) * 255
    return out


@lru_cache(maxsize=2)
def _edges2fashion(split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, tuple]:
    src = fashion(split)
    return edge_map(src.images), src.images, src.labels, tuple(src.classes or ())


def load_edges2fashion(split: str = "train") -> ImageData:
    """Paired (edges, garment) Fashion-MNIST: A = edges (``images``), B = garment (``pair``), 1x28x28."""
    _check_split(split)
    edges, garments, labels, classes = _edges2fashion(split)
    return ImageData(
        name="edges2fashion",
        images=edges.clone(),
        labels=labels.clone() if labels is not None else None,
        classes=list(classes) or None,
        pair=garments.clone(),
        meta={
            "split": split,
            "A": "edge map (Canny-like, binary)",
            "B": "Fashion-MNIST garment",
            "source": f"fashion-mnist {split}",
            "edge_threshold": EDGE_REL_THRESHOLD,
        },
    )


# ---------------------------------------------------------------------------------------------
# maps
# ---------------------------------------------------------------------------------------------

MAP_CLASSES = ("ground", "road", "water", "park", "building")
GROUND, ROAD, WATER, PARK, BUILDING = range(5)
# flat map colours, far apart so a generated map's classes are read back by the nearest colour
MAP_PALETTE = torch.tensor(
    [
        [232, 226, 212],  # ground: pale beige
        [255, 255, 255],  # road: white
        [150, 190, 240],  # water: light blue
        [165, 215, 150],  # park: light green
        [190, 176, 168],
    ],  # building: grey-brown
    dtype=torch.uint8,
)
MAP_SIZE = 64
MAP_COUNTS = {"train": 2000, "test": 200}
MAP_CHUNK = 100
MAP_SEEDS = {"train": 0, "test": 1_000_003}
CELL = 8  # building lots


def _smooth_noise(g: torch.Generator, n: int, size: int, grid: int) -> torch.Tensor:
    """Smooth random fields (n, size, size) in about [-1, 1]: bicubic upsampling of a (grid x grid) normal grid."""
    coarse = torch.randn(n, 1, grid, grid, generator=g)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[:, 0]


def _layout(g: torch.Generator, n: int, size: int) -> dict[str, Any]:
    """Class maps (n, size, size) uint8 and what the aerial renderer needs, from generator g."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")  # (S, S)
    cls = torch.full((n, size, size), GROUND, dtype=torch.uint8)
    # water: lakes where a smooth field exceeds a per-image level (0 to ~25% of the area) ...
    field = _smooth_noise(g, n, size, 5)
    level = 0.9 + 0.9 * torch.rand(n, 1, 1, generator=g)
    water = field > level
    # ... and a winding river in about half of the images
    river = torch.rand(n, 1, 1, generator=g) < 0.5
    vertical = torch.rand(n, 1, 1, generator=g) < 0.5
    u, v = torch.where(vertical, yy, xx).float(), torch.where(vertical, xx, yy).float()  # along, across
    centre = size * (0.2 + 0.6 * torch.rand(n, 1, 1, generator=g))
    amp = size * 0.12 * torch.rand(n, 1, 1, generator=g)
    freq = 2 * torch.pi * (0.5 + torch.rand(n, 1, 1, generator=g)) / size
    phase = 2 * torch.pi * torch.rand(n, 1, 1, generator=g)
    half_width = 2.0 + 2.5 * torch.rand(n, 1, 1, generator=g)
    water |= river & ((v - (centre + amp * torch.sin(freq * u + phase))).abs() < half_width)
    # parks: another field, on dry land
    park = (_smooth_noise(g, n, size, 4) > 1.0 + 0.6 * torch.rand(n, 1, 1, generator=g)) & ~water
    # roads: 1-3 horizontal and 1-3 vertical straight roads, 2-4 px wide; bridges over water
    road = torch.zeros(n, size, size, dtype=torch.bool)
    for coord in (yy, xx):
        k = torch.randint(1, 4, (n, 1, 1, 1), generator=g)
        pos = torch.randint(4, size - 4, (n, 3, 1, 1), generator=g).float()
        wid = torch.randint(2, 5, (n, 3, 1, 1), generator=g).float()
        active = torch.arange(3).view(1, 3, 1, 1) < k
        d = coord.float().view(1, 1, size, size) - pos
        road |= (active & (d >= -wid / 2) & (d < wid / 2)).any(1)
    # buildings: one rectangle per 8x8 lot with random insets, kept where it touches nothing else
    lots = size // CELL + 1
    insets = torch.randint(1, 4, (n, 4, lots, lots), generator=g)  # top, bottom, left, right margins
    built = torch.rand(n, lots, lots, generator=g) < 0.75
    up = lambda t: t.repeat_interleave(CELL, -1).repeat_interleave(CELL, -2)[..., :size, :size]  # noqa: E731
    ly, lx = yy % CELL, xx % CELL
    rect = (
        up(built)
        & (ly >= up(insets[:, 0]))
        & (ly < CELL - up(insets[:, 1]))
        & (lx >= up(insets[:, 2]))
        & (lx < CELL - up(insets[:, 3]))
    )
    blocked = road | water | park
    # drop a building's pixels next to a road or water (a one-pixel dilation), so lots keep a kerb
    near = F.max_pool2d(blocked.float()[:, None], 3, 1, 1)[:, 0] > 0
    building = rect & ~near
    cls[park] = PARK
    cls[building] = BUILDING
    cls[water] = WATER
    cls[road] = ROAD
    roof = torch.rand(n, 3, lots, lots, generator=g)  # per-lot roof colour and shading side
    return {"classes": cls, "roof": roof, "lot_y": ly, "lot_x": lx, "up": up}


def _render_map(cls: torch.Tensor) -> torch.Tensor:
    """(n, S, S) classes -> (n, 3, S, S) uint8 in the palette colours."""
    return MAP_PALETTE[cls.long()].permute(0, 3, 1, 2).contiguous()


def _render_aerial(g: torch.Generator, lay: dict) -> torch.Tensor:
    """(n, S, S) layout -> (n, 3, S, S) uint8 textured aerial photo."""
    cls = lay["classes"].long()
    n, size, _ = cls.shape
    up = lay["up"]
    fine = torch.randn(n, size, size, generator=g)  # pixel noise
    blotch = _smooth_noise(g, n, size, 12)  # mid-scale variation
    img = torch.zeros(n, 3, size, size)

    def paint(mask, rgb, texture):  # rgb (n, 3, 1, 1) or (3,), texture (n, S, S) brightness offsets
        colour = torch.as_tensor(rgb, dtype=torch.float32)
        colour = colour.view(-1, 3, 1, 1) if colour.ndim <= 2 else colour
        val = colour + texture[:, None]
        img.copy_(torch.where(mask[:, None], val, img))

    tint = 12 * torch.randn(n, 3, 1, 1, generator=g)  # per-image season / camera tint
    # soil and dry grass
    paint(cls == GROUND, torch.tensor([128.0, 118.0, 88.0]).view(1, 3, 1, 1) + tint, 14 * blotch + 6 * fine)
    # asphalt with a lighter centre line pattern
    paint(cls == ROAD, torch.tensor([78.0, 78.0, 82.0]).view(1, 3, 1, 1) + tint / 3, 5 * fine)
    # water: dark blue-green with ripples
    ripples = (
        6 * torch.sin(torch.arange(size).float().view(1, size, 1) * 1.3 + 2.0 * _smooth_noise(g, n, size, 6)) + 3 * fine
    )
    paint(cls == WATER, torch.tensor([32.0, 62.0, 84.0]).view(1, 3, 1, 1), ripples)
    # parks: green canopy dotted with darker tree crowns
    trees = (_smooth_noise(g, n, size, 20) > 0.4).float()
    paint(cls == PARK, torch.tensor([62.0, 102.0, 48.0]).view(1, 3, 1, 1) + tint / 2, -28 * trees + 8 * fine)
    # roofs: one colour per lot (grey, red or brown tones), the two halves shaded as a gable roof
    roof = lay["roof"]
    base = torch.stack([150 + 70 * roof[:, 0] - 20 * roof[:, 1], 120 + 40 * roof[:, 1], 110 + 30 * roof[:, 0]], 1)
    colour = up(base)  # (n, 3, S, S)
    ridge_vertical = up(roof[:, 2] < 0.5)
    side = torch.where(ridge_vertical, lay["lot_x"] < CELL // 2, lay["lot_y"] < CELL // 2)
    shade = torch.where(side, 18.0, -18.0) + 4 * fine
    img.copy_(torch.where((cls == BUILDING)[:, None], colour + shade[:, None], img))
    # cast shadows: darken ground / park pixels just below-right of a building
    b = (cls == BUILDING).float()[:, None]
    shadow = (F.pad(b, [1, 0, 1, 0])[..., :size, :size] + F.pad(b, [2, 0, 2, 0])[..., :size, :size]) > 0
    shadow &= (cls != BUILDING)[:, None] & (cls != ROAD)[:, None]
    img = torch.where(shadow, img * 0.55, img)
    # a touch of blur, as a real photo
    k = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    img = 0.5 * img + 0.5 * F.conv2d(F.pad(img, [1, 1, 1, 1], mode="replicate"), k.expand(3, 1, 3, 3), groups=3)
    return img.round().clamp(0, 255).to(torch.uint8)


def render_maps(split: str, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Maps ``start:stop`` of ``split``: (aerial (n, 3, 64, 64), map (n, 3, 64, 64), classes (n, 64, 64)) uint8.

    Rendered chunk by chunk, each chunk from its own seeded generator, so a row never depends on how many are asked for.
    """
    _check_split(split)
    aerial, maps, classes = [], [], []
    for c in range(start // MAP_CHUNK, (stop + MAP_CHUNK - 1) // MAP_CHUNK):
        g = torch.Generator().manual_seed(MAP_SEEDS[split] + c)
        lay = _layout(g, MAP_CHUNK, MAP_SIZE)
        aerial.append(_render_aerial(g, lay))
        maps.append(_render_map(lay["classes"]))
        classes.append(lay["classes"])
    lo = start - (start // MAP_CHUNK) * MAP_CHUNK
    pick = lambda ts: torch.cat(ts)[lo : lo + stop - start]  # noqa: E731
    return pick(aerial), pick(maps), pick(classes)


@lru_cache(maxsize=2)
def _maps(split: str):
    return render_maps(split, 0, MAP_COUNTS[split])


def load_maps(split: str = "train") -> ImageData:
    """Paired (aerial, map) layouts: A = aerial view (``images``), B = flat map (``pair``), 3x64x64."""
    _check_split(split)
    aerial, maps, classes = _maps(split)
    return ImageData(
        name="maps",
        images=aerial.clone(),
        pair=maps.clone(),
        meta={
            "split": split,
            "A": "aerial view",
            "B": "map",
            "palette": MAP_PALETTE.clone(),
            "class_names": list(MAP_CLASSES),
            "classes": classes.clone(),
            "size": f"{MAP_COUNTS['train']} train / {MAP_COUNTS['test']} test, 64x64 RGB",
        },
    )


def map_classes(maps: torch.Tensor) -> torch.Tensor:
    """Per-pixel classes of map images by the nearest palette colour.

    maps: (N, 3, H, W), uint8 or float in [0, 1] -> (N, H, W) int64 indices into :data:`MAP_CLASSES`.
    """
    if maps.ndim != 4 or maps.shape[1] != 3:
        raise GenlabError(f"map images must be (N, 3, H, W), got {tuple(maps.shape)}")
    x = maps.float() if maps.dtype == torch.uint8 else maps.float() * 255
    pal = MAP_PALETTE.float().to(x.device)  # (K, 3)
    d = (x[:, None] - pal.view(1, -1, 3, 1, 1)).pow(2).sum(2)  # (N, K, H, W)
    return d.argmin(1)


def pixel_accuracy(generated_maps: torch.Tensor, true_classes: torch.Tensor) -> float:
    """Share of pixels whose nearest-palette class in ``generated_maps`` equals ``true_classes`` (N, H, W)."""
    pred = map_classes(generated_maps)
    if pred.shape != true_classes.shape:
        raise GenlabError(
            f"generated maps are {tuple(pred.shape[1:])} but the classes are "
            f"{tuple(true_classes.shape[1:])}; compare at the dataset's size"
        )
    return float((pred == true_classes.to(pred.device).long()).float().mean())
