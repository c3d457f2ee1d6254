import importlib
import math
import os

import numpy as np
import pytest
import torch

from genlab.evaluation.image_metrics import classification_accuracy, l1, psnr, ssim


def skimage_metrics():
    """scikit-image, the independent reference: skipped where absent, required in CI (a test extra)."""
    if os.environ.get("CI"):
        return importlib.import_module("skimage.metrics")
    return pytest.importorskip("skimage.metrics")


def pair(seed=0, shape=(3, 2, 32, 40)):
    rng = np.random.default_rng(seed)
    a = rng.uniform(size=shape)
    b = np.clip(a + rng.normal(scale=0.1, size=shape), 0, 1)
    return a, b


def test_psnr_known_value_and_identity():
    a = torch.zeros(2, 1, 8, 8)
    b = torch.full((2, 1, 8, 8), 0.1)  # MSE = 0.01 -> 20 dB
    assert psnr(a, b) == pytest.approx(20.0)
    assert psnr(a, b, data_range=2.0) == pytest.approx(20.0 + 20 * math.log10(2))
    assert psnr(a, a) == math.inf


def test_psnr_matches_skimage():
    metrics = skimage_metrics()
    a, b = pair()
    ref = np.mean([metrics.peak_signal_noise_ratio(a[i], b[i], data_range=1.0) for i in range(len(a))])
    assert psnr(a, b) == pytest.approx(ref, rel=1e-10)


def test_ssim_matches_skimage():
    metrics = skimage_metrics()
    a, b = pair(1)
    ref = np.mean(
        [
            metrics.structural_similarity(
                a[i],
                b[i],
                data_range=1.0,
                channel_axis=0,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
            for i in range(len(a))
        ]
    )
    assert ssim(a, b) == pytest.approx(ref, abs=1e-10)
    # uint8 input is read as [0, 255]
    a8, b8 = (a * 255).round().astype(np.uint8), (b * 255).round().astype(np.uint8)
    ref8 = np.mean(
        [
            metrics.structural_similarity(
                a8[i],
                b8[i],
                data_range=255,
                channel_axis=0,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
            for i in range(len(a))
        ]
    )
    assert ssim(torch.from_numpy(a8), torch.from_numpy(b8)) == pytest.approx(ref8, abs=1e-10)


def test_ssim_known_cases():
    a, _ = pair(2, (1, 1, 16, 16))
    assert ssim(a, a) == pytest.approx(1.0)
    # two constant images: SSIM = (2 m1 m2 + C1) / (m1^2 + m2^2 + C1)
    c1 = (0.01) ** 2
    x, y = torch.full((1, 1, 16, 16), 0.2), torch.full((1, 1, 16, 16), 0.6)
    assert ssim(x, y) == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.04 + 0.36 + c1))
    assert ssim(a[0], a[0]) == pytest.approx(1.0)  # (C, H, W) accepted
    with pytest.raises(ValueError):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))


def test_l1():
    a = torch.zeros(2, 3, 4, 4)
    b = torch.full((2, 3, 4, 4), 0.25)
    b[0] = -0.75
    assert l1(a, b) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        l1(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))


def test_classification_accuracy():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.1, 3.0], [1.0, 5.0, 0.0], [0.0, 0.0, 1.0]])
    labels = torch.tensor([0, 2, 0, 1])
    assert classification_accuracy(logits, labels) == pytest.approx(0.5)
    assert classification_accuracy(np.array([1, 2, 3]), [1, 2, 0]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        classification_accuracy(torch.zeros(3), torch.zeros(4))
