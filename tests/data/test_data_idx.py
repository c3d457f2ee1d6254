import gzip
import hashlib
import urllib.error

import numpy as np
import pytest
from data_helpers import idx_bytes, write_idx

from genlab.data import idx, load_dataset
from genlab.errors import GenlabError


def _fake_mnist(folder, monkeypatch, gz, n=(12, 5)):
    """Write a tiny mnist-shaped IDX set and make its hashes the 'official' ones."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    hashes = {}
    for split, count in zip(("train", "test"), n):
        img_name, lab_name = idx.FILES[split]
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        hashes[img_name] = hashlib.sha256(write_idx(folder / img_name, images, gz)).hexdigest()
        hashes[lab_name] = hashlib.sha256(write_idx(folder / lab_name, labels, gz)).hexdigest()
    src = idx.SOURCES["mnist"]
    monkeypatch.setitem(
        idx.SOURCES, "mnist", idx.IdxSource(src.urls, hashes, src.gz_sha256, src.classes, src.install_hint)
    )
    return images, labels  # the test split


@pytest.mark.parametrize("gz", [False, True])
def test_idx_loads_raw_and_gz(data_dirs, monkeypatch, gz):
    images, labels = _fake_mnist(data_dirs["system"] / "mnist", monkeypatch, gz)
    data = load_dataset("mnist", "test")
    assert data.images.shape == (5, 1, 28, 28) and data.images.dtype.is_floating_point is False
    assert np.array_equal(data.images[:, 0].numpy(), images)
    assert np.array_equal(data.labels.numpy(), labels)
    assert data.classes == [str(d) for d in range(10)]
    assert len(load_dataset("mnist", "train")) == 12
    assert idx.is_available("mnist")


def test_lookup_order_env_first(data_dirs, monkeypatch):
    _fake_mnist(data_dirs["system"] / "mnist", monkeypatch, gz=False)
    good = dict(idx.SOURCES["mnist"].raw_sha256)
    _fake_mnist(data_dirs["env"] / "mnist", monkeypatch, gz=True, n=(3, 2))
    assert len(load_dataset("mnist", "test")) == 2  # GENLAB_DATA wins over the system folder
    monkeypatch.setitem(idx.SOURCES, "mnist", idx.IdxSource((), good, {}, idx.SOURCES["mnist"].classes, ""))
    with pytest.raises(GenlabError, match="not the official mnist file"):
        load_dataset("mnist", "test")  # the first copy found has the wrong hash: say so, don't skip it


def test_hash_mismatch_is_one_line_error(data_dirs):
    folder = data_dirs["home"] / ".cache" / "genlab" / "fashion-mnist"
    folder.mkdir(parents=True)
    for split in ("train", "test"):
        for name in idx.FILES[split]:
            write_idx(folder / name, np.zeros((2, 28, 28) if "images" in name else (2,), np.uint8))
    with pytest.raises(GenlabError) as err:
        load_dataset("fashion-mnist")
    msg = str(err.value)
    assert "\n" not in msg and "SHA-256" in msg and "delete it" in msg


def test_bad_magic_and_truncated(tmp_path):
    good = idx_bytes(np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28) % 251)
    assert idx.parse_idx(good).shape == (2, 28, 28)
    with pytest.raises(GenlabError, match="bad magic"):
        idx.parse_idx(b"\x12\x34" + good[2:])
    with pytest.raises(GenlabError, match="truncated"):
        idx.parse_idx(good[:-10])
    with pytest.raises(GenlabError, match="truncated"):
        idx.parse_idx(good[:9])
    with pytest.raises(GenlabError, match="longer"):
        idx.parse_idx(good + b"\0")
    (tmp_path / "x.gz").write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(GenlabError, match="damaged gzip"):
        idx.read_idx(tmp_path / "x.gz")


def test_offline_error_names_three_ways(data_dirs, monkeypatch):
    def no_network(url):
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr(idx, "_fetch", no_network)
    with pytest.raises(GenlabError) as err:
        load_dataset("fashion-mnist")
    msg = str(err.value)
    assert "\n" not in msg
    assert "GENLAB_DATA" in msg and ".cache/genlab/fashion-mnist" in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert not any(data_dirs["env"].rglob("*.gz"))  # nothing half-written


def test_download_writes_checked_files(data_dirs, monkeypatch):
    blobs = {
        stem: idx_bytes(np.full((3, 28, 28) if "images" in stem else (3,), 7, np.uint8))
        for pair in idx.FILES.values()
        for stem in pair
    }
    gz = {stem: gzip.compress(b) for stem, b in blobs.items()}
    src = idx.SOURCES["mnist"]
    monkeypatch.setitem(
        idx.SOURCES,
        "mnist",
        idx.IdxSource(
            ("http://mirror.invalid/",),
            {s: hashlib.sha256(b).hexdigest() for s, b in blobs.items()},
            {s: hashlib.sha256(b).hexdigest() for s, b in gz.items()},
            src.classes,
            src.install_hint,
        ),
    )
    monkeypatch.setattr(idx, "_fetch", lambda url: gz[url.rsplit("/", 1)[1][:-3]])
    data = load_dataset("mnist", "train")
    assert data.images.shape == (3, 1, 28, 28) and int(data.labels[0]) == 7
    assert sorted(p.name for p in (data_dirs["env"] / "mnist").iterdir()) == sorted(f"{s}.gz" for s in blobs)


def test_debian_fashion_mnist_if_installed():
    if not idx.is_available("fashion-mnist"):
        pytest.skip("fashion-mnist files not installed")
    data = load_dataset("fashion-mnist", "test")
    assert data.images.shape == (10000, 1, 28, 28) and data.classes[9] == "Ankle boot"
    assert data.labels.bincount().tolist() == [1000] * 10
