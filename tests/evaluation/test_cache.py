"""The feature cache: a second request for the same data and extractor reuses the stored features; a
stale, damaged or foreign file is ignored with a note and the features are computed again; another
extractor or other images make another entry."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from genlab.evaluation import cache
from genlab.evaluation.features import get_extractor


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture
def counted(digits_data):
    ext = get_extractor("classifier:digits")
    calls = []

    def compute(images):
        calls.append(len(images))
        return ext(images)

    return ext, compute, calls, digits_data[1].images


def _get(ext, compute, images, **data):
    return cache.cached_features(compute, {"name": "digits:test", **data}, images, ext.info(), quiet=True)


def test_second_request_reuses_the_features(cache_dir, counted):
    ext, compute, calls, images = counted
    first, how = _get(ext, compute, images)
    assert how["cache"] == "stored" and calls == [len(images)]
    second, how = _get(ext, compute, images)
    assert how["cache"] == "reused" and calls == [len(images)]  # not computed again
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(second, ext(images).numpy(), atol=1e-6)
    assert str(cache_dir) in how["file"]


def test_other_images_or_extractor_make_another_entry(cache_dir, counted):
    ext, compute, calls, images = counted
    _get(ext, compute, images)
    _get(ext, compute, images[:-1])  # one image fewer
    flipped = images.clone()
    flipped[0, 0, 0, 0] ^= 1  # one pixel changed
    _get(ext, compute, flipped)
    info = {**ext.info(), "sha256": "0" * 64}  # other weights
    cache.cached_features(compute, {"name": "digits:test"}, images, info, quiet=True)
    assert len(calls) == 4 and len(list((cache_dir / "features").glob("*.safetensors"))) == 4


def _only_file(cache_dir):
    (path,) = (cache_dir / "features").glob("*.safetensors")
    return path


@pytest.mark.parametrize(
    "damage,why",
    [
        ("stale", "stale"),
        ("bytes", "do not match their sha256"),
        ("foreign", "not a genlab feature cache"),
        ("garbage", "unreadable"),
    ],
)
def test_untrusted_files_are_ignored_with_a_note(cache_dir, counted, capsys, damage, why):
    ext, compute, calls, images = counted
    good, _ = _get(ext, compute, images)
    path = _only_file(cache_dir)
    if damage == "stale":  # a file under this key that describes something else
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata()
        described = json.loads(meta["description"])
        described["data"]["images"] += 1
        save_file({"features": good}, str(path), metadata={**meta, "description": json.dumps(described)})
    elif damage == "bytes":
        data = bytearray(path.read_bytes())
        data[-5] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "foreign":
        save_file({"features": good}, str(path), metadata={"format": "someone else"})
    else:
        path.write_bytes(b"\0" * 100)
    capsys.readouterr()
    again, how = _get(ext, compute, images)
    assert why in capsys.readouterr().err and len(calls) == 2 and how["cache"] == "stored"
    np.testing.assert_allclose(again, good, atol=1e-6)
    assert _get(ext, compute, images)[1]["cache"] == "reused"  # the file was replaced by a good one


def test_unwritable_cache_is_a_note(tmp_path, monkeypatch, counted, capsys):
    ext, compute, _, images = counted
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "file"))  # a file where the folder should be
    feats, how = _get(ext, compute, images)
    assert how["cache"] == "not stored" and "could not cache" in capsys.readouterr().err
    assert feats.shape == (len(images), ext.dim)


def test_digest_sees_dtype_shape_and_bytes():
    x = torch.zeros(2, 1, 3, 3, dtype=torch.uint8)
    assert cache.images_digest(x) == cache.images_digest(x.clone())
    assert cache.images_digest(x) != cache.images_digest(x.view(1, 2, 3, 3))
    assert cache.images_digest(x) != cache.images_digest(x.float())
