"""scikit-learn's 8x8 digits (1,797 images): always available, the default for smoke runs."""

from __future__ import annotations

import numpy as np
import torch

from genlab.data.base import ImageData

TEST_SIZE = 297  # 1,500 train / 297 test
SPLIT_SEED = 0


def load_digits(split: str = "train") -> ImageData:
    """uint8 (N, 1, 8, 8), pixel values 0..16 scaled to 0..255; a fixed seeded train/test split."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # (1797, 8, 8)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    idx = np.sort(perm[:TEST_SIZE] if split == "test" else perm[TEST_SIZE:])
    return ImageData(
        name="digits",
        images=torch.from_numpy(images[idx]).unsqueeze(1),
        labels=torch.from_numpy(bunch.target[idx].astype(np.int64)),
        classes=[str(d) for d in range(10)],
        meta={
            "split": split,
            "source": "sklearn.datasets.load_digits",
            "subset": f"seeded permutation (seed {SPLIT_SEED}): {TEST_SIZE} test, the rest train",
        },
    )
