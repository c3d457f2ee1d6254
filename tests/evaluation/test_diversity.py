import numpy as np
import pytest
from scipy.spatial.distance import pdist

from genlab.evaluation.diversity import class_diversity, mean_pairwise_distance


def test_mean_pairwise_distance_matches_scipy():
    x = np.random.default_rng(0).normal(size=(30, 5))
    import torch

    assert abs(mean_pairwise_distance(torch.tensor(x)) - pdist(x).mean()) < 1e-10


def _real(rng, n_per=60):
    # class y: points around a centre 10 * y, spread 1
    feats = np.concatenate([rng.normal(10 * y, 1.0, (n_per, 4)) for y in range(3)])
    return feats, np.repeat(np.arange(3), n_per)


def test_a_generator_drawing_the_data_scores_about_one():
    rng = np.random.default_rng(0)
    real, labels = _real(rng)
    fake, _ = _real(rng)  # fresh draws of the same distribution
    out = class_diversity(fake, labels, real, labels, 3)
    assert out["class_diversity"] == pytest.approx(1.0, abs=0.1)
    assert out["class_recall"] > 0.8
    assert len(out["class_diversity_per_class"]) == 3


def test_one_picture_per_class_scores_zero_spread_and_low_recall():
    rng = np.random.default_rng(1)
    real, labels = _real(rng)
    fake = np.repeat(np.stack([np.full(4, 10.0 * y) for y in range(3)]), 60, axis=0)  # the class mean, 60 times
    fake = fake + rng.normal(0, 1e-3, fake.shape)  # distinct points, all at one place
    out = class_diversity(fake, labels, real, labels, 3)
    assert out["class_diversity"] < 0.01
    assert out["class_recall"] < 0.1


def test_classes_with_too_few_images_are_left_out():
    rng = np.random.default_rng(2)
    real, labels = _real(rng)
    keep = labels != 2
    out = class_diversity(real[keep], labels[keep], real, labels, 3)
    assert out["class_diversity_per_class"][2] is None and out["class_recall_per_class"][2] is None
    assert out["class_diversity"] == pytest.approx(1.0)
