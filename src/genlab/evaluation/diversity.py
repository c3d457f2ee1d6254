"""Per-class diversity of a conditional generator: has it kept the variety within each class?

A conditional GAN can label every sample right (``cond_accuracy`` 1) and still draw one picture per
class: the noise ignored, a mode collapse inside each class that FID over all classes hides behind
the classes' spread. Two figures per class y, on features of the images (a classifier's, Inception's,
or the pixels themselves), generated images of label y against the real images of class y:

- spread ratio: mean pairwise distance within the generated set / the same within the real set
  (1: as varied as the data; 0: one picture per class);
- recall (Kynkaanniemi et al. 2019, k = 3): the share of real class-y images inside the k-NN manifold
  of the generated class-y images: the share of the class's variety the generator covers.

``class_diversity`` / ``class_recall`` are the means over classes; the per-class lists come beside.
"""

from __future__ import annotations

import numpy as np
import torch

from .fid import PR_K, precision_recall


def mean_pairwise_distance(feats: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs i < j of the rows of ``feats`` (N, d)."""
    x = feats.double().flatten(1)
    n = x.shape[0]
    if n < 2:
        raise ValueError("the mean pairwise distance needs at least two rows")
    d = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")  # (N, N), zero diagonal
    return float(d.sum() / (n * (n - 1)))


def class_diversity(fake_feats, fake_labels, real_feats, real_labels, num_classes: int, k: int = PR_K) -> dict:
    """Spread ratio and recall per class (the module docstring), and their means over the classes present."""
    fake_feats, real_feats = torch.as_tensor(np.asarray(fake_feats)), torch.as_tensor(np.asarray(real_feats))
    fake_labels, real_labels = torch.as_tensor(fake_labels).long(), torch.as_tensor(real_labels).long()
    spread: list[float | None] = []
    recall: list[float | None] = []
    for y in range(num_classes):
        f, r = fake_feats[fake_labels == y], real_feats[real_labels == y]
        if min(f.shape[0], r.shape[0]) <= k:  # too few images of this class to say
            spread.append(None)
            recall.append(None)
            continue
        spread.append(mean_pairwise_distance(f) / max(mean_pairwise_distance(r), 1e-12))
        recall.append(precision_recall(r.numpy(), f.numpy(), k=k)["recall"])
    seen = [s for s in spread if s is not None]
    if not seen:
        raise ValueError(f"no class has more than {k} generated and real images")
    return {
        "class_diversity": float(np.mean(seen)),
        "class_diversity_per_class": spread,
        "class_recall": float(np.mean([r for r in recall if r is not None])),
        "class_recall_per_class": recall,
    }
