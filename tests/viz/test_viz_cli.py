"""genlab traverse, interpolate, latent-map and sweep latent-dim: each once, and bad input in one line, exit 2."""

import json

import pytest
from PIL import Image

from genlab import train
from genlab.cli import main

TINY = {"arch": "mlp", "hidden": "16", "batch_size": "64"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("viz_runs")
    for name, model, dim in (("ae", "ae", 2), ("vae", "vae", 2), ("vae3", "vae", 3)):
        train(model, "digits", root / name, settings={**TINY, "latent_dim": dim}, steps=3, quiet=True)
    train(
        "cgan",
        "digits",
        root / "cgan",
        settings={"arch": "mlp", "hidden": "16", "latent_dim": "3"},
        steps=2,
        quiet=True,
    )
    return root


def test_traverse(runs, tmp_path, capsys):
    out = tmp_path / "t.png"
    assert main(["traverse", str(runs / "vae3"), "--out", str(out), "--steps", "5", "--range", "-2", "2"]) == 0
    assert "KL (nats)" in capsys.readouterr().out
    w, h = Image.open(out).size
    assert w > h  # 3 rows of 5
    assert main(["traverse", str(runs / "ae"), "--out", str(out), "--dims", "1", "0", "--from-image", "4"]) == 0
    assert main(["traverse", str(runs / "cgan"), "--out", str(out), "--dims", "0,2", "--label", "7"]) == 0


def test_interpolate(runs, tmp_path, capsys):
    out = tmp_path / "i.png"
    assert (
        main(["interpolate", str(runs / "vae"), "--out", str(out), "--images", "0", "1", "2", "3", "--pairs", "2"]) == 0
    )
    assert "linear paths between test images" in capsys.readouterr().out
    assert main(["interpolate", str(runs / "vae"), "--out", str(out), "--prior"]) == 0
    assert "slerp" in capsys.readouterr().out
    assert main(["interpolate", str(runs / "cgan"), "--out", str(out), "--labels", "1", "8"]) == 0
    assert Image.open(out).size[0] > 8


def test_latent_map(runs, tmp_path):
    out = tmp_path / "m.png"
    assert (
        main(["latent-map", str(runs / "ae"), str(runs / "vae"), "--out", str(out), "--n", "100", "--grid", "4"]) == 0
    )
    assert Image.open(out).format == "PNG"


def test_sweep_latent_dim(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = [
        "sweep",
        "latent-dim",
        "--model",
        "vae",
        "--data",
        "digits",
        "--dims",
        "2",
        "--steps",
        "2",
        "--out",
        str(out),
        *sum((["--set", f"{k}={v}"] for k, v in TINY.items()), []),
    ]
    assert main(argv) == 0
    assert json.loads((out / "results.json").read_text())["runs"]["vae_z2"]["step"] == 2
    assert (out / "latent_dim.png").is_file()
    assert main(argv) == 0
    assert "skipped" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["traverse", "{vae}", "--out", "t.png", "--dims", "2"],
            "dimension 2 is out of range; this model's latent has 2 dimensions (0..1)",
        ),
        (["traverse", "{vae}", "--out", "t.png", "--dims", "x"], "--dims expects integers"),
        (["traverse", "{vae}", "--out", "t.png", "--range", "3", "-3"], "LOW < HIGH"),
        (["traverse", "{vae}", "--out", "t.png", "--from-image", "9999"], "outside the test set"),
        (["traverse", "{cgan}", "--out", "t.png", "--from-image", "0"], "no encoder"),
        (["traverse", "{vae}", "--out", "t.png", "--label", "1"], "needs a conditional model"),
        (["interpolate", "{vae}", "--out", "i.png", "--images", "1", "2", "3"], "needs 2 x pairs = 8 test indices"),
        (["interpolate", "{cgan}", "--out", "i.png", "--labels", "0", "99"], "outside the valid range"),
        (["latent-map", "{vae3}", "--out", "m.png"], "latent_dim = 2, this model has 3"),
        (["sweep", "latent-dim", "--model", "gan", "--data", "digits", "--out", "S"], "has no encoder"),
        (["sweep", "latent-dim", "--dims", "2,x", "--data", "digits", "--out", "S"], "--dims expects integers"),
        (["sweep", "latent-dim", "--data", "digits", "--set", "latent_dim=3", "--out", "S"], "conflicts"),
    ],
)
def test_bad_input_is_one_line_exit_2(runs, argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [a.format(**{n: runs / n for n in ("ae", "vae", "vae3", "cgan")}) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not any(tmp_path.iterdir())  # nothing written
