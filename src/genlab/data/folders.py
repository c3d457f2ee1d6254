"""User image folders: plain, with class subfolders, paired (pix2pix) and unpaired (CycleGAN).

Layouts understood by :func:`load_folder` (what ``load_dataset(path)`` calls):

- ``path/*.png``: one unlabelled set;
- ``path/<class>/*.png``: labels from the subfolder names (sorted);
- ``path/train/...`` and ``path/test/...``: the split is given; otherwise a fixed seeded 90/10 split;
- ``path/A/x.png`` + ``path/B/x.png`` (also under ``train/``, ``test/``): pairs matched by file name.

Side-by-side pairs (``A|B`` in one image, as in the pix2pix datasets) load with
:func:`load_paired_folder`; ``trainA/ trainB/ testA/ testB/`` with :func:`load_unpaired_folder`.
Every image is center-cropped to a square and resized to ``image_size``; a set whose images are all
grayscale keeps one channel, anything else is RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from genlab.data.base import ImageData
from genlab.errors import GenlabError

DEFAULT_IMAGE_SIZE = 64
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
SPLIT_SEED = 0


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name (hidden files skipped)."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTS)


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise GenlabError(f"cannot read image {path} ({type(e).__name__}); fix or remove the file") from None


def _is_gray(path: Path) -> bool:
    with _open(path) as im:
        return im.mode in GRAY_MODES


def _to_square(im: Image.Image, size: int, mode: str, half: str | None, path: Path) -> np.ndarray:
    try:
        im.load()
        if half is not None:  # side-by-side pair: A on the left, B on the right
            w2 = im.width // 2
            im = im.crop((0, 0, w2, im.height) if half == "left" else (w2, 0, 2 * w2, im.height))
        if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit / float gray: scale to 8 bits
            arr = np.asarray(im, dtype=np.float64)
            arr = arr * (255.0 / max(float(arr.max()), 1.0)) if arr.max() > 255 else arr
            im = Image.fromarray(arr.clip(0, 255).astype(np.uint8), mode="L")
        im = im.convert(mode)
        side = min(im.size)
        left, top = (im.width - side) // 2, (im.height - side) // 2
        im = im.crop((left, top, left + side, top + side))
        if side != size:
            im = im.resize((size, size), Image.BICUBIC if side < size else Image.LANCZOS)
    except (OSError, ValueError, SyntaxError) as e:
        raise GenlabError(f"cannot read image {path} ({type(e).__name__}: {e}); fix or remove the file") from None
    arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # (C, H, W)


def color_mode(files: list[Path]) -> str:
    """"L" if every file is grayscale, else "RGB" (reads headers only; names an unreadable file)."""
    return "L" if all([_is_gray(p) for p in files]) else "RGB"


def read_images(files: list[Path], image_size: int, half: str | None = None, mode: str | None = None) -> torch.Tensor:
    """Read image files into uint8 (N, C, S, S): C = 1 if ``mode`` (default: :func:`color_mode`) is "L", else 3."""
    mode = mode or color_mode(files)
    out = np.empty((len(files), 1 if mode == "L" else 3, image_size, image_size), dtype=np.uint8)
    for i, path in enumerate(files):
        with _open(path) as im:
            out[i] = _to_square(im, image_size, mode, half, path)
    return torch.from_numpy(out)


def _collect(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """(files, labels, classes) of a folder of images or of class subfolders."""
    top = list_images(root)
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    class_dirs = [d for d in subdirs if list_images(d)]
    if class_dirs and top:
        raise GenlabError(f"{root} mixes loose images with class subfolders ({', '.join(d.name for d in class_dirs)}); "
                          "move the loose images into a class folder, or remove the subfolders")
    if class_dirs:
        files, labels = [], []
        for label, d in enumerate(class_dirs):
            imgs = list_images(d)
            files += imgs
            labels += [label] * len(imgs)
        return files, labels, [d.name for d in class_dirs]
    if not top:
        raise GenlabError(f"{root} holds no images ({', '.join(sorted(IMAGE_EXTS))}); "
                          "give a folder of images or of class subfolders of images")
    return top, None, None


def _check_dir(path: Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_dir():
        raise GenlabError(f"{path} is not a folder; give a folder of images (or a built-in dataset name)")
    return path


def _split_root(path: Path, split: str) -> Path | None:
    """``path/<split>`` when the folder is split by subfolders, else None."""
    if (path / "train").is_dir() or (path / "test").is_dir():
        if not (path / split).is_dir():
            raise GenlabError(f"{path} has no {split}/ folder; add one or remove train/ and test/ to split 90/10")
        return path / split
    return None


def seeded_split(n: int, split: str, seed: int = SPLIT_SEED) -> np.ndarray:
    """Sorted indices of a fixed 90/10 train/test split of ``n`` items (at least one test item if n >= 2)."""
    n_test = n // 10 if n >= 10 else int(n >= 2)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[:n_test] if split == "test" else perm[n_test:])


def load_image_folder(path, image_size: int = DEFAULT_IMAGE_SIZE, split: str = "train") -> ImageData:
    """A folder of images, optionally in class subfolders, optionally split by train/ and test/."""
    path = _check_dir(path)
    root = _split_root(path, split)
    files, labels, classes = _collect(root or path)
    # decide channels over the whole set (both splits), so train and test agree
    every = files if root is None else [f for s in ("train", "test") if (path / s).is_dir()
                                        for f in _collect(path / s)[0]]
    mode = color_mode(every)
    meta = {"split": split, "source": str(path)}
    if root is None:
        keep = seeded_split(len(files), split)
        files = [files[i] for i in keep]
        labels = None if labels is None else [labels[i] for i in keep]
        meta["subset"] = f"seeded 90/10 split (seed {SPLIT_SEED})"
    empty = torch.zeros((0, 1 if mode == "L" else 3, image_size, image_size), dtype=torch.uint8)
    images = read_images(files, image_size, mode=mode) if files else empty
    return ImageData(name=path.name, images=images,
                     labels=None if labels is None else torch.tensor(labels, dtype=torch.int64),
                     classes=classes, meta=meta)


def _ab_root(path: Path, split: str) -> Path | None:
    root = _split_root(path, split) or path
    return root if (root / "A").is_dir() and (root / "B").is_dir() else None


def load_paired_folder(path, image_size: int = DEFAULT_IMAGE_SIZE, split: str = "train") -> ImageData:
    """Paired images: ``A/`` and ``B/`` with matching file names, or single images with A|B side by side.

    ``images`` holds A, ``pair`` holds B, both resized to ``image_size``.
    """
    path = _check_dir(path)
    ab = _ab_root(path, split)
    meta = {"split": split, "source": str(path)}
    if ab is not None:
        a_files, b_files = list_images(ab / "A"), list_images(ab / "B")
        b_by_stem = {p.stem: p for p in b_files}
        missing = [p.name for p in a_files if p.stem not in b_by_stem]
        if missing or len(a_files) != len(b_files):
            extra = missing or sorted({p.stem for p in b_files} - {p.stem for p in a_files})
            raise GenlabError(f"{ab}: A/ and B/ do not match one to one (e.g. '{extra[0] if extra else '?'}'); "
                              "give every image in A/ a file of the same name in B/")
        if not a_files:
            raise GenlabError(f"{ab / 'A'} holds no images; put the input images in A/ and the targets in B/")
        pairs = [(p, b_by_stem[p.stem]) for p in a_files]
        mode_a, mode_b = color_mode(a_files), color_mode(b_files)
        if ab == path:
            pairs = [pairs[i] for i in seeded_split(len(pairs), split)]
            meta["subset"] = f"seeded 90/10 split (seed {SPLIT_SEED})"
        a = read_images([p for p, _ in pairs], image_size, mode=mode_a)
        b = read_images([q for _, q in pairs], image_size, mode=mode_b)
        meta["layout"] = "A/B folders"
    else:
        root = _split_root(path, split)
        files = list_images(root or path)
        if not files:
            raise GenlabError(f"{root or path} holds no images; give A/ and B/ folders or side-by-side A|B images")
        mode = color_mode(files)
        if root is None:
            files = [files[i] for i in seeded_split(len(files), split)]
            meta["subset"] = f"seeded 90/10 split (seed {SPLIT_SEED})"
        a = read_images(files, image_size, half="left", mode=mode)
        b = read_images(files, image_size, half="right", mode=mode)
        meta["layout"] = "side by side (A left, B right)"
    return ImageData(name=path.name, images=a, pair=b, meta=meta)


def load_unpaired_folder(path, image_size: int = DEFAULT_IMAGE_SIZE,
                         split: str = "train") -> tuple[ImageData, ImageData]:
    """Unpaired domains from ``trainA/ trainB/`` (``testA/ testB/`` for split="test"): (A, B)."""
    path = _check_dir(path)
    out = []
    for domain in "AB":
        folder = path / f"{split}{domain}"
        if not folder.is_dir():
            raise GenlabError(f"{path} has no {split}{domain}/ folder; an unpaired set needs "
                              f"{split}A/ and {split}B/ folders of images")
        files = list_images(folder)
        if not files:
            raise GenlabError(f"{folder} holds no images; put the domain-{domain} images there")
        out.append(ImageData(name=f"{path.name}-{domain}", images=read_images(files, image_size),
                             meta={"split": split, "source": str(folder), "domain": domain}))
    return out[0], out[1]


def load_folder(path, split: str = "train", image_size: int = DEFAULT_IMAGE_SIZE) -> ImageData:
    """What ``load_dataset(path)`` does: a paired A/B folder or a plain/class image folder."""
    path = _check_dir(path)
    if (path / "trainA").is_dir():  # unpaired domains for CycleGAN: A in images, B in pair
        from genlab.data.unpaired import combine_unpaired

        # without testA/ testB/, the test split is the training images (said in meta)
        source = split if (path / f"{split}A").is_dir() else "train"
        data = combine_unpaired(*load_unpaired_folder(path, image_size, source), name=str(path))
        data.meta["split_source"] = source
        return data
    if _ab_root(path, split) is not None:
        return load_paired_folder(path, image_size, split)
    return load_image_folder(path, image_size, split)
