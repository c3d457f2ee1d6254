"""Small CNN classifiers for genlab's built-in datasets: the feature extractors of FID/KID/precision
and recall, and the judges of ``cond_accuracy``, ``label_preservation`` and latent completeness.

One network per dataset, trained by ``benchmarks/train_classifiers.py`` with a fixed seed and shipped
in ``genlab/evaluation/weights/`` as ``<dataset>.safetensors`` (weights only, no pickle) beside
``<dataset>.json`` (config, test accuracy, seed, training command, sha256 of the weights file).

The network: ``len(widths)`` stages of conv3x3 -> BatchNorm -> ReLU -> 2x2 max-pool, then a
flatten -> Linear(feature_dim) -> BatchNorm -> ReLU layer whose output is the image's feature
vector ``(B, feature_dim)``, then dropout and a Linear layer to the class logits. Input: float
images in [0, 1], ``(B, C, H, W)`` at the dataset's native size.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file, save

from genlab.atomic import atomic_write, write_text
from genlab.errors import GenlabError

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass
class ClassifierConfig:
    """Shape of a :class:`Classifier`."""

    in_channels: int = 1  # C of the input images
    image_size: int = 28  # H = W of the input images
    num_classes: int = 10
    widths: tuple[int, ...] = (32, 64, 128)  # channels of each conv stage (each halves H and W)
    feature_dim: int = 128  # size of the penultimate layer: the feature vector
    dropout: float = 0.3  # before the last Linear layer, training only

    def __post_init__(self):
        self.widths = tuple(int(w) for w in self.widths)
        if not self.widths or min(self.widths) < 1:
            raise GenlabError(f"widths must be a non-empty list of positive integers, got {self.widths}")
        if self.image_size >> len(self.widths) < 1:
            raise GenlabError(f"image_size {self.image_size} is too small for {len(self.widths)} pooling stages")
        if self.in_channels < 1 or self.num_classes < 2 or self.feature_dim < 1 or not 0 <= self.dropout < 1:
            raise GenlabError(f"bad classifier config: {self}")


class Classifier(nn.Module):
    """conv stages -> feature layer -> logits. ``forward(x) -> (B, K)``, ``features(x) -> (B, F)``."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        layers, c = [], config.in_channels
        for w in config.widths:
            layers += [
                nn.Conv2d(c, w, 3, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            c = w
        self.conv = nn.Sequential(*layers)
        side = config.image_size >> len(config.widths)  # floor-halved once per stage
        self.feature = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c * side * side, config.feature_dim, bias=False),
            nn.BatchNorm1d(config.feature_dim),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.feature_dim, config.num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> (B, feature_dim), the penultimate layer (after its ReLU)."""
        return self.feature(self.conv(x - 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> (B, num_classes) logits."""
        return self.head(self.features(x))


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_classifier(model: Classifier, path: Path | str, info: dict) -> dict:
    """Write ``path`` (.safetensors, weights only) and the JSON beside it (config, ``info``, sha256).

    Returns the JSON record.
    """
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = save(state)
    atomic_write(path, lambda f: f.write(data))
    record = {"config": asdict(model.config), **info, "weights": path.name, "sha256": hashlib.sha256(data).hexdigest()}
    write_text(path.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
    return record


def load_classifier(path: Path | str, check_hash: bool = True) -> tuple[Classifier, dict]:
    """Load a classifier saved by :func:`save_classifier` (in eval mode) and its JSON record.

    ``path``: the .safetensors file or the .json beside it. Raises GenlabError if either is missing
    or the weights' sha256 differs from the one recorded.
    """
    path = Path(path)
    weights, meta = path.with_suffix(".safetensors"), path.with_suffix(".json")
    for p in (weights, meta):
        if not p.is_file():
            raise GenlabError(f"classifier file {p} not found; train it with benchmarks/train_classifiers.py")
    record = json.loads(meta.read_text())
    if check_hash and record.get("sha256") != sha256_file(weights):
        raise GenlabError(
            f"classifier weights {weights} do not match the sha256 in {meta.name}; "
            "reinstall genlab or retrain with benchmarks/train_classifiers.py"
        )
    model = Classifier(ClassifierConfig(**record["config"]))
    try:
        model.load_state_dict(load_file(str(weights)))
    except RuntimeError as e:
        raise GenlabError(f"classifier weights {weights} do not fit its config: {str(e).splitlines()[0]}") from None
    return model.eval(), record


@dataclass
class Recipe:
    """How a :class:`Classifier` is trained: AdamW with a one-cycle learning rate, cross-entropy."""

    widths: tuple[int, ...]
    epochs: int
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 5e-4
    flip: bool = False  # random horizontal flips
    feature_dim: int = 128
    domain: str = "images"  # "images" (A) or "pair" (B) of the ImageData


@torch.no_grad()
def accuracy(model: Classifier, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    """Share of uint8 ``images`` (N, C, H, W) that ``model`` labels with ``labels`` (N,)."""
    model.eval()
    correct = 0
    for a in range(0, len(images), batch):
        x = images[a : a + batch].float().div(255)
        correct += int((model(x).argmax(1) == labels[a : a + batch]).sum())
    return correct / len(images)


def fit_classifier(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    recipe: Recipe,
    seed: int = 0,
    num_classes: int | None = None,
    log=None,
) -> Classifier:
    """A :class:`Classifier` trained on uint8 images ``(N, C, H, W)`` and labels ``(N,)`` (seeded);
    ``log(epoch, mean_loss)`` after each epoch."""
    import math

    import torch.nn.functional as F

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    c, h, _ = x_train.shape[1:]
    config = ClassifierConfig(
        in_channels=c,
        image_size=h,
        num_classes=num_classes or int(y_train.max()) + 1,
        widths=recipe.widths,
        feature_dim=recipe.feature_dim,
    )
    model = Classifier(config)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = math.ceil(len(x_train) / recipe.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch)
    for epoch in range(recipe.epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        total = 0.0
        for a in range(0, len(perm), recipe.batch_size):
            idx = perm[a : a + recipe.batch_size]
            x, y = x_train[idx].float().div_(255.0), y_train[idx]  # (B, C, H, W), (B,)
            if recipe.flip:
                flip = torch.rand(len(x), generator=gen) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if log is not None:
            log(epoch, total / len(x_train))
    return model.eval()


def shipped_classifiers() -> list[str]:
    """Datasets with a classifier shipped in ``genlab/evaluation/weights/``."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


__all__ = [
    "Classifier",
    "ClassifierConfig",
    "Recipe",
    "WEIGHTS_DIR",
    "accuracy",
    "fit_classifier",
    "load_classifier",
    "save_classifier",
    "sha256_file",
    "shipped_classifiers",
]
