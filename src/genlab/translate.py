"""``genlab translate``: run a pix2pix or CycleGAN model on an image file or a folder of images.

Inputs of another size are resized to the model's (and the outputs are written at the model's
size); a grayscale image given to a colour model, or the reverse, is converted. Each adjustment
is reported, never silent.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .errors import GenlabError
from .models.capabilities import Translator, check_direction, require
from .viz.grid import save_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
MAX_PIXELS = 50_000_000  # refuse decompression bombs


def read_image(path: Path, shape: tuple[int, int, int], notes: list[str]) -> torch.Tensor:
    """An image file as float (C, H, W) in [0, 1] at ``shape``, converting and resizing as needed."""
    c, h, w = shape
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise GenlabError(f"'{path}' is {im.width}x{im.height}, too large; resize it below {MAX_PIXELS} pixels")
            im.load()
            gray = im.mode in ("L", "1", "I", "I;16", "F", "LA")
            if c == 1 and not gray:
                notes.append(f"{path.name}: colour converted to grayscale")
            if c == 3 and gray:
                notes.append(f"{path.name}: grayscale converted to colour")
            img = im.convert("L" if c == 1 else "RGB")
            if img.size != (w, h):
                notes.append(f"{path.name}: resized from {img.width}x{img.height} to {w}x{h}")
                img = img.resize((w, h), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise GenlabError(
            f"cannot read '{path}' as an image ({e.__class__.__name__}); give a PNG or JPEG file"
        ) from None
    t = torch.from_numpy(arr.copy())
    t = t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)
    return t.float().div_(255)


def list_images(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GenlabError(
            f"'{folder}' holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); give a file or a folder of images"
        )
    return files


def translate_path(
    model, source: str | os.PathLike, out: str | os.PathLike, direction: str | None = None, batch_size: int = 32
) -> tuple[list[Path], list[str]]:
    """Translate an image file (``out`` a file) or every image of a folder (``out`` a folder, same names, PNG).

    Returns (written paths, notes about conversions and resizing).
    """
    model = require(model, Translator, "genlab translate")
    direction = check_direction(direction, model.directions) if direction else model.directions[0]
    source, out = Path(source), Path(out)
    if not source.exists():
        raise GenlabError(f"input '{source}' does not exist; give an image file or a folder of images")
    files = list_images(source) if source.is_dir() else [source]
    if source.is_dir():
        if out.exists() and not out.is_dir():
            raise GenlabError(f"--out '{out}' is a file; give a folder for a folder of inputs")
        targets = [out / (f.stem + ".png") for f in files]
    else:
        if out.is_dir():
            targets = [out / (source.stem + ".png")]
        else:
            if out.suffix.lower() not in {".png", ".jpg", ".jpeg", ".bmp"}:
                raise GenlabError(f"--out '{out}' must end in .png or .jpg (or be a folder)")
            targets = [out]
    shape = model.input_shape(direction)
    notes: list[str] = []
    written = []
    for i in range(0, len(files), batch_size):
        x = torch.stack([read_image(f, shape, notes) for f in files[i : i + batch_size]])
        y = model.translate(x, direction=direction).cpu()
        for img, target in zip(y, targets[i : i + batch_size]):
            written.append(save_image(img, target))
    return written, notes
