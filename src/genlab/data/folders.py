"""User image folders: plain, with class subfolders, paired (pix2pix) and unpaired (CycleGAN).

Layouts understood by :func:`load_folder` (what ``load_dataset(path)`` calls):

- ``path/*.png``: one unlabelled set;
- ``path/<class>/*.png``: one class per subfolder (sorted by name), whatever the names;
- ``path/A/`` + ``path/B/`` and nothing else, with the same file names in both: pairs matched by name
  (pix2pix). Anything else with an ``A/`` and a ``B/`` is read as classes, with a note saying why;
  ``paired=True`` (``--paired``) asks for pairs explicitly (then a folder without ``A/`` and ``B/``
  holds side-by-side ``A|B`` images, as the pix2pix datasets);
- ``path/trainA/ trainB/`` (``testA/ testB/``): unpaired domains (CycleGAN);
- ``path/train/...`` and ``path/test/...`` around any of the above: the split is given; otherwise a
  fixed seeded 90/10 split (at least 2 test images).

Images keep their native size (H x W) unless ``image_size`` is given (a square side: center-crop and
resize); when sizes differ, the most common one is used and the others are center-cropped to its
aspect and resized, with a note saying so once. Sizes are read from the file headers before any
pixel is decoded: an image above :data:`MAX_PIXELS` (a decompression bomb, or a photo too large to
train on) or a set above :data:`MAX_BYTES` in memory is a one-line error. A set whose images are all
grayscale keeps one channel, anything else is RGB. Notes for the user are in ``meta["notes"]``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from genlab.data.base import ImageData
from genlab.errors import GenlabError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
SPLIT_SEED = 0
MAX_PIXELS = 40_000_000  # per image, read from its header: about a 7,000 x 5,700 photo
MAX_BYTES = 8 * 1024**3  # the decoded set held in memory, uint8

Size = tuple[int, int]  # (H, W)


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name (hidden files skipped)."""
    return sorted(
        p
        for p in Path(folder).iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTS
    )


def _subdirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _open(path: Path) -> Image.Image:
    """The image at ``path``, header read and its size checked; no pixel decoded yet."""
    try:
        with warnings.catch_warnings():  # PIL's bomb check is replaced by genlab's lower limit, just below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im: Image.Image = Image.open(path)
    except Image.DecompressionBombError:  # above twice PIL's limit: said in genlab's words
        raise _too_large(path, *_png_size(path)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise GenlabError(f"cannot read image {path} ({type(e).__name__}); fix or remove the file") from None
    w, h = im.size
    if w * h > MAX_PIXELS or w < 1 or h < 1:
        im.close()
        raise _too_large(path, w, h)
    return im


def _too_large(path: Path, w: int, h: int) -> GenlabError:
    return GenlabError(
        f"image {path} is {w}x{h} pixels, above genlab's limit of {MAX_PIXELS:,} per image; "
        "shrink it or remove it from the folder"
    )


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image PIL refused to open as a decompression bomb (PNG: from IHDR, else unknown)."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return MAX_PIXELS, 2  # over the limit all the same


def _headers(files: list[Path], half: bool = False) -> tuple[str, list[Size]]:
    """("L" if every file is grayscale else "RGB", the (H, W) of each file), from headers alone."""
    gray, sizes = True, []
    for path in files:
        with _open(path) as im:
            gray &= im.mode in GRAY_MODES
            sizes.append((im.height, im.width // 2 if half else im.width))
    return ("L" if gray else "RGB"), sizes


def color_mode(files: list[Path]) -> str:
    """ "L" if every file is grayscale, else "RGB" (reads headers only; names an unreadable file)."""
    return _headers(files)[0]


def pick_size(sizes: list[Size], image_size: int | Size | None, notes: list[str], where: Path) -> Size:
    """The size to load at: ``image_size`` (a side or (H, W)) if given, else the most common native size."""
    if image_size is not None:
        return (image_size, image_size) if isinstance(image_size, int) else (int(image_size[0]), int(image_size[1]))
    counts = Counter(sizes).most_common()
    (h, w), n = counts[0]
    if len(counts) > 1:
        notes.append(
            f"the images in {where} have {len(counts)} sizes; using the most common, {h}x{w} ({n} of "
            f"{len(sizes)}), the others are center-cropped and resized to it (--image-size N to choose)"
        )
    return h, w


def _check_memory(n: int, channels: int, size: Size, where: Path) -> None:
    need = n * channels * size[0] * size[1]
    if need > MAX_BYTES:
        raise GenlabError(
            f"{where}: {n} images of {channels}x{size[0]}x{size[1]} need {need / 1024**3:.1f} GB in "
            f"memory, above genlab's {MAX_BYTES / 1024**3:.0f} GB; pass a smaller --image-size"
        )


def _fit(im: Image.Image, size: Size, mode: str, half: str | None, path: Path) -> np.ndarray:
    """Decode, center-crop to the aspect of ``size`` and resize: uint8 (C, H, W)."""
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
        h, w = size
        if (im.height, im.width) != (h, w):
            scale = min(im.width / w, im.height / h)  # the largest crop of the target's aspect
            cw, ch = round(w * scale), round(h * scale)
            left, top = (im.width - cw) // 2, (im.height - ch) // 2
            im = im.crop((left, top, left + cw, top + ch))
            if (ch, cw) != (h, w):
                im = im.resize((w, h), Image.Resampling.BICUBIC if ch < h else Image.Resampling.LANCZOS)
    except (OSError, ValueError, SyntaxError) as e:
        raise GenlabError(f"cannot read image {path} ({type(e).__name__}: {e}); fix or remove the file") from None
    arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # (C, H, W)


def read_images(
    files: list[Path],
    image_size: int | Size | None = None,
    half: str | None = None,
    mode: str | None = None,
    notes: list[str] | None = None,
) -> torch.Tensor:
    """Read image files into uint8 (N, C, H, W): C = 1 if every file is grayscale (or ``mode`` is "L"), else 3.

    ``image_size``: a square side or (H, W); None keeps the most common native size.
    """
    found_mode, sizes = _headers(files, half is not None)
    mode = mode or found_mode
    size = pick_size(sizes, image_size, notes if notes is not None else [], Path(files[0]).parent)
    channels = 1 if mode == "L" else 3
    _check_memory(len(files), channels, size, Path(files[0]).parent)
    out = np.empty((len(files), channels, *size), dtype=np.uint8)
    for i, path in enumerate(files):
        with _open(path) as im:
            out[i] = _fit(im, size, mode, half, path)
    return torch.from_numpy(out)


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
    """Sorted indices of a fixed 90/10 train/test split of ``n`` items (at least 2 test items)."""
    n_test = min(max(2, n // 10), n // 2)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[:n_test] if split == "test" else perm[n_test:])


def paired_layout(root: Path) -> tuple[bool, str | None]:
    """(whether ``root`` is the documented paired layout, why not when it nearly is).

    Paired: exactly two subfolders ``A/`` and ``B/``, no loose images, the same file names (stems) in both.
    """
    subdirs = [d.name for d in _subdirs(root)]
    if "A" not in subdirs or "B" not in subdirs:
        return False, None
    if subdirs != ["A", "B"] or list_images(root):
        extra = [d for d in subdirs if d not in ("A", "B")] or ["loose images"]
        return False, f"besides A/ and B/ it holds {', '.join(extra[:3])}"
    a, b = ({p.stem for p in list_images(root / d)} for d in "AB")
    if a != b:
        odd = sorted(a ^ b)
        return False, f"the file names in A/ and B/ do not match one to one (e.g. '{odd[0]}')"
    return True, None


def _collect(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """(files, labels, classes) of a folder of images or of class subfolders."""
    top = list_images(root)
    class_dirs = [d for d in _subdirs(root) if list_images(d)]
    if class_dirs and top:
        raise GenlabError(
            f"{root} mixes loose images with class subfolders ({', '.join(d.name for d in class_dirs)}); "
            "move the loose images into a class folder, or remove the subfolders"
        )
    if class_dirs:
        files, labels = [], []
        for label, d in enumerate(class_dirs):
            imgs = list_images(d)
            files += imgs
            labels += [label] * len(imgs)
        return files, labels, [d.name for d in class_dirs]
    if not top:
        raise GenlabError(
            f"{root} holds no images ({', '.join(sorted(IMAGE_EXTS))}); "
            "give a folder of images or of class subfolders of images"
        )
    return top, None, None


def load_image_folder(path, image_size: int | Size | None = None, split: str = "train") -> ImageData:
    """A folder of images, optionally in class subfolders, optionally split by train/ and test/."""
    path = _check_dir(path)
    root = _split_root(path, split)
    files, labels, classes = _collect(root or path)
    # channels and size over the whole set (both splits), so train and test agree
    every = (
        files if root is None else [f for s in ("train", "test") if (path / s).is_dir() for f in _collect(path / s)[0]]
    )
    mode, sizes = _headers(every)
    notes: list[str] = []
    meta = {"split": split, "source": str(path), "notes": notes}
    size = pick_size(sizes, image_size, notes, path)
    if root is None:
        keep = seeded_split(len(files), split)
        files = [files[i] for i in keep]
        labels = None if labels is None else [labels[i] for i in keep]
        meta["subset"] = f"seeded 90/10 split (seed {SPLIT_SEED})"
    empty = torch.zeros((0, 1 if mode == "L" else 3, *size), dtype=torch.uint8)
    images = read_images(files, size, mode=mode) if files else empty
    return ImageData(
        name=path.name,
        images=images,
        labels=None if labels is None else torch.tensor(labels, dtype=torch.int64),
        classes=classes,
        meta=meta,
    )


def load_paired_folder(path, image_size: int | Size | None = None, split: str = "train") -> ImageData:
    """Paired images: ``A/`` and ``B/`` with matching file names, or single images with A|B side by side.

    ``images`` holds A, ``pair`` holds B, both at one size (``image_size``, else A's most common).
    """
    path = _check_dir(path)
    ab = _split_root(path, split) or path
    notes: list[str] = []
    meta = {"split": split, "source": str(path), "notes": notes}
    if (ab / "A").is_dir() and (ab / "B").is_dir():
        a_files, b_files = list_images(ab / "A"), list_images(ab / "B")
        b_by_stem = {p.stem: p for p in b_files}
        missing = [p.name for p in a_files if p.stem not in b_by_stem]
        if missing or len(a_files) != len(b_files):
            extra = missing or sorted({p.stem for p in b_files} - {p.stem for p in a_files})
            raise GenlabError(
                f"{ab}: A/ and B/ do not match one to one (e.g. '{extra[0] if extra else '?'}'); "
                "give every image in A/ a file of the same name in B/"
            )
        if not a_files:
            raise GenlabError(f"{ab / 'A'} holds no images; put the input images in A/ and the targets in B/")
        pairs = [(p, b_by_stem[p.stem]) for p in a_files]
        size = pick_size(_headers(a_files)[1], image_size, notes, ab / "A")
        if ab == path:
            pairs = [pairs[i] for i in seeded_split(len(pairs), split)]
            meta["subset"] = f"seeded 90/10 split (seed {SPLIT_SEED})"
        a = read_images([p for p, _ in pairs], size, mode=color_mode(a_files))
        b = read_images([q for _, q in pairs], size, mode=color_mode(b_files))
        meta["layout"] = "A/B folders"
    else:
        root = _split_root(path, split)
        files = list_images(root or path)
        if not files:
            raise GenlabError(f"{root or path} holds no images; give A/ and B/ folders or side-by-side A|B images")
        mode, sizes = _headers(files, half=True)
        size = pick_size(sizes, image_size, notes, root or path)
        if root is None:
            files = [files[i] for i in seeded_split(len(files), split)]
            meta["subset"] = f"seeded 90/10 split (seed {SPLIT_SEED})"
        a = read_images(files, size, half="left", mode=mode)
        b = read_images(files, size, half="right", mode=mode)
        meta["layout"] = "side by side (A left, B right)"
    return ImageData(name=path.name, images=a, pair=b, meta=meta)


def load_unpaired_folder(
    path, image_size: int | Size | None = None, split: str = "train"
) -> tuple[ImageData, ImageData]:
    """Unpaired domains from ``trainA/ trainB/`` (``testA/ testB/`` for split="test"): (A, B), at one size."""
    path = _check_dir(path)
    files = {}
    for domain in "AB":
        folder = path / f"{split}{domain}"
        if not folder.is_dir():
            raise GenlabError(
                f"{path} has no {split}{domain}/ folder; an unpaired set needs "
                f"{split}A/ and {split}B/ folders of images"
            )
        files[domain] = list_images(folder)
        if not files[domain]:
            raise GenlabError(f"{folder} holds no images; put the domain-{domain} images there")
    notes: list[str] = []
    size = pick_size(_headers(files["A"] + files["B"])[1], image_size, notes, path)
    a, b = (
        ImageData(
            name=f"{path.name}-{d}",
            images=read_images(files[d], size),
            meta={"split": split, "source": str(path / f"{split}{d}"), "domain": d, "notes": notes},
        )
        for d in "AB"
    )
    return a, b


def load_folder(
    path, split: str = "train", image_size: int | Size | None = None, paired: bool | None = None
) -> ImageData:
    """What ``load_dataset(path)`` does: unpaired, paired or a plain/class image folder (see the module doc).

    ``paired``: None decides from the layout; True asks for pairs (A/ + B/, or side by side); False never pairs.
    """
    path = _check_dir(path)
    if (path / "trainA").is_dir():  # unpaired domains for CycleGAN: A in images, B in pair
        from genlab.data.unpaired import combine_unpaired

        # without testA/ testB/, the test split is the training images (said in meta)
        source = split if (path / f"{split}A").is_dir() else "train"
        a, b = load_unpaired_folder(path, image_size, source)
        data = combine_unpaired(a, b, name=str(path))
        data.meta.update(split_source=source, notes=a.meta["notes"])
        return data
    root = _split_root(path, "train") or path  # the layout is decided on the training split, for both
    is_paired, near_miss = paired_layout(root)
    if paired or (paired is None and is_paired):
        return load_paired_folder(path, image_size, split)
    data = load_image_folder(path, image_size, split)
    if near_miss and paired is None:
        data.meta["notes"].append(
            f"{root} is read as {len(data.classes or [])} classes, not as A/B pairs: {near_miss}; "
            "a paired set has only A/ and B/ with the same file names (or pass --paired)"
        )
    return data
