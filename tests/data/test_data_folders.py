import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data import (
    DATASETS,
    list_datasets,
    load_dataset,
    load_paired_folder,
    load_unpaired_folder,
    summary,
    to_float,
    to_uint8,
)
from genlab.errors import GenlabError


def _img(path, size=(20, 12), color=True, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    if color:
        arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr, "RGB").save(path)
    else:
        arr = np.full((size[1], size[0]), value, np.uint8)
        Image.fromarray(arr, "L").save(path)
    return path


def test_flat_folder_gray_resized_and_split(tmp_path):
    for i in range(20):
        _img(tmp_path / "set" / f"{i:02d}.png", size=(30 + i, 40), color=False, value=i * 10)
    train = load_dataset(str(tmp_path / "set"), image_size=64)
    test = load_dataset(str(tmp_path / "set"), "test", image_size=64)
    assert train.images.shape == (18, 1, 64, 64) and test.images.shape == (2, 1, 64, 64)
    assert train.labels is None and train.classes is None
    values = set(train.images[:, 0, 32, 32].tolist()) | set(test.images[:, 0, 32, 32].tolist())
    assert values == {i * 10 for i in range(20)}  # every image once, train and test disjoint
    assert np.array_equal(load_dataset(str(tmp_path / "set"), "test", image_size=64).images, test.images)  # fixed


def test_class_subfolders_rgb_when_any_colour(tmp_path):
    root = tmp_path / "pets"
    for i in range(3):
        _img(root / "dog" / f"d{i}.jpg", color=True, value=i)
        _img(root / "cat" / f"c{i}.png", color=False, value=i)
    _img(root / "cat" / "c9.bmp", color=False)
    data = load_dataset(str(root), "train", image_size=16)
    test = load_dataset(str(root), "test", image_size=16)
    assert data.classes == ["cat", "dog"] and data.shape == (3, 16, 16)
    assert len(data) + len(test) == 7
    labels = np.concatenate([data.labels.numpy(), test.labels.numpy()])
    assert sorted(labels.tolist()) == [0, 0, 0, 0, 1, 1, 1]


def test_train_test_subfolders(tmp_path):
    for split, n in (("train", 4), ("test", 2)):
        for i in range(n):
            _img(tmp_path / "d" / split / "a" / f"{i}.png", value=i)
            _img(tmp_path / "d" / split / "b" / f"{i}.png", value=i + 10)
    assert len(load_dataset(str(tmp_path / "d"))) == 8
    assert load_dataset(str(tmp_path / "d"), "test").labels.tolist() == [0, 0, 1, 1]


def test_unreadable_and_empty_folders(tmp_path):
    _img(tmp_path / "bad" / "ok.png")
    (tmp_path / "bad" / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(GenlabError) as err:
        load_dataset(str(tmp_path / "bad"))
    assert "broken.png" in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(GenlabError, match="holds no images"):
        load_dataset(str(tmp_path / "empty"))
    with pytest.raises(GenlabError, match="not a folder"):
        load_dataset(str(tmp_path / "missing"))


def test_unknown_name_and_bad_split():
    with pytest.raises(GenlabError, match="unknown dataset 'fashion'.*fashion-mnist"):
        load_dataset("fashion")
    with pytest.raises(GenlabError, match="unknown split"):
        load_dataset("digits", "val")


def test_paired_ab_folders_and_side_by_side(tmp_path):
    for i in range(3):
        _img(tmp_path / "p" / "train" / "A" / f"{i}.png", color=False, value=i)
        _img(tmp_path / "p" / "train" / "B" / f"{i}.jpg", color=True, value=i)
    data = load_dataset(str(tmp_path / "p"), image_size=8)
    assert data.images.shape == (3, 1, 8, 8) and data.pair.shape == (3, 3, 8, 8)
    assert data.images[:, 0, 4, 4].tolist() == [0, 1, 2]
    # side by side: left half A (black), right half B (white)
    for i in range(5):  # 3 train, 2 test
        arr = np.zeros((10, 20), np.uint8)
        arr[:, 10:] = 255
        (tmp_path / "sbs").mkdir(exist_ok=True)
        Image.fromarray(arr, "L").save(tmp_path / "sbs" / f"{i}.png")
    pairs = load_paired_folder(tmp_path / "sbs", image_size=10)
    assert pairs.images.shape == (3, 1, 10, 10) and int(pairs.images.max()) == 0 and int(pairs.pair.min()) == 255
    _img(tmp_path / "p" / "train" / "A" / "extra.png")
    with pytest.raises(GenlabError, match="do not match"):
        load_dataset(str(tmp_path / "p"), paired=True)


def test_unpaired_folders(tmp_path):
    for i in range(3):
        _img(tmp_path / "u" / "trainA" / f"{i}.png", value=i)
    for i in range(5):
        _img(tmp_path / "u" / "trainB" / f"b{i}.png", color=False, value=i)
    a, b = load_unpaired_folder(tmp_path / "u", image_size=12)
    assert a.images.shape == (3, 3, 12, 12) and b.images.shape == (5, 1, 12, 12)
    with pytest.raises(GenlabError, match="testA"):
        load_unpaired_folder(tmp_path / "u", split="test")
    # load_dataset combines the domains for CycleGAN: A in images, B in pair, tiled to the larger domain
    both = load_dataset(str(tmp_path / "u"), image_size=12)
    assert both.images.shape == (5, 3, 12, 12) and both.pair.shape == (5, 1, 12, 12)
    assert torch.equal(both.images[3], a.images[0]) and torch.equal(both.pair[4], b.images[4])
    test = load_dataset(str(tmp_path / "u"), "test", image_size=12)  # no testA/: the training images, said so
    assert test.meta["split_source"] == "train"
    assert "the test images are the training images" in summary(both, test)
    for d in "AB":  # with testA/ testB/ the line says nothing of it
        _img(tmp_path / "u" / f"test{d}" / "0.png", color=d == "A")
    test = load_dataset(str(tmp_path / "u"), "test", image_size=12)
    assert test.meta["split_source"] == "test" and "training images" not in summary(both, test)


def test_digits_and_registry():
    train, test = load_dataset("digits"), load_dataset("digits", "test")
    assert train.images.shape == (1500, 1, 8, 8) and test.images.shape == (297, 1, 8, 8)
    assert train.images.dtype == test.images.dtype and int(train.images.max()) == 255
    assert sorted(set(train.labels.tolist())) == list(range(10)) and train.classes[3] == "3"
    assert np.array_equal(load_dataset("digits", "test").images, test.images)
    assert load_dataset("digits", image_size=16).images.shape == (1500, 1, 16, 16)
    names = [n for n, _, _ in list_datasets()]
    assert names == list(DATASETS) and {"fashion-mnist", "mnist", "digits", "dsprites"} <= set(names)
    assert dict((n, a) for n, _, a in list_datasets())["digits"] is True
    x = to_float(train.images[:4])
    assert x.dtype.is_floating_point and np.array_equal(to_uint8(x), train.images[:4])
