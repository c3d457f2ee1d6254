"""A classifier for a labelled user folder, trained on the folder's own training split: ``genlab classifier``.

genlab ships classifiers for its built-in datasets; a user folder with class subfolders gets one
with one command. It is the same small CNN (:class:`~.classifier.Classifier`), trained on the
folder's training split at the size the runs use, its accuracy measured on the folder's test split
and recorded beside the weights in ``$GENLAB_CACHE/classifiers/``. ``genlab evaluate`` finds it for
runs on that folder (same images, same size: the file name holds the sha256 of the test images)
and reports ``cond_accuracy`` and ``latent_completeness`` with it, its test accuracy beside them.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from ..errors import GenlabError
from .cache import cache_root, images_digest

MIN_PER_CLASS = 2  # training images per class, at the least


def classifier_file(data_name: str, test_images: torch.Tensor) -> Path:
    """Where the classifier of ``data_name`` at the size of ``test_images`` lives (its weights file)."""
    stem = Path(data_name).name or "data"
    size = test_images.shape[-1]
    return cache_root() / "classifiers" / f"{stem}-{size}px-{images_digest(test_images)[:16]}.safetensors"


def recipe_for(image_size: int, num_train: int, epochs: int | None = None):
    """Conv stages by image size (8 px: 2, 28 px: 3, 64 px and more: 4); about 100k images seen."""
    from .classifier import Recipe

    stages = max(1, min(4, int(math.log2(max(image_size, 2))) - 1))
    epochs = epochs or max(10, min(60, math.ceil(100_000 / max(num_train, 1))))
    return Recipe(widths=(32, 64, 128, 128)[:stages], epochs=epochs, batch_size=64)


def train_data_classifier(
    data: str, image_size: int | None = None, epochs: int | None = None, seed: int = 0, quiet: bool = False
) -> dict:
    """Train the classifier of a labelled dataset (a user folder) and store it; returns its record."""
    from ..data import load_dataset
    from .classifier import accuracy, fit_classifier, save_classifier
    from .progress import bar

    train, test = load_dataset(data, "train", image_size), load_dataset(data, "test", image_size)
    if train.labels is None or test.labels is None:
        raise GenlabError(
            f"{data} has no class subfolders; a classifier needs labelled images (one subfolder per class)"
        )
    num_classes = len(train.classes or []) or int(train.labels.max()) + 1
    counts = torch.bincount(train.labels, minlength=num_classes)
    if int(counts.min()) < MIN_PER_CLASS or len(test.labels) == 0:
        raise GenlabError(
            f"{data} has too few images to train a classifier ({int(counts.min())} in its smallest "
            f"class, {len(test.labels)} to test on); give each class at least 10 images"
        )
    recipe = recipe_for(train.images.shape[-1], len(train.images), epochs)
    start = time.time()
    with bar(recipe.epochs, f"classifier of {Path(data).name}", quiet, unit="epoch") as progress:
        model = fit_classifier(
            train.images,
            train.labels,
            recipe,
            seed,
            num_classes=num_classes,
            log=lambda epoch, loss: progress.update(1),
        )
    path = classifier_file(data, test.images)
    info = {
        "dataset": str(data),
        "domain": "A",
        "classes": train.classes,
        "test_accuracy": round(accuracy(model, test.images, test.labels), 4),
        "train_accuracy": round(accuracy(model, train.images, train.labels), 4),
        "num_train": len(train.images),
        "num_test": len(test.images),
        "seed": seed,
        "recipe": {k: v for k, v in vars(recipe).items()},
        "test_images_sha256": images_digest(test.images),
        "command": f"genlab classifier {data}" + (f" --image-size {image_size}" if image_size else ""),
        "train_seconds": round(time.time() - start),
    }
    record = save_classifier(model, path, info)
    return {**record, "file": str(path)}


def find_data_classifier(data_name: str, test_images: torch.Tensor):
    """The stored classifier of ``data_name`` for these test images (a ClassifierExtractor), or None."""
    from .features import ClassifierExtractor

    path = classifier_file(data_name, test_images)
    if not path.is_file() or not path.with_suffix(".json").is_file():
        return None
    record = json.loads(path.with_suffix(".json").read_text())
    if record.get("test_images_sha256") != images_digest(test_images):
        return None
    return ClassifierExtractor(path)


__all__ = ["classifier_file", "find_data_classifier", "recipe_for", "train_data_classifier"]
