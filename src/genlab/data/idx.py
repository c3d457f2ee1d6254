"""MNIST-style IDX datasets (Fashion-MNIST, MNIST): find, verify, download, parse.

Files are looked up in ``$GENLAB_DATA/<name>``, ``~/.cache/genlab/<name>``, then
``/usr/share/datasets/<name>`` (see :mod:`genlab.data.paths`), gzipped or raw. Every file is checked
against the SHA-256 of the official *uncompressed* IDX content, so a re-compressed copy (Debian's
``dataset-fashion-mnist`` re-gzips the official files) is accepted and a damaged or foreign one is
not. Downloads are checked against the SHA-256 of the official ``.gz`` files before they are
renamed into the cache. With no local copy and no network: one error naming the ways to get it.

IDX format (LeCun et al.): magic ``0x00 0x00 <dtype> <ndim>``, then ``ndim`` big-endian int32
sizes, then the data, big-endian, row-major.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genlab.data import paths
from genlab.data.base import ImageData
from genlab.errors import GenlabError

# IDX type byte -> numpy dtype (big-endian)
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class IdxSource:
    """Where an IDX dataset comes from and the hashes of its official files."""

    urls: tuple[str, ...]  # base URLs tried in order; file name + ".gz" is appended
    raw_sha256: dict  # file name -> SHA-256 of the uncompressed official file
    gz_sha256: dict  # file name -> SHA-256 of the official .gz download
    classes: tuple[str, ...]
    install_hint: str  # the third way to get the files, besides GENLAB_DATA and the cache


SOURCES: dict[str, IdxSource] = {
    # https://github.com/zalandoresearch/fashion-mnist. Raw hashes checked here against the files of
    # Debian's dataset-fashion-mnist (whose .gz files are re-compressed and hash differently:
    # train-images b0564c3e..., train-labels 0ae29f65..., t10k-images cc1d090a..., t10k-labels 8d3605d1...).
    "fashion-mnist": IdxSource(
        urls=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        raw_sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        gz_sha256={
            "train-images-idx3-ubyte": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
            "train-labels-idx1-ubyte": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
            "t10k-images-idx3-ubyte": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
            "t10k-labels-idx1-ubyte": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
        },
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        install_hint="or run `apt-get install dataset-fashion-mnist`",
    ),
    # http://yann.lecun.com/exdb/mnist/ (often unreachable; PyTorch's mirror serves the same bytes).
    "mnist": IdxSource(
        urls=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        raw_sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        gz_sha256={
            "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
        classes=tuple(str(d) for d in range(10)),
        install_hint="or connect to the network once so genlab can download them",
    ),
}


def parse_idx(data: bytes, where: str = "IDX data") -> np.ndarray:
    """Parse the bytes of one (uncompressed) IDX file into a numpy array (native byte order)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise GenlabError(
            f"{where} is not an IDX file (bad magic number {data[:4].hex() or 'empty'}); "
            "replace it with the official file"
        )
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise GenlabError(f"{where} is truncated (header cut short); delete it and get the file again")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        state = "truncated" if len(data) - header < expected else "longer than its header says"
        raise GenlabError(
            f"{where} is {state} ({len(data) - header} data bytes, expected {expected} for shape "
            f"{shape}); delete it and get the file again"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def read_file(path: Path) -> bytes:
    """The uncompressed bytes of ``path`` (gzip is detected by its magic, not its name)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise GenlabError(f"{path} is a damaged gzip file ({e}); delete it and get the file again") from None
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzipped or raw, into a numpy array."""
    return parse_idx(read_file(Path(path)), str(path))


def _find(name: str, split: str) -> list[Path] | None:
    """The (images, labels) paths of ``split`` in the first lookup folder holding both, else None."""
    for folder in paths.search_dirs(name):
        found = []
        for stem in FILES[split]:
            hit = next((p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()), None)
            if hit is None:
                break
            found.append(hit)
        if len(found) == 2:
            return found
    return None


def is_available(name: str) -> bool:
    """Whether both splits of ``name`` are on disk (no network check)."""
    return all(_find(name, split) is not None for split in FILES)


def _fetch(url: str) -> bytes:
    """Download ``url`` (kept separate so tests can make the network fail)."""
    with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 (fixed https/http URLs)
        return r.read()


def download(name: str) -> Path:
    """Download the four official ``.gz`` files of ``name`` into the cache, SHA-256 checked.

    Each file is written to a temporary name and renamed into place only once its hash matches.
    Raises ``OSError`` when the network is unreachable.
    """
    src = SOURCES[name]
    dest = paths.cache_dir(name)
    for stem, want in src.gz_sha256.items():
        target = dest / f"{stem}.gz"
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == want:
            continue
        last: Exception | None = None
        for base in src.urls:
            try:
                data = _fetch(base + f"{stem}.gz")
            except (urllib.error.URLError, OSError, TimeoutError) as e:
                last = e
                continue
            if hashlib.sha256(data).hexdigest() != want:
                last = GenlabError(
                    f"the download of {base}{stem}.gz has the wrong SHA-256; try again later, "
                    f"or put the official files in {dest}"
                )
                continue
            paths.atomic_write(target, lambda f: f.write(data))  # noqa: B023 - called at once
            break
        else:
            raise last if isinstance(last, GenlabError) else OSError(str(last))
    return dest


def _missing_error(name: str) -> GenlabError:
    src = SOURCES[name]
    files = ", ".join(f"{s}[.gz]" for pair in FILES.values() for s in pair)
    return GenlabError(
        f"dataset '{name}' was not found on disk and could not be downloaded (offline?); get it one of three "
        f"ways: set GENLAB_DATA to a folder holding {name}/ with {files}, put those files in "
        f"{paths.cache_root() / name}, {src.install_hint}"
    )


def load_idx_dataset(name: str, split: str = "train") -> ImageData:
    """Load ``split`` of an IDX dataset (``fashion-mnist`` or ``mnist``) as uint8 (N, 1, 28, 28)."""
    if name not in SOURCES:
        raise GenlabError(f"unknown IDX dataset '{name}'; choose one of: {', '.join(sorted(SOURCES))}")
    src = SOURCES[name]
    found = _find(name, split)
    if found is None:
        if os.environ.get("GENLAB_OFFLINE"):
            raise _missing_error(name)
        try:
            download(name)
        except OSError:
            raise _missing_error(name) from None
        found = _find(name, split)
        if found is None:  # the cache is not where the lookup looks (should not happen)
            raise _missing_error(name)
    arrays = []
    for path, stem in zip(found, FILES[split]):
        data = read_file(path)
        digest = hashlib.sha256(data).hexdigest()
        if digest != src.raw_sha256[stem]:
            raise GenlabError(
                f"{path} is not the official {name} file (SHA-256 {digest[:12]}... differs from "
                f"{src.raw_sha256[stem][:12]}...); delete it so genlab looks elsewhere or downloads it"
            )
        arrays.append(parse_idx(data, str(path)))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise GenlabError(
            f"{found[0]} and {found[1]} do not fit together (shapes {images.shape}, {labels.shape}); "
            "replace them with the official files"
        )
    return ImageData(
        name=name,
        images=torch.from_numpy(images.copy()).unsqueeze(1),  # (N, 1, 28, 28)
        labels=torch.from_numpy(labels.astype(np.int64)),
        classes=list(src.classes),
        meta={"split": split, "source": str(found[0].parent)},
    )
