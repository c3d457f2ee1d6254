"""Every CLI command once, and each bad input: one line, exit code 2, nothing damaged."""

import json
import subprocess
import sys

import pytest
from PIL import Image

from genlab.cli import main
from genlab.training import checkpoint

FAST = ["--set", "batch_size=64", "--set", "channels=8", "--set", "latent_dim=4", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "vae"
    assert main(["train", "--model", "vae", "--data", "digits", "--steps", "20", "--out", str(out), *FAST]) == 0
    return out


def test_train_writes_run_directory(run):
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"] == "vae" and cfg["data"] == "digits" and cfg["model_config"]["latent_dim"] == 4
    assert cfg["model_config"]["image_shape"] == [1, 8, 8] and cfg["train"]["steps"] == 20
    assert (checkpoint.latest(run) / "model.safetensors").is_file() and (run / "samples" / "final.png").is_file()


def test_resume_extends_to_the_total(run):
    assert main(["train", "--resume", str(run), "--steps", "30", "--quiet"]) == 0
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in lines) == 30


def test_sample_and_reconstruct(run, tmp_path):
    assert main(["sample", str(run), "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    assert main(["reconstruct", str(run), "--n", "8", "--out", str(tmp_path / "r.png")]) == 0
    assert Image.open(tmp_path / "s.png").size[0] > 8
    assert Image.open(tmp_path / "r.png").size[0] > 8


def test_label_on_unconditional_model_is_refused(run, tmp_path, capsys):
    assert main(["sample", str(run), "--label", "3", "--out", str(tmp_path / "s.png")]) == 2
    assert "needs a conditional model" in capsys.readouterr().err


def test_data_commands(tmp_path, capsys):
    assert main(["data", "list"]) == 0
    assert "digits" in capsys.readouterr().out
    assert main(["data", "show", "digits", "--n", "9", "--out", str(tmp_path / "d.png")]) == 0
    assert (tmp_path / "d.png").is_file()


def test_set_and_config_file(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"model": {"beta": 4, "latent_dim": 3}, "train": {"batch_size": 32}}))
    out = tmp_path / "ae"
    assert (
        main(
            [
                "train",
                "--model",
                "vae",
                "--data",
                "digits",
                "--steps",
                "2",
                "--out",
                str(out),
                "--config",
                str(cfg),
                "--set",
                "latent_dim=5",
                "--quiet",
                "--set",
                "channels=8",
            ]
        )
        == 0
    )
    c = json.loads((out / "config.json").read_text())
    assert c["model_config"]["beta"] == 4 and c["model_config"]["latent_dim"] == 5 and c["train"]["batch_size"] == 32


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--model", "nope", "--out", "X"], "unknown model 'nope'; choose one of: ae"),
        (["train", "--data", "nope", "--out", "X"], "unknown dataset 'nope'"),
        (["train", "--data", "digits", "--set", "betta=2", "--out", "X"], "unknown config key 'betta'"),
        (["train", "--data", "digits", "--set", "beta=x", "--out", "X"], "beta expects a number"),
        (["train", "--data", "digits", "--set", "latent_dim=0", "--out", "X"], "latent_dim must be an integer >= 1"),
        (["train", "--data", "digits", "--set", "beta", "--out", "X"], "--set expects key=value"),
        (["train", "--data", "digits"], "needs --out"),
        (["train", "--data", "digits", "--config", "missing.json", "--out", "X"], "config file"),
        (["train", "--data", "digits", "--device", "cuda", "--out", "X"], "CUDA is not available"),
        (["sample", "no/such/run", "--out", "s.png"], "not a folder"),
        (["sample", ".", "--out", "s.png", "--n", "0"], "--n must be an integer >= 1"),
        (["reconstruct", ".", "--out", "r.png", "--n", "-1"], "--n must be an integer >= 1"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "X").exists()


def test_existing_run_is_not_overwritten(run, capsys):
    before = (run / "config.json").read_text()
    assert main(["train", "--data", "digits", "--out", str(run), "--steps", "1"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (run / "config.json").read_text() == before


def test_corrupted_run_is_refused(run, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    assert main(["sample", str(bad), "--out", str(tmp_path / "s.png")]) == 2
    assert "corrupted" in capsys.readouterr().err
    (bad / "config.json").write_text(json.dumps({"hello": 1}))
    assert main(["sample", str(bad), "--out", str(tmp_path / "s.png")]) == 2
    assert "not a genlab config" in capsys.readouterr().err


def test_python_dash_m_and_help():
    for argv in (
        ["--help"],
        ["train", "--help"],
        ["sample", "--help"],
        ["reconstruct", "--help"],
        ["data", "--help"],
        ["data", "show", "--help"],
    ):
        r = subprocess.run([sys.executable, "-m", "genlab", *argv], capture_output=True, text=True)
        assert r.returncode == 0 and "usage: genlab" in r.stdout, argv
    r = subprocess.run([sys.executable, "-m", "genlab", "train", "--epochs", "x"], capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_api_load_has_sample_encode_decode(run):
    import torch

    import genlab

    m = genlab.load(run)
    x = m.sample(3)
    assert x.shape == (3, 1, 8, 8) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert m.decode(m.encode(x)).shape == x.shape
    assert torch.isfinite(m.encode(x)).all()


def test_resized_builtin_reloads_at_its_training_size(tmp_path):
    # a built-in trained with --image-size is resumed, reconstructed and evaluated at that size
    out = tmp_path / "big"
    assert main(["train", "--data", "digits", "--image-size", "16", "--steps", "2", "--out", str(out), *FAST]) == 0
    assert json.loads((out / "config.json").read_text())["image_size"] == 16
    assert main(["train", "--resume", str(out), "--steps", "3", "--quiet"]) == 0
    assert main(["reconstruct", str(out), "--n", "4", "--out", str(tmp_path / "r.png")]) == 0


def test_help_names_the_registered_models_and_no_document_the_user_lacks(capsys):
    from genlab.cli import build_parser
    from genlab.models import MODELS

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices
    helps = [parser.format_help()] + [p.format_help() for p in sub.values()]
    assert all(name in "".join(sub["train"].format_help().split()) for name in MODELS)
    for text in helps:
        assert "SPEC" not in text and "the notes" not in text
