"""Datasets: built-ins by name, user image folders, all held in memory as uint8 :class:`ImageData`.

``load_dataset(name, split, image_size)`` takes a built-in name (see ``DATASETS``) or a path to a
folder of images. Both keep their native size unless ``image_size`` is given (then center-cropped
and resized to that square side).
"""

from __future__ import annotations

from pathlib import Path

from genlab.data import idx
from genlab.data.base import ImageData, resize_images, to_float, to_uint8
from genlab.data.digits import load_digits
from genlab.data.dsprites import DSprites, load_dsprites
from genlab.data.folders import MAX_BYTES, load_folder, load_image_folder, load_paired_folder, load_unpaired_folder
from genlab.data.paired import load_edges2fashion, load_maps
from genlab.data.unpaired import combine_unpaired, load_fashion_stripes
from genlab.data.voices import (
    espeak_available,
    festival_available,
    is_voice_folder,
    load_recorded_voices,
    load_voice_folder,
    load_voices,
)
from genlab.errors import GenlabError, one_of

SPLITS = ("train", "test")

# name -> (short description, loader(split) -> ImageData, available() -> bool)
_BUILTINS = {
    "fashion-mnist": (
        "Fashion-MNIST: 60k/10k 28x28 grayscale garments, 10 classes",
        lambda split: idx.load_idx_dataset("fashion-mnist", split),
        lambda: idx.is_available("fashion-mnist"),
    ),
    "mnist": (
        "MNIST: 60k/10k 28x28 grayscale handwritten digits, 10 classes",
        lambda split: idx.load_idx_dataset("mnist", split),
        lambda: idx.is_available("mnist"),
    ),
    "digits": (
        "scikit-learn digits: 1,500/297 8x8 grayscale digits, 10 classes (always available)",
        load_digits,
        lambda: True,
    ),
    "dsprites": (
        "dSprites: 64x64 binary shapes with 5 factors (100k/10k subset of 737,280)",
        load_dsprites,
        lambda: True,
    ),
    "edges2fashion": (
        "paired: binary edge map (A) <-> Fashion-MNIST garment (B), 60k/10k 28x28",
        load_edges2fashion,
        lambda: idx.is_available("fashion-mnist"),
    ),
    "maps": (
        "paired: aerial view (A) <-> flat-colour map (B) of generated layouts, 2,000/200 64x64 RGB",
        load_maps,
        lambda: True,
    ),
    "fashion-stripes": (
        "unpaired: plain garments (A) / striped garments (B), disjoint halves, 30k/5k each, 28x28",
        load_fashion_stripes,
        lambda: idx.is_available("fashion-mnist"),
    ),
    "voices": (
        (
            "unpaired voices: WORLD features of a low (A) and a high (B) espeak-ng voice, disjoint sentences "
            "(test: 12 held-out sentences read by both); small, for tests"
        ),
        load_voices,
        espeak_available,
    ),
    "recorded-voices": (
        (
            "unpaired voices: festival's kal (male, A) and CMU ARCTIC SLT (female, B), voices built "
            "from recordings, 54 + 54 disjoint sentences (test: 20 held-out read by both)"
        ),
        load_recorded_voices,
        festival_available,
    ),
}

DATASETS: dict[str, str] = {name: entry[0] for name, entry in _BUILTINS.items()}


def register_dataset(name: str, description: str, loader, available=lambda: True) -> None:
    """Add a built-in: ``loader(split) -> ImageData`` (for derived datasets defined elsewhere)."""
    _BUILTINS[name] = (description, loader, available)
    DATASETS[name] = description


def list_datasets() -> list[tuple[str, str, bool]]:
    """(name, description, available on this machine without downloading) for every built-in."""
    return [(name, desc, bool(avail())) for name, (desc, _, avail) in _BUILTINS.items()]


def load_dataset(
    name: str, split: str = "train", image_size: int | None = None, paired: bool | None = None
) -> ImageData:
    """Load a built-in dataset by name, or an image folder by path, as an in-memory ImageData.

    split: "train" or "test". image_size: square side to resize to (default: the native size; a
    folder of mixed sizes: the most common). paired: for folders, True reads A/ + B/ (or side-by-side)
    pairs, False never pairs, None decides from the layout (see :mod:`genlab.data.folders`).
    """
    if split not in SPLITS:
        raise one_of("split", split, SPLITS)
    if isinstance(image_size, (list, tuple)) and len(image_size) == 2 and Path(name).is_dir():
        image_size = (int(image_size[0]), int(image_size[1]))  # a folder's native H x W, from a run's config
    elif image_size is not None and (not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 1):
        raise GenlabError(f"image_size must be a positive integer, got {image_size!r}")
    if name in _BUILTINS:
        data = _BUILTINS[name][1](split)
        if image_size is not None and data.images.shape[-1] != image_size:
            channels = data.images.shape[1] + (data.pair.shape[1] if data.pair is not None else 0)
            need = len(data) * channels * image_size**2
            if need > MAX_BYTES:
                raise GenlabError(
                    f"{name} at --image-size {image_size} needs {need / 1024**3:.1f} GB in memory, "
                    f"above genlab's {MAX_BYTES / 1024**3:.0f} GB; pass a smaller --image-size"
                )
            data.images = resize_images(data.images, image_size)
            if data.pair is not None:
                data.pair = resize_images(data.pair, image_size)
        return data
    path = Path(name).expanduser()
    if path.is_dir() and is_voice_folder(path):  # trainA/ trainB/ of WAV files: vocoder feature segments
        return load_voice_folder(path, split)
    if path.exists() or any(sep in name for sep in ("/", "\\")) or name.startswith("."):
        return load_folder(path, split, image_size, paired)
    raise GenlabError(
        f"unknown dataset '{name}'; choose one of: {', '.join(sorted(_BUILTINS))}, or give the path of an image folder"
    )


def load_run_data(meta: dict, split: str = "train") -> ImageData:
    """The dataset a run was trained on, at the size it was trained at.

    ``meta`` is a run's config.json (or ``model.meta``): its ``data`` name and the ``image_size`` the
    training resized to (None: the dataset's own size).
    """
    return load_dataset(meta["data"], split, image_size=meta.get("image_size"), paired=meta.get("paired"))


def summary(train: ImageData, test: ImageData) -> str:
    """One line on what was found: images per split, classes, pairing, size, how it was split."""
    c, h, w = train.shape
    parts = [f"{len(train):,} train / {len(test):,} test images"]
    if train.classes:
        names = ", ".join(train.classes[:5]) + (", ..." if len(train.classes) > 5 else "")
        parts.append(f"{len(train.classes)} classes ({names})")
    if train.pair is not None:
        layout = train.meta.get("layout", "A -> B")
        parts.append("unpaired A/B domains" if train.meta.get("unpaired") else f"pairs ({layout})")
    parts.append(f"{c}x{h}x{w}")
    if train.meta.get("subset"):
        parts.append(train.meta["subset"])
    if test.meta.get("split_source") == "train" and train.meta.get("unpaired"):
        parts.append("no testA/ testB/: the test images are the training images")
    return f"data {train.name}: " + ", ".join(parts)


__all__ = [
    "DATASETS",
    "DSprites",
    "ImageData",
    "combine_unpaired",
    "list_datasets",
    "load_dataset",
    "load_image_folder",
    "load_paired_folder",
    "load_run_data",
    "load_unpaired_folder",
    "register_dataset",
    "resize_images",
    "summary",
    "to_float",
    "to_uint8",
]
