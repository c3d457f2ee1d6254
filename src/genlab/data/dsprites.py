"""dSprites (Matthey et al. 2017): the full factor grid, rendered by genlab or read from the original npz.

737,280 binary 64x64 images, one for every combination of

=========== ====== =================================================================
factor      values
=========== ====== =================================================================
color       1      white
shape       3      square, ellipse, heart
scale       6      linspace(0.5, 1, 6)
orientation 40     linspace(0, 2 pi, 40): endpoint *included*, as in the original npz
                   (its values step by 2 pi / 39, so orientation 0 and 39 look alike)
posX        32     linspace(0, 1, 32): sprite centre at pixel column 15.5 + 31 * posX
posY        32     linspace(0, 1, 32): sprite centre at pixel row 15.5 + 31 * posY (down)
=========== ====== =================================================================

stored in the original's order: image ``i`` has factor indices ``np.unravel_index(i, FACTOR_SIZES)``
(posY varies fastest). One position step is exactly one pixel, so every image is one of 720 base
sprites (shape x scale x orientation, a 32x32 patch) placed at an integer offset: rendering any
set of images is a gather from 720 small patches, and the full grid needs no per-image work.

Sprites are drawn by an inside test on a 4x4-supersampled pixel grid, kept where at least half a
pixel is covered: a square of side 20 px at scale 1, an ellipse with semi-axes 13 x 6.5 px and a
heart ``(x^2 + y^2 - 1)^3 <= x^2 y^3`` about 25 px wide; all rotate counter-clockwise on screen.
The shapes are genlab's own drawing, close to but not pixel-identical with DeepMind's files. When
the original ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` is in a lookup folder it is used
instead (checked, then converted once to a bit-packed cache).
"""

from __future__ import annotations

import hashlib
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from genlab.data import paths
from genlab.data.base import ImageData, resize_images
from genlab.errors import GenlabError

FACTOR_NAMES = ["color", "shape", "scale", "orientation", "posX", "posY"]
FACTOR_SIZES = [1, 3, 6, 40, 32, 32]
NUM_IMAGES = int(np.prod(FACTOR_SIZES))  # 737,280
SHAPES = ["square", "ellipse", "heart"]
FACTOR_VALUES = {
    "color": np.array([1.0]),
    "shape": np.array([1.0, 2.0, 3.0]),
    "scale": np.linspace(0.5, 1.0, 6),
    "orientation": np.linspace(0.0, 2 * np.pi, 40),
    "posX": np.linspace(0.0, 1.0, 32),
    "posY": np.linspace(0.0, 1.0, 32),
}
_STRIDES = np.array([int(np.prod(FACTOR_SIZES[i + 1 :])) for i in range(6)], dtype=np.int64)

PATCH = 32  # base sprites are drawn on a 32x32 patch, centre at (15.5, 15.5)
SIZE = 64
RADIUS = 10.0  # px at scale 1: half the side of the square
SUPERSAMPLE = 4

NPZ_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
# SHA-1 of DeepMind's npz as recorded in public loaders; no SHA-256 was found, so a file with another
# hash is accepted only if its contents pass the structure check in `_check_npz`.
NPZ_SHA1 = "3e0a46a9238e425f46a6ef9e9bdfd7cedb35d50f"
GRID_NAME = "genlab_dsprites_v1_packed.npy"  # rendered grid, bit-packed (N, 512)

TRAIN_SIZE = 100_000  # images in load_dataset("dsprites", "train"): 410 MB as uint8
TEST_SIZE = 10_000
SPLIT_SEED = 0


@lru_cache(maxsize=1)
def sprite_patches() -> np.ndarray:
    """The 720 base sprites: uint8 (3, 6, 40, 32, 32), 0 or 255, centred on the patch."""
    sub = (np.arange(PATCH * SUPERSAMPLE) + 0.5) / SUPERSAMPLE - PATCH / 2  # sub-pixel centres
    x = sub[None, :]  # screen x (right)
    y = -sub[:, None]  # screen y (up); rows go down
    theta = FACTOR_VALUES["orientation"][None, :, None, None]  # (1, 40, 1, 1)
    r = RADIUS * FACTOR_VALUES["scale"][:, None, None, None]  # (6, 1, 1, 1)
    # undo the sprite's counter-clockwise rotation: sprite coordinates in units of r, (6, 40, S, S)
    c, s = np.cos(theta), np.sin(theta)
    u = (c * x + s * y) / r
    v = (-s * x + c * y) / r
    square = (np.abs(u) <= 1) & (np.abs(v) <= 1)
    ellipse = (u / 1.3) ** 2 + (v / 0.65) ** 2 <= 1
    hx, hy = u / 1.1, v / 1.1 + 0.1  # heart curve spans x in [-1.14, 1.14], y in [-1, 1.24]
    heart = (hx**2 + hy**2 - 1) ** 3 <= hx**2 * hy**3
    inside = np.stack([square, ellipse, heart]).astype(np.float32)  # (3, 6, 40, S, S)
    cover = inside.reshape(3, 6, 40, PATCH, SUPERSAMPLE, PATCH, SUPERSAMPLE).mean(axis=(4, 6))
    return np.where(cover >= 0.5, 255, 0).astype(np.uint8)


def factors_of(indices) -> np.ndarray:
    """Image indices (B,) -> factor indices (B, 6), in FACTOR_NAMES order."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= NUM_IMAGES):
        raise GenlabError(f"dSprites indices must lie in [0, {NUM_IMAGES}); got {idx.min()}..{idx.max()}")
    return np.stack(np.unravel_index(idx, FACTOR_SIZES), axis=-1).astype(np.int64)


def index_of(factors) -> np.ndarray:
    """Factor indices (B, 6) -> image indices (B,)."""
    f = np.asarray(factors, dtype=np.int64)
    if f.ndim != 2 or f.shape[1] != 6:
        raise GenlabError(f"dSprites factors must have shape (B, 6); got {f.shape}")
    if (f < 0).any() or (f >= np.array(FACTOR_SIZES)).any():
        raise GenlabError(f"dSprites factor indices out of range; sizes are {FACTOR_SIZES}")
    return f @ _STRIDES


def render(factors, chunk: int = 16384) -> np.ndarray:
    """Render the images of factor rows (B, 6) directly: uint8 (B, 64, 64), 0 or 255."""
    f = factors_of(index_of(factors))  # validates
    patches = sprite_patches()
    out = np.zeros((len(f), SIZE, SIZE), dtype=np.uint8)
    ar = np.arange(PATCH)
    for a in range(0, len(f), chunk):
        g = f[a : a + chunk]
        rows = g[:, 5, None, None] + ar[None, :, None]  # (b, 32, 1)  posY -> row offset
        cols = g[:, 4, None, None] + ar[None, None, :]  # (b, 1, 32)  posX -> column offset
        b = np.arange(a, a + len(g))[:, None, None]
        out[b, rows, cols] = patches[g[:, 1], g[:, 2], g[:, 3]]
    return out


def render_grid(path: Path) -> Path:
    """Render all 737,280 images, bit-packed (N, 512), to ``path`` (.npy) atomically.

    Per base sprite, the 32x32 images of all positions are windows of one padded canvas; only the
    packed bits (377 MB) are ever held, never the 3 GB of pixels.
    """
    base = sprite_patches().reshape(-1, PATCH, PATCH)  # (720, 32, 32) in (shape, scale, orientation) order
    header = np.lib.format.header_data_from_array_1_0(np.zeros((0, 512), np.uint8))
    header["shape"] = (len(base) * 32 * 32, SIZE * SIZE // 8)
    window = np.lib.stride_tricks.sliding_window_view

    def write(fobj):
        np.lib.format.write_array_header_1_0(fobj, header)
        canvas = np.zeros((SIZE + PATCH - 1, SIZE + PATCH - 1), dtype=np.uint8)  # (95, 95), patch at 31
        for patch in base:
            canvas[31 : 31 + PATCH, 31 : 31 + PATCH] = patch
            # window (a, b) = canvas[a:a+64, b:b+64] holds the patch at offset (31-a, 31-b)
            w = window(canvas, (SIZE, SIZE))[::-1, ::-1]  # (posY, posX, 64, 64)
            # grid order is posX-major: (posX, posY, 64, 64)
            block = np.ascontiguousarray(w.transpose(1, 0, 2, 3)).reshape(-1, SIZE * SIZE)
            fobj.write(np.packbits(block > 0, axis=1).tobytes())

    path.parent.mkdir(parents=True, exist_ok=True)
    return paths.atomic_write(path, write)


def find_npz() -> Path | None:
    """The original dSprites npz in a lookup folder, if any."""
    return next((d / NPZ_NAME for d in paths.search_dirs("dsprites") if (d / NPZ_NAME).is_file()), None)


def _check_npz(path: Path) -> str:
    """Check the original npz and return its SHA-256; raise a one-line error if it is not dSprites."""
    sha1, sha256 = hashlib.sha1(), hashlib.sha256()
    with open(path, "rb") as fobj:
        for block in iter(lambda: fobj.read(1 << 22), b""):
            sha1.update(block)
            sha256.update(block)
    if sha1.hexdigest() == NPZ_SHA1:
        return sha256.hexdigest()
    bad = GenlabError(
        f"{path} is not the original dSprites npz (unknown hash and wrong contents); delete it "
        "and genlab renders dSprites itself"
    )
    try:
        with np.load(path, allow_pickle=False) as z:
            classes = z["latents_classes"]
            with z.zip.open("imgs.npy") as member:
                np.lib.format.read_magic(member)
                shape, _, dtype = np.lib.format._read_array_header(member, (1, 0))  # type: ignore[attr-defined]
    except Exception:
        raise bad from None
    probe = np.array([0, 1, 1234, 456789, NUM_IMAGES - 1])
    if (
        shape != (NUM_IMAGES, SIZE, SIZE)
        or dtype != np.uint8
        or classes.shape != (NUM_IMAGES, 6)
        or not np.array_equal(classes[probe], factors_of(probe))
    ):
        raise bad
    return sha256.hexdigest()


def _pack_npz(npz: Path, target: Path, rows: int = 16384) -> Path:
    """Stream ``imgs`` out of the npz in chunks and store it bit-packed (N, 512) at ``target``."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros((0, 512), np.uint8))
    header["shape"] = (NUM_IMAGES, SIZE * SIZE // 8)

    def write(fobj):
        np.lib.format.write_array_header_1_0(fobj, header)
        with zipfile.ZipFile(npz) as z, z.open("imgs.npy") as member:
            np.lib.format.read_magic(member)
            np.lib.format._read_array_header(member, (1, 0))
            for _ in range(0, NUM_IMAGES, rows):
                block = np.frombuffer(member.read(rows * SIZE * SIZE), np.uint8).reshape(-1, SIZE * SIZE)
                fobj.write(np.packbits(block > 0, axis=1).tobytes())

    return paths.atomic_write(target, write)


class DSprites:
    """The dSprites grid with the sampling interface disentanglement metrics need.

    ``source``: ``"auto"`` (the original npz when found, else genlab's rendering), ``"render"``
    (draw requested images on the fly, nothing cached), ``"grid"`` (render the full grid once into a
    bit-packed cache and read rows from it) or ``"npz"`` (the original file; error if absent).
    """

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    num_images = NUM_IMAGES

    def __init__(self, source: str = "auto"):
        if source not in ("auto", "render", "grid", "npz"):
            raise GenlabError(f"unknown dSprites source '{source}'; choose one of: auto, grid, npz, render")
        npz = find_npz() if source in ("auto", "npz") else None
        if source == "npz" and npz is None:
            raise GenlabError(
                f"{NPZ_NAME} was not found; put it in {paths.cache_root() / 'dsprites'} "
                "or set GENLAB_DATA to a folder holding dsprites/"
            )
        self.source = "npz" if npz is not None else ("grid" if source == "grid" else "render")
        self._npz = npz
        self._packed: np.ndarray | None = None

    def packed(self) -> np.ndarray:
        """All images bit-packed, (N, 512) uint8 (memory-mapped); built and cached on first use."""
        if self._packed is None:
            if self.source == "npz":
                assert self._npz is not None  # source 'npz' means a file was found
                digest = _check_npz(self._npz)
                target = paths.cache_dir("dsprites") / f"npz_{digest[:16]}_packed.npy"
                if not target.is_file():
                    _pack_npz(self._npz, target)
            else:
                target = paths.cache_dir("dsprites") / GRID_NAME
                if not target.is_file():
                    render_grid(target)
            packed = np.load(target, mmap_mode="r")
            if packed.shape != (NUM_IMAGES, SIZE * SIZE // 8) or packed.dtype != np.uint8:
                raise GenlabError(f"{target} is damaged (shape {packed.shape}); delete it and it is rebuilt")
            self._packed = packed
        return self._packed

    def images(self, indices) -> torch.Tensor:
        """Images by index: uint8 (B, 1, 64, 64), 0 or 255."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if self.source == "render":
            return torch.from_numpy(render(factors_of(idx))).unsqueeze(1)
        factors_of(idx)  # validates the range
        bits = np.unpackbits(self.packed()[np.sort(idx)], axis=1)  # sorted reads from the memmap
        order = np.argsort(np.argsort(idx, kind="stable"), kind="stable")
        out = (bits[order] * np.uint8(255)).reshape(-1, 1, SIZE, SIZE)
        return torch.from_numpy(out)

    def index_of(self, factors) -> np.ndarray:
        """Factor indices (B, 6) -> image indices (B,)."""
        return index_of(factors)

    def factors_of(self, indices) -> np.ndarray:
        """Image indices (B,) -> factor indices (B, 6)."""
        return factors_of(indices)

    def sample_factors(self, n: int, generator: np.random.Generator | int | None = None) -> np.ndarray:
        """``n`` factor rows (n, 6), each factor uniform over its values."""
        rng = np.random.default_rng(generator)
        return np.stack([rng.integers(0, size, n) for size in FACTOR_SIZES], axis=1).astype(np.int64)

    def sample_observations_from_factors(self, factors, generator=None) -> torch.Tensor:
        """The images of factor rows (B, 6): uint8 (B, 1, 64, 64). dSprites is noise-free, so
        ``generator`` is unused (kept for disentanglement_lib's interface)."""
        return self.images(index_of(factors))

    def sample(self, n: int, generator=None) -> tuple[np.ndarray, torch.Tensor]:
        """(factors (n, 6), images (n, 1, 64, 64)) drawn uniformly."""
        factors = self.sample_factors(n, generator)
        return factors, self.sample_observations_from_factors(factors, generator)


def split_indices(split: str) -> np.ndarray:
    """The fixed, disjoint image indices of the train (100k) and test (10k) subsets, in seeded
    random order (so the first images of a split already show every shape, size and place)."""
    perm = np.random.default_rng(SPLIT_SEED).permutation(NUM_IMAGES)
    return perm[:TEST_SIZE] if split == "test" else perm[TEST_SIZE : TEST_SIZE + TRAIN_SIZE]


def load_dsprites(split: str = "train", image_size: int | None = None, source: str = "auto") -> ImageData:
    """A fixed seeded subset of dSprites as an ImageData with factors (the full grid is 3 GB unpacked).

    train: 100,000 images, test: 10,000 other images (seed 0); use :class:`DSprites` for the whole grid.
    """
    ds = DSprites(source)
    idx = split_indices(split)
    images = ds.images(idx)
    if image_size is not None and image_size != SIZE:
        images = resize_images(images, image_size)
    n = TRAIN_SIZE if split == "train" else TEST_SIZE
    return ImageData(
        name="dsprites",
        images=images,
        factors=torch.from_numpy(factors_of(idx)),
        factor_sizes=list(FACTOR_SIZES),
        factor_names=list(FACTOR_NAMES),
        meta={
            "split": split,
            "source": ds.source,
            "subset": f"{n} of {NUM_IMAGES} images, fixed seeded permutation (seed {SPLIT_SEED}); "
            "train and test disjoint",
            "indices_seed": SPLIT_SEED,
        },
    )
