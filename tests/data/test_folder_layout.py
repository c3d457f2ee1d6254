"""Which layout a folder is read as, at which size, and the one-line summary train prints."""

import numpy as np
import pytest
from PIL import Image

from genlab.cli import main
from genlab.data import load_dataset, summary
from genlab.errors import GenlabError


def _img(path, size=(12, 12), value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0]), value, np.uint8), "L").save(path)


def test_class_folders_named_a_and_b_are_classes_when_names_differ(tmp_path):
    for i in range(4):
        _img(tmp_path / "grades" / "A" / f"alice{i}.png", value=10)
        _img(tmp_path / "grades" / "B" / f"bob{i}.png", value=200)
    data = load_dataset(str(tmp_path / "grades"))
    assert data.pair is None and data.classes == ["A", "B"]
    note = " ".join(data.meta["notes"])
    assert "read as 2 classes, not as A/B pairs" in note and "do not match one to one" in note and "--paired" in note
    with pytest.raises(GenlabError, match="do not match one to one"):
        load_dataset(str(tmp_path / "grades"), paired=True)


def test_exact_paired_layout_is_pairs_and_a_third_folder_makes_classes(tmp_path):
    for i in range(4):
        _img(tmp_path / "p" / "A" / f"{i}.png", value=i)
        _img(tmp_path / "p" / "B" / f"{i}.png", value=100 + i)
    data = load_dataset(str(tmp_path / "p"))
    assert data.pair is not None and data.meta["layout"] == "A/B folders" and data.classes is None
    assert (data.pair.int() - data.images.int()).eq(100).all()  # A and B matched by name
    _img(tmp_path / "p" / "C" / "0.png")
    data = load_dataset(str(tmp_path / "p"))
    assert data.pair is None and data.classes == ["A", "B", "C"]
    assert "besides A/ and B/ it holds C" in data.meta["notes"][0]


def test_paired_flag_reads_side_by_side_images(tmp_path):
    for i in range(5):
        arr = np.zeros((10, 20), np.uint8)
        arr[:, 10:] = 255
        (tmp_path / "sbs").mkdir(exist_ok=True)
        Image.fromarray(arr, "L").save(tmp_path / "sbs" / f"{i}.png")
    assert load_dataset(str(tmp_path / "sbs")).pair is None  # plain images unless asked
    data = load_dataset(str(tmp_path / "sbs"), paired=True)
    assert data.images.shape[1:] == (1, 10, 10) and int(data.pair.min()) == 255


def test_native_size_and_the_most_common_of_mixed_sizes(tmp_path):
    for i in range(6):
        _img(tmp_path / "same" / f"{i}.png", size=(32, 24))
    assert load_dataset(str(tmp_path / "same")).shape == (1, 24, 32)  # native H x W, not 64
    assert not load_dataset(str(tmp_path / "same")).meta["notes"]
    for i in range(5):
        _img(tmp_path / "mixed" / f"a{i}.png", size=(16, 16), value=50)
    _img(tmp_path / "mixed" / "odd.png", size=(40, 20), value=50)
    data = load_dataset(str(tmp_path / "mixed"))
    assert data.shape == (1, 16, 16) and len(data.meta["notes"]) == 1
    assert "2 sizes; using the most common, 16x16 (5 of 6)" in data.meta["notes"][0]
    assert load_dataset(str(tmp_path / "mixed"), image_size=8).shape == (1, 8, 8)


def test_train_prints_a_one_line_data_summary_and_the_note_once(tmp_path, capsys):
    for c in ("cat", "dog"):
        for i in range(6):
            _img(tmp_path / "pets" / c / f"{i}.png", size=(12, 12) if i else (20, 10), value=i * 20)
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "pets"),
                "--out",
                str(out),
                "--steps",
                "2",
                "--quiet",
                "--set",
                "arch=mlp",
                "--set",
                "hidden=8",
                "--set",
                "latent_dim=2",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "data pets: 10 train / 2 test images, 2 classes (cat, dog), 1x12x12, seeded 90/10 split (seed 0)"
    )
    assert sum("2 sizes; using the most common, 12x12" in s for s in lines) == 1
    assert main(["train", "--resume", str(out), "--steps", "3", "--quiet"]) == 0  # reloads at the same size


def test_summary_of_a_builtin():
    train, test = load_dataset("digits"), load_dataset("digits", "test")
    assert summary(train, test).startswith(
        "data digits: 1,500 train / 297 test images, 10 classes (0, 1, 2, 3, 4, ...)"
    )
