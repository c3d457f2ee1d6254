"""genlab translate on a file and a folder, with resizing and channel conversion reported; bad inputs."""

import numpy as np
import pytest
from PIL import Image

import genlab
from genlab.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("translate")
    # a tiny paired folder: A = an image, B = its negative (pix2pix), and unpaired trainA/ trainB/ (CycleGAN)
    rng = np.random.default_rng(0)
    for sub in ("A", "B"):
        (root / "paired" / sub).mkdir(parents=True)
    for d in ("trainA", "trainB"):
        (root / "unpaired" / d).mkdir(parents=True)
    for i in range(12):
        a = (rng.random((16, 16)) * 255).astype(np.uint8)
        Image.fromarray(a).save(root / "paired" / "A" / f"{i}.png")
        Image.fromarray(255 - a).save(root / "paired" / "B" / f"{i}.png")
        Image.fromarray(a).save(root / "unpaired" / "trainA" / f"{i}.png")
        Image.fromarray(np.stack([a, a // 2, 255 - a], -1)).save(root / "unpaired" / "trainB" / f"{i}.png")
    out = {}
    settings = {"ngf": "4", "ndf": "4", "batch_size": "4"}
    genlab.train("pix2pix", str(root / "paired"), root / "p2p", steps=3, settings=settings, quiet=True, image_size=16)
    genlab.train(
        "cyclegan",
        str(root / "unpaired"),
        root / "cyc",
        steps=2,
        quiet=True,
        image_size=16,
        settings={**settings, "n_blocks": "1", "lambda_identity": "0"},
    )
    out["p2p"], out["cyc"], out["root"] = root / "p2p", root / "cyc", root
    return out


def test_translate_file_and_folder(runs, tmp_path, capsys):
    src = runs["root"] / "paired" / "A"
    assert main(["translate", str(runs["p2p"]), str(src / "0.png"), "--out", str(tmp_path / "one.png")]) == 0
    assert Image.open(tmp_path / "one.png").size == (16, 16)
    assert main(["translate", str(runs["p2p"]), str(src), "--out", str(tmp_path / "many")]) == 0
    assert len(list((tmp_path / "many").glob("*.png"))) == 12


def test_resize_and_channel_conversion_are_reported(runs, tmp_path, capsys):
    big = tmp_path / "big.png"
    Image.fromarray((np.random.default_rng(1).random((40, 30, 3)) * 255).astype(np.uint8)).save(big)
    assert main(["translate", str(runs["p2p"]), str(big), "--out", str(tmp_path / "o.png")]) == 0
    out = capsys.readouterr().out
    assert "resized from 30x40 to 16x16" in out and "colour converted to grayscale" in out


def test_cyclegan_both_directions_and_api(runs, tmp_path):
    a = runs["root"] / "unpaired" / "trainA" / "0.png"
    b = runs["root"] / "unpaired" / "trainB" / "0.png"
    assert main(["translate", str(runs["cyc"]), str(a), "--out", str(tmp_path / "ab.png")]) == 0
    assert main(["translate", str(runs["cyc"]), str(b), "--out", str(tmp_path / "ba.png"), "--direction", "BtoA"]) == 0
    assert Image.open(tmp_path / "ab.png").mode == "RGB" and Image.open(tmp_path / "ba.png").mode == "L"
    import torch

    model = genlab.load(runs["cyc"])
    assert model.translate(torch.rand(2, 1, 16, 16)).shape == (2, 3, 16, 16)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b"not an image"), "cannot read"),
        (lambda p: None, "does not exist"),
    ],
)
def test_bad_inputs(runs, tmp_path, capsys, make, message):
    bad = tmp_path / "bad.png"
    make(bad)
    assert main(["translate", str(runs["p2p"]), str(bad), "--out", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_wrong_model_and_direction(runs, tmp_path, capsys):
    src = runs["root"] / "paired" / "A" / "0.png"
    assert main(["translate", str(runs["p2p"]), str(src), "--out", str(tmp_path / "o.png"), "--direction", "BtoA"]) == 2
    assert "translates AtoB only" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["translate", str(runs["p2p"]), str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "holds no images" in capsys.readouterr().err
