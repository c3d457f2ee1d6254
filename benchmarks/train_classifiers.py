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
import math
import platform
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genlab.data import DATASETS, load_dataset, to_float
from genlab.evaluation.classifier import WEIGHTS_DIR, Classifier, ClassifierConfig, save_classifier

SEED = 0


@dataclass
class Recipe:
    widths: tuple[int, ...]
    epochs: int
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 5e-4
    flip: bool = False  # random horizontal flips
    feature_dim: int = 128
    domain: str = "images"  # "images" (A) or "pair" (B) of the ImageData


RECIPES = {
    "fashion-mnist": Recipe(widths=(16, 32, 64), epochs=5, batch_size=256, lr=3e-3, flip=True),
    "digits": Recipe(widths=(32, 64), epochs=60, batch_size=64),
    # domain B of the unpaired garment dataset: the class of a striped garment
    "fashion-stripes": Recipe(widths=(16, 32, 64), epochs=5, batch_size=256, lr=3e-3, flip=True, domain="pair"),
}


# built-ins defined in genlab.data modules, used directly until genlab.data registers them
MODULE_LOADERS = {"fashion-stripes": ("genlab.data.unpaired", "load_fashion_stripes"),
                  "maps": ("genlab.data.paired", "load_maps")}


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


@torch.no_grad()
def accuracy(model: Classifier, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    model.eval()
    correct = 0
    for a in range(0, len(images), batch):
        correct += int((model(to_float(images[a:a + batch])).argmax(1) == labels[a:a + batch]).sum())
    return correct / len(images)


def train(name: str, recipe: Recipe, seed: int = SEED, threads: int = 2) -> dict:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x_train, y_train = domain_data(name, "train", recipe.domain)
    x_test, y_test = domain_data(name, "test", recipe.domain)
    c, h, w = x_train.shape[1:]
    config = ClassifierConfig(in_channels=c, image_size=h, num_classes=int(y_train.max()) + 1, widths=recipe.widths,
                              feature_dim=recipe.feature_dim)
    model = Classifier(config)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = math.ceil(len(x_train) / recipe.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch)
    start = time.time()
    for epoch in range(recipe.epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        total = 0.0
        for a in range(0, len(perm), recipe.batch_size):
            idx = perm[a:a + recipe.batch_size]
            x, y = to_float(x_train[idx]), y_train[idx]  # (B, C, H, W), (B,)
            if recipe.flip:
                flip = torch.rand(len(x), generator=gen) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        print(f"{name} epoch {epoch + 1}/{recipe.epochs}: loss {total / len(x_train):.4f} "
              f"({time.time() - start:.0f}s)", flush=True)
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
    record = {"dataset": name, "domain": "B", "kind": "palette", "palette": test.meta["palette"].tolist(),
              "classes": list(test.meta["class_names"]), "test_pixel_accuracy": round(acc, 4),
              "num_test": len(test), "command": f"python benchmarks/train_classifiers.py --datasets {name}"}
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
