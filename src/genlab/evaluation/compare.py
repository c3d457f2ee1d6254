"""FID, KID and precision/recall between any two image sets: ``genlab fid A B`` and :func:`fid_between`.

What pytorch-fid and clean-fid do, on genlab's extractors: A and B are folders, arrays, dataset
splits or runs (:mod:`.imagesets`); both go through the same conversion to the extractor's input
(stated in the result), the features of a set that is not freshly drawn are cached (:mod:`.cache`),
and the scores are :func:`genlab.evaluation.fid.sample_scores` with A as the set judged and B as the
reference, as torch-fidelity's input1/input2: precision is the share of A inside B's manifold,
recall the share of B inside A's (Kynkaanniemi et al. 2019).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import GenlabError
from . import fid
from .cache import cached_features, note
from .features import extract_features, get_extractor
from .imagesets import ImageSet, load_image_set

FID_BIAS_N = 2000  # below about this many images FID is noticeably biased upwards (Binkowski et al. 2018)
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, RGB -> gray for extractors that take one channel


def to_extractor_input(images: torch.Tensor, extractor) -> tuple[torch.Tensor, list[str]]:
    """uint8 ``(N, C, H, W)`` -> what ``extractor`` takes, and the steps taken, in words.

    Channels: gray is tiled to RGB for an RGB extractor, RGB becomes BT.601 luma for a gray one.
    Size: an extractor with a fixed ``image_size`` gets the images resized to it (center-cropped to a
    square, antialiased bilinear); Inception resizes every image to 299x299 itself (TF1 bilinear).
    """
    from ..data import resize_images

    steps = []
    channels, size = getattr(extractor, "channels", 3), getattr(extractor, "image_size", None)
    if images.shape[1] == 1 and channels == 3:
        if not getattr(extractor, "tiles_gray", False):  # Inception tiles itself: the images keep one channel
            images = images.expand(-1, 3, -1, -1)
        steps.append("gray tiled to RGB")
    elif images.shape[1] == 3 and channels == 1:
        w = torch.tensor(LUMA).view(1, 3, 1, 1)
        images = (images.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
        steps.append("RGB to gray (BT.601 luma)")
    if size is not None and tuple(images.shape[2:]) != (size, size):
        steps.append(f"{images.shape[2]}x{images.shape[3]} resized to {size}x{size} (antialiased bilinear)")
        images = resize_images(images.contiguous(), size)
    if getattr(extractor, "name", "") == "inception":
        steps.append("resized to 299x299 by the network's TF1 bilinear resize")
    return images, steps


def _features(s: ImageSet, images: torch.Tensor, extractor, which: str, quiet: bool) -> tuple[np.ndarray, str]:
    def compute(x):
        return extract_features(extractor, x, f"features of {which}", quiet)

    if not s.cacheable:
        return compute(images).numpy(), "computed (drawn samples are not cached)"
    # keyed as genlab evaluate keys its reference (the name and the images' digest, which holds their
    # shape): the features of a split computed by either command are reused by the other
    feats, how = cached_features(compute, {"name": s.name}, images, extractor.info(), quiet=quiet)
    return feats, how["cache"]


def fid_between(
    a,
    b,
    features: str = "inception",
    *,
    num_samples: int | None = None,
    inception_weights=None,
    seed: int = 0,
    device: str = "cpu",
    quiet: bool = False,
) -> dict:
    """FID, KID (+ std over subsets), precision and recall between image sets ``a`` and ``b``.

    ``a``, ``b``: a folder, a ``.npy``/``.npz`` file, ``"dataset:split"``, a run directory, or an
    array of images. ``features``: an extractor name (``inception``, ``classifier:fashion-mnist``...).
    ``num_samples``: at most this many images per set (the first ones; drawn, for a run).
    Returns the scores, and under ``measured`` the sets, the extractor, the conversion and the cache use.
    """
    sa = load_image_set(a, num_samples, seed=seed, device=device, quiet=quiet)
    sb = load_image_set(b, num_samples, seed=seed + 1, device=device, quiet=quiet)  # one run on both sides: 2 draws
    n = min(len(sa.images), len(sb.images))
    if n <= fid.PR_K:
        raise GenlabError(
            f"too few images to compare ({len(sa.images)} and {len(sb.images)}); "
            f"precision/recall need more than {fid.PR_K} per set, FID about {FID_BIAS_N}"
        )
    kw = {"device": device} if not features.startswith("palette") else {}
    extractor = get_extractor(features, inception_weights, **kw)
    xa, steps_a = to_extractor_input(sa.images, extractor)
    xb, steps_b = to_extractor_input(sb.images, extractor)
    notes = [*sa.notes, *sb.notes]
    if n < FID_BIAS_N:
        notes.append(
            f"FID is biased upwards with fewer than about {FID_BIAS_N} images (here {n}): compare KID, "
            "which is unbiased at any size"
        )
    if not quiet:
        for line in notes:
            note(line)
    fa, cache_a = _features(sa, xa, extractor, "A", quiet)
    fb, cache_b = _features(sb, xb, extractor, "B", quiet)
    scores = fid.sample_scores(np.asarray(fa, np.float64), np.asarray(fb, np.float64), seed=seed)
    conversion = {"A": "; ".join(steps_a) or "none", "B": "; ".join(steps_b) or "none"}
    return {
        **scores,
        "num_images": {"A": len(fa), "B": len(fb)},
        "features": extractor.name,
        "measured": {
            "A": sa.describe(),
            "B": sb.describe(),
            "extractor": extractor.info(),
            "conversion": conversion,
            "features_cache": {"A": cache_a, "B": cache_b},
            "kid_subsets": fid.KID_NUM_SUBSETS,
            "kid_subset_size": min(fid.KID_SUBSET_SIZE, n),
            "pr_k": fid.PR_K,
            "seed": seed,
            "precision_recall": "precision: share of A in B's k-NN manifold; recall: of B in A's",
            "notes": notes,
        },
    }


__all__ = ["fid_between", "to_extractor_input"]
