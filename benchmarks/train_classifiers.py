"""Train genlab's shipped classifiers (the FID feature extractors and the label judges).

    .venv/bin/python benchmarks/train_classifiers.py --threads 1                     # every dataset
    .venv/bin/python benchmarks/train_classifiers.py --datasets digits --threads 1   # just one

Writes ``src/genlab/evaluation/weights/<dataset>.safetensors`` and ``<dataset>.json`` (config, test
accuracy, seed, the command, sha256 of the weights); for ``maps`` only ``maps.json``: its per-pixel
"classifier" is the nearest palette colour, nothing to train. Fixed seed (0), CPU; the shipped files
were made with ``--threads 1`` (other thread counts may change the last bits). CPU cost, one core:
Fashion-MNIST about 5 minutes, fashion-stripes about 3, digits under a minute. Plain training:
AdamW, one-cycle learning rate, cross-entropy, no augmentation except horizontal flips for garments.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import platform
import sys
import time

import torch

from genlab.data import DATASETS, load_dataset
from genlab.evaluation.classifier import WEIGHTS_DIR, Recipe, accuracy, fit_classifier, save_classifier

SEED = 0


RECIPES = {
    "fashion-mnist": Recipe(widths=(16, 32, 64), epochs=5, batch_size=256, lr=3e-3, flip=True),
    "digits": Recipe(widths=(32, 64), epochs=60, batch_size=64),
    # domain B of the unpaired garment dataset: the class of a striped garment
    "fashion-stripes": Recipe(widths=(16, 32, 64), epochs=5, batch_size=256, lr=3e-3, flip=True, domain="pair"),
}


# built-ins defined in genlab.data modules, used directly until genlab.data registers them
MODULE_LOADERS = {
    "fashion-stripes": ("genlab.data.unpaired", "load_fashion_stripes"),
    "maps": ("genlab.data.paired", "load_maps"),
}


def load(name: str, split: str):
    if name in DATASETS or name not in MODULE_LOADERS:
        return load_dataset(name, split)
    module, fn = MODULE_LOADERS[name]
    return getattr(importlib.import_module(module), fn)(split)


def available(name: str) -> bool:
    if name in DATASETS:
        return True
    try:
        return name in MODULE_LOADERS and importlib.util.find_spec(MODULE_LOADERS[name][0]) is not None
    except ImportError:
        return False


def domain_data(name: str, split: str, domain: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) of one domain: A = ``images``/``labels``, B = ``pair``/``meta["pair_labels"]``."""
    data = load(name, split)
    images = data.images if domain == "images" else data.pair
    labels = data.labels if domain == "images" else data.meta.get("pair_labels")
    if images is None or labels is None:
        raise SystemExit(f"{name} {split}: no {domain} images or no labels")
    return images, labels


def train(name: str, recipe: Recipe, seed: int = SEED, threads: int = 2) -> dict:
    x_train, y_train = domain_data(name, "train", recipe.domain)
    x_test, y_test = domain_data(name, "test", recipe.domain)
    start = time.time()

    def log(epoch, loss):
        print(f"{name} epoch {epoch + 1}/{recipe.epochs}: loss {loss:.4f} ({time.time() - start:.0f}s)", flush=True)

    model = fit_classifier(x_train, y_train, recipe, seed, log=log)
    info = {
        "dataset": name,
        "domain": "A" if recipe.domain == "images" else "B",
        "test_accuracy": round(accuracy(model, x_test, y_test), 4),
        "train_accuracy": round(accuracy(model, x_train, y_train), 4),
        "num_test": len(x_test),
        "num_train": len(x_train),
        "seed": seed,
        "recipe": {k: v for k, v in vars(recipe).items()},
        "command": f"python benchmarks/train_classifiers.py --datasets {name} --seed {seed} --threads {threads}",
        "train_seconds": round(time.time() - start),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    record = save_classifier(model.eval(), WEIGHTS_DIR / f"{name}.safetensors", info)
    print(f"{name}: test accuracy {record['test_accuracy']:.4f} -> {WEIGHTS_DIR / (name + '.safetensors')}")
    return record


def palette(name: str = "maps") -> dict:
    """The maps "classifier": each pixel's class is its nearest palette colour (no training).

    Its accuracy is the per-pixel accuracy on the true test maps (the ceiling of ``pixel_accuracy``).
    """
    test = load(name, "test")
    pal = test.meta["palette"].float()  # (K, 3)
    d = (test.pair.float()[:, None] - pal.view(1, -1, 3, 1, 1)).pow(2).sum(2)  # (N, K, H, W)
    acc = float((d.argmin(1) == test.meta["classes"].long()).float().mean())
    record = {
        "dataset": name,
        "domain": "B",
        "kind": "palette",
        "palette": test.meta["palette"].tolist(),
        "classes": list(test.meta["class_names"]),
        "test_pixel_accuracy": round(acc, 4),
        "num_test": len(test),
        "command": f"python benchmarks/train_classifiers.py --datasets {name}",
    }
    (WEIGHTS_DIR / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"{name}: nearest-palette pixel accuracy on the true test maps {acc:.4f}")
    return record


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=[*RECIPES, "maps"], choices=[*RECIPES, "maps"])
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.datasets:
        if not available(name):
            print(f"skipping {name}: not a registered dataset yet", file=sys.stderr)
            continue
        if name == "maps":
            palette(name)
        else:
            train(name, RECIPES[name], args.seed, args.threads)


if __name__ == "__main__":
    main()
