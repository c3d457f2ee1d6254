"""Image sets to compare with ``genlab fid``: folders, arrays, dataset splits and a run's samples.

:func:`load_image_set` turns what the user names into uint8 ``(N, C, H, W)`` images:

- a folder of image files (searched recursively, sorted by path; center-cropped to a square; a
  folder of mixed sizes is resized to its most common size, said once);
- a ``.npy`` / ``.npz`` array of images: ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)`` with C in
  1, 3 (4: alpha dropped), uint8, or float in [0, 1] (or in [-1, 1], mapped to [0, 1], said once);
- a built-in dataset split, ``name:split`` (``fashion-mnist:test``);
- a run directory: ``n`` images drawn from the trained model (classes in turn for a conditional one).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import GenlabError

ARRAY_SUFFIXES = (".npy", ".npz")
RUN_SAMPLES = 10_000  # images drawn from a run when no count is given (the published FID protocols)


@dataclass
class ImageSet:
    """uint8 images ``(N, C, H, W)``, what they are, and whether their features may be cached."""

    images: torch.Tensor
    name: str  # "fashion-mnist:test", "folder samples/", "array x.npy", "run runs/gan (samples)"
    cacheable: bool = True  # False for freshly drawn samples
    notes: list[str] = field(default_factory=list)  # conversions made while loading

    def describe(self) -> str:
        n, c, h, w = self.images.shape
        return f"{self.name}: {n} images, {'gray' if c == 1 else 'RGB'} {h}x{w}"


def _folder(path: Path, limit: int | None) -> ImageSet:
    from PIL import Image

    from ..data.folders import IMAGE_EXTS, color_mode, read_images

    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_EXTS
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        raise GenlabError(
            f"{path} holds no images ({', '.join(sorted(IMAGE_EXTS))}); give a folder of images, "
            "a .npy/.npz array, a dataset split such as fashion-mnist:test, or a run directory"
        )
    files = files[:limit] if limit else files
    sizes: Counter = Counter()
    for f in files:
        try:
            with Image.open(f) as im:
                sizes[min(im.size)] += 1
        except (OSError, ValueError):
            raise GenlabError(f"cannot read image {f}; fix or remove the file") from None
    side = sizes.most_common(1)[0][0]
    notes = (
        []
        if len(sizes) == 1
        else [f"{path}: images of {len(sizes)} sizes, all resized to the most common, {side}x{side}"]
    )
    return ImageSet(read_images(files, side, mode=color_mode(files)), f"folder {path}", notes=notes)


def _array_from_file(path: Path) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise GenlabError(
            f"cannot read {path} as a NumPy array ({str(e).splitlines()[0][:100]}); "
            "save the images with numpy.save (no pickled objects)"
        ) from None
    if isinstance(data, np.ndarray):
        return data
    with data:
        keys = list(data.keys())
        key = keys[0] if len(keys) == 1 else next((k for k in ("images", "x", "arr_0") if k in keys), None)
        if key is None:
            raise GenlabError(f"{path} holds several arrays ({', '.join(keys)}); name the images 'images'")
        return data[key]


def images_from_array(arr, name: str) -> ImageSet:
    """uint8 ``(N, C, H, W)`` from an array of images in one of the layouts of this module's docstring."""
    arr = np.asarray(arr.detach().cpu() if isinstance(arr, torch.Tensor) else arr)
    notes = []
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[1] in (1, 3) and arr.shape[3] > 4:
        pass  # (N, C, H, W)
    elif arr.ndim == 4 and arr.shape[3] in (1, 3, 4):
        arr = arr.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    else:
        raise GenlabError(
            f"{name} has shape {arr.shape}; give images as (N, H, W), (N, H, W, C) or (N, C, H, W) with 1 or 3 channels"
        )
    if arr.shape[1] == 4:
        arr, notes = arr[:, :3], [f"{name}: alpha channel dropped"]
    if arr.shape[0] < 1:
        raise GenlabError(f"{name} holds no images")
    if arr.dtype == np.uint8:
        return ImageSet(torch.from_numpy(np.ascontiguousarray(arr)), name, notes=notes)
    if not np.issubdtype(arr.dtype, np.floating):
        raise GenlabError(f"{name} has dtype {arr.dtype}; give uint8 images or floats in [0, 1]")
    lo, hi = float(arr.min()), float(arr.max())
    if not np.isfinite([lo, hi]).all() or lo < -1 - 1e-6 or hi > 1 + 1e-6:
        raise GenlabError(f"{name} has values in [{lo:.3g}, {hi:.3g}]; give uint8 images or floats in [0, 1]")
    if lo < 0:
        arr, notes = (arr + 1) / 2, [*notes, f"{name}: values in [-1, 1], mapped to [0, 1]"]
    images = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).clamp(0, 1).mul(255).round()
    return ImageSet(images.to(torch.uint8), name, notes=notes)


def _dataset_split(spec: str) -> ImageSet:
    from ..data import DATASETS, load_dataset

    name, _, split = spec.rpartition(":")
    if name not in DATASETS:
        raise GenlabError(
            f"'{spec}' is not a folder, an array, a run or a dataset split; a split is NAME:SPLIT "
            f"with NAME one of {', '.join(sorted(DATASETS))} and SPLIT train or test"
        )
    return ImageSet(load_dataset(name, split).images, spec)


def _run_samples(path: Path, n: int, seed: int, device: str, quiet: bool) -> ImageSet:
    from ..data import to_uint8
    from ..models.capabilities import Conditional, Sampler, supports
    from ..training import load
    from .progress import bar

    model = load(path, device=device)
    if not supports(model, Sampler):
        raise GenlabError(
            f"{path} is a {model.family} run, which does not draw new images; give the folder of its outputs instead"
        )
    num_classes = getattr(model.config, "num_classes", 0) if supports(model, Conditional) else 0
    g = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad(), bar(n, f"drawing images from {path.name}", quiet, unit="img") as progress:
        for a in range(0, n, 500):
            b = min(500, n - a)
            labels = torch.arange(a, a + b) % num_classes if num_classes else None
            out.append(to_uint8(model.sample(b, generator=g, labels=labels).float().cpu()))
            progress.update(b)
    how = f"run {path} ({n} samples, seed {seed}{', classes in turn' if num_classes else ''})"
    return ImageSet(torch.cat(out), how, cacheable=False)


def load_image_set(
    spec, num_samples: int | None = None, seed: int = 0, device: str = "cpu", quiet: bool = False
) -> ImageSet:
    """The images ``spec`` names (see the module docstring); at most ``num_samples`` of them (the first
    ones, or that many drawn from a run: :data:`RUN_SAMPLES` by default)."""
    if isinstance(spec, ImageSet):
        s = spec
    elif isinstance(spec, (np.ndarray, torch.Tensor)):
        s = images_from_array(spec, "array")
    else:
        path = Path(spec).expanduser()
        if path.is_dir() and (path / "config.json").is_file():
            return _run_samples(path, num_samples or RUN_SAMPLES, seed, device, quiet)
        if path.is_dir():
            s = _folder(path, num_samples)
        elif path.is_file() and path.suffix in ARRAY_SUFFIXES:
            s = images_from_array(_array_from_file(path), f"array {path}")
        elif path.exists():
            raise GenlabError(f"{path} is not a folder, a .npy/.npz array or a run directory")
        else:
            s = _dataset_split(str(spec))
    if num_samples and len(s.images) > num_samples:
        s = ImageSet(s.images[:num_samples], f"{s.name} (first {num_samples})", s.cacheable, s.notes)
    return s


__all__ = ["ImageSet", "images_from_array", "load_image_set"]
