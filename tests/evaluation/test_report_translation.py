"""Translation metrics in genlab evaluate, and the label metrics at 100% when real targets stand in."""

import pytest
import torch

import genlab
from genlab.data import load_dataset, to_float
from genlab.data.paired import pixel_accuracy
from genlab.evaluation.features import get_extractor
from genlab.evaluation.report import EvalSettings, class_agreement

TINY = {"ngf": "4", "ndf": "4", "batch_size": "4"}


def test_label_metrics_are_one_for_real_targets():
    # digits' shipped classifier labels every training image correctly (train accuracy 1.0 in its record),
    # so real images of class y in place of generated ones give cond_accuracy = label_preservation = 1
    clf = get_extractor("digits")
    assert clf.record["train_accuracy"] == 1.0
    train = load_dataset("digits")
    assert class_agreement(clf, to_float(train.images), train.labels) == 1.0
    assert class_agreement(clf, to_float(train.images), (train.labels + 1) % 10) < 0.05


def test_pixel_accuracy_is_one_for_the_true_maps():
    maps = load_dataset("maps", "test")
    assert pixel_accuracy(to_float(maps.pair), maps.meta["classes"]) == 1.0
    assert pixel_accuracy(to_float(maps.images), maps.meta["classes"]) < 0.9  # the aerial view is not a map


@pytest.mark.parametrize(
    "model, data, keys",
    [
        ("pix2pix", "maps", {"l1", "psnr", "ssim", "pixel_accuracy"}),
        ("cyclegan", "fashion-stripes", {"cycle_l1", "label_preservation", "fid", "kid"}),
    ],
)
def test_translation_report(tmp_path, model, data, keys):
    settings = {**TINY, "n_blocks": "1"} if model == "cyclegan" else TINY
    genlab.train(model, data, tmp_path / "run", steps=2, settings=settings, quiet=True)
    report = genlab.evaluate(tmp_path / "run", tmp_path / "r.json", settings=EvalSettings.quick())
    assert keys <= set(report), keys - set(report)
    for key in keys:
        assert key in report["measured"]
    if model == "pix2pix":
        assert 0 <= report["pixel_accuracy"] <= 1 and report["psnr"] > 0
    else:
        assert report["cycle_l1"] >= 0 and 0 <= report["label_preservation"] <= 1
        assert torch.isfinite(torch.tensor(report["fid"]))
