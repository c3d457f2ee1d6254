"""Every bad input a user can give: one line saying what to do, exit code 2, the directory tree unchanged.

One row per case. A row is (argv, expected words, set-up): the set-up prepares the working folder
(a trained run copied in, a folder of images, an edited config.json); the tree under the working
folder is compared byte for byte before and after (the run lock's contents aside).
"""

import json
import shutil
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.cli import main
from genlab.errors import GenlabError
from genlab.training.lock import LOCK

FAST = ["--set", "arch=mlp", "--set", "hidden=16", "--set", "latent_dim=2", "--set", "batch_size=64", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("base") / "run"
    assert main(["train", "--data", "digits", "--steps", "4", "--out", str(out), *FAST]) == 0
    return out


def _tree(root):
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.name != LOCK else b"") if p.is_file() else None
        for p in sorted(root.rglob("*"))
    }


def _png(path, size, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size).save(path)


def _png_header_only(path, width, height):
    """A 1-bit PNG that announces width x height (a few hundred bytes): a decompression bomb's header."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


# set-ups: each takes the working folder and the trained run, and returns nothing
def _copy_run(work, trained):
    shutil.copytree(trained, work / "run")


def _edit_config(**changes):
    def setup(work, trained):
        _copy_run(work, trained)
        cfg = json.loads((work / "run" / "config.json").read_text())
        for key, value in changes.items():
            section, _, name = key.rpartition(".")
            (cfg[section] if section else cfg)[name] = value
        (work / "run" / "config.json").write_text(json.dumps(cfg))

    return setup


def _one_image(work, trained):
    _png(work / "one" / "a.png", (8, 8))


def _three_images(work, trained):
    for i in range(3):
        _png(work / "three" / f"{i}.png", (8, 8))


def _bomb(work, trained):
    for i in range(4):
        _png(work / "bomb" / f"{i}.png", (8, 8))
    _png_header_only(work / "bomb" / "huge.png", 30000, 30000)


def _big(work, trained):
    for i in range(4):
        _png(work / "big" / f"{i}.png", (8, 8))
    _png_header_only(work / "big" / "big.png", 12000, 12000)


def _a_file(work, trained):
    (work / "file.txt").write_text("not a folder")


def _nothing(work, trained):
    pass


TRAIN = ["train", "--data", "digits", "--out", "new", *FAST]
ROWS = [
    # training settings, checked before the run folder exists
    (TRAIN + ["--set", "device=tpu"], "unknown device 'tpu'", _nothing),
    (TRAIN + ["--set", "weight_decay=-1"], "weight_decay must be a finite number >= 0", _nothing),
    (TRAIN + ["--set", "channels=0", "--set", "arch=conv"], "an empty layer", _nothing),
    (TRAIN + ["--set", "channels=100000", "--set", "arch=conv"], "above genlab's limit", _nothing),
    (TRAIN + ["--set", "latent_dim=1000000000000"], "above genlab's limit", _nothing),
    (TRAIN + ["--set", "image_shape=1,16,16"], "does not match the data", _nothing),
    (TRAIN + ["--set", "image_shape=0,0,0"], "does not match the data", _nothing),
    (TRAIN + ["--set", "lr=inf"], "lr expects a number (finite)", _nothing),
    (TRAIN + ["--image-size", "100000"], "pass a smaller --image-size", _nothing),
    (TRAIN + ["--seed", "1180591620717411303424"], "seed must be an integer in [0, 2**63)", _nothing),
    (["train", "--data", "digits", "--out", "/proc/genlab_run", *FAST], "cannot create the run directory", _nothing),
    (["train", "--data", "digits", "--out", "file.txt", *FAST], "is a file", _a_file),
    (["train", "--data", "one", "--out", "new", *FAST], "has 1 image(s); genlab needs at least 2", _one_image),
    (["train", "--data", "three", "--out", "new", *FAST], "needs at least 2 per split", _three_images),
    (["train", "--data", "bomb", "--out", "new", *FAST], "30000x30000 pixels, above genlab's limit", _bomb),
    (["train", "--data", "big", "--out", "new", *FAST], "12000x12000 pixels, above genlab's limit", _big),
    (["train", "--data", "digits", "--out", "run", *FAST], "already holds a run", _copy_run),
    # resume: a refused resume leaves config.json as it was
    (["train", "--resume", "run", "--steps", "8", "--set", "beta=4"], "only for the learning rates", _copy_run),
    (["train", "--resume", "run", "--steps", "8", "--device", "tpu"], "unknown device", _copy_run),
    (
        ["train", "--resume", "run", "--steps", "8"],
        "model_config: latent_dim must be an integer",
        _edit_config(**{"model_config.latent_dim": "16"}),
    ),
    (
        ["train", "--resume", "run", "--steps", "8"],
        "latent_dim must be an integer, got 16.5",
        _edit_config(**{"model_config.latent_dim": 16.5}),
    ),
    (["train", "--resume", "run", "--steps", "8"], "malformed 'model'", _edit_config(model=["vae"])),
    (
        ["train", "--resume", "run", "--steps", "8"],
        'train: batch_size must be an integer, got "x"',
        _edit_config(**{"train.batch_size": "x"}),
    ),
    # a config.json describing an impossible model, for every command that loads a run
    (
        ["train", "--resume", "run", "--steps", "8"],
        "image_shape 1x8 does not match the data",
        _edit_config(**{"model_config.image_shape": [1, 8]}),
    ),
    (
        ["sample", "run", "--out", "s.png"],
        "does not match the network that config.json describes",
        _edit_config(**{"model_config.image_shape": [1, 8]}),
    ),
    (["sample", "run", "--out", "s.png"], "above genlab's limit", _edit_config(**{"model_config.latent_dim": 10**9})),
    (
        ["evaluate", "run", "--out", "r.json"],
        "above genlab's limit",
        _edit_config(**{"model_config.latent_dim": 10**9}),
    ),
    (
        ["reconstruct", "run", "--out", "r.png"],
        "latent_dim must be an integer",
        _edit_config(**{"model_config.latent_dim": 1e9}),
    ),
    # outputs and counts of the other commands, checked before any work
    (["sample", "run", "--out", "s.png", "--n", "10000000"], "--n must be at most 10,000", _copy_run),
    (
        ["sample", "run", "--out", "s.png", "--seed", "1180591620717411303424"],
        "--seed must be an integer in",
        _copy_run,
    ),
    (["sample", "run", "--out", "/proc/x.png"], "cannot write /proc/x.png", _copy_run),
    (["sample", "run", "--out", "run"], "is a folder", _copy_run),
    (["sample", "run", "--out", "x.txt"], "cannot write an image as 'x.txt'", _copy_run),
    (["sample", "run", "--out", "s.png", "--device", "cuda"], "CUDA is not available", _copy_run),
    (["reconstruct", "run", "--out", "/proc/x.png"], "cannot write /proc/x.png", _copy_run),
    (["traverse", "run", "--out", "t.png", "--steps", "100000000"], "--steps must be at most 100", _copy_run),
    (["interpolate", "run", "--out", "i.png", "--pairs", "100000000"], "--pairs must be at most 1,000", _copy_run),
]


@pytest.mark.parametrize(
    "argv, words, setup", ROWS, ids=[" ".join(r[0][:1] + r[0][3:6]) + f" [{r[1][:24]}]" for r in ROWS]
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(argv, words, setup, trained, tmp_path, monkeypatch, capsys):
    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    work = tmp_path / "work"
    work.mkdir()
    setup(work, trained)
    monkeypatch.chdir(work)
    before = _tree(work)
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and words in err, err
    assert "Traceback" not in captured.err + captured.out
    assert _tree(work) == before


def test_reconstruct_says_how_many_images_it_wrote(trained, tmp_path, capsys):
    assert main(["reconstruct", str(trained), "--n", "100000", "--out", str(tmp_path / "r.png")]) == 2
    assert main(["reconstruct", str(trained), "--n", "9999", "--out", str(tmp_path / "r.png")]) == 0
    assert "(297 test images and their reconstructions" in capsys.readouterr().out


def test_device_auto_and_debug_anywhere(trained, tmp_path, capsys):
    assert main(["sample", str(trained), "--device", "auto", "--out", str(tmp_path / "s.png")]) == 0
    with pytest.raises(GenlabError):  # --debug after the subcommand: the traceback instead of the line
        main(["sample", str(trained), "--out", str(tmp_path / "x.txt"), "--debug"])
    assert main(["sample", str(trained), "--out", str(tmp_path / "x.txt")]) == 2


def test_a_bug_is_a_one_line_report(trained, tmp_path, monkeypatch, capsys):
    import genlab.viz.grid

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(genlab.viz.grid, "save_grid", broken)
    assert main(["sample", str(trained), "--out", str(tmp_path / "s.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error (ZeroDivisionError" in err and "--debug" in err


def test_a_kill_before_the_first_checkpoint_does_not_block_a_retry(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "config.json").write_text(
        json.dumps({"format": "genlab/1", "model": "ae", "model_config": {}, "train": {}, "data": "digits"})
    )
    (out / ".lock").write_text("pid 999999 on nowhere since then\n")
    assert main(["train", "--data", "digits", "--out", str(out), "--steps", "3", *FAST]) == 0
    assert json.loads((out / "config.json").read_text())["model"] == "vae"
    assert np.isfinite(json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["loss"])
