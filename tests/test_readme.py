"""The README's commands run as written: every ``genlab ...`` line of its "Command line" section, with
its placeholders filled in by tiny runs (and its optional [...] parts left out), and its Python
snippet "from a dataset to a batch". Runs are a few steps on the 8x8 digits, so the whole file
takes seconds."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
FAST = ["--steps", "3", "--set", "batch_size=16", "--set", "latent_dim=2", "--quiet"]  # appended to train


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def commands() -> list[str]:
    """The ``genlab`` lines of the Command line section's code block, continuation lines joined."""
    block = section("Command line").split("```")[1]
    out: list[str] = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].rstrip()
        if line.startswith("genlab "):
            out.append(line)
        elif line.startswith(" ") and line.strip() and out:
            out[-1] += " " + line.strip()
    return out


def expand(command: str, values: dict[str, str]) -> list[str]:
    """Drop [optional] parts, pick the first of {a,b,...}, and fill the placeholders."""
    while re.search(r"\[[^\[\]]*\]", command):
        command = re.sub(r"\[[^\[\]]*\]", "", command)
    command = re.sub(r"\{([^,}]+)[^}]*\}", r"\1", command)
    return [values.get(tok, tok) for tok in shlex.split(command)[1:]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme")
    img = root / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)).save(img)
    assert main(["train", "--model", "ae", "--data", "digits", "--out", str(root / "ae"), *FAST]) == 0
    assert (
        main(
            [
                "train",
                "--model",
                "cyclegan",
                "--data",
                "fashion-stripes",
                "--out",
                str(root / "cyc"),
                "--steps",
                "1",
                "--set",
                "ngf=4",
                "--set",
                "ndf=4",
                "--set",
                "n_blocks=1",
                "--set",
                "batch_size=2",
                "--quiet",
            ]
        )
        == 0
    )
    return root, img


def test_the_command_line_section_is_complete():
    names = {c.split()[1] for c in commands()}
    assert names >= {
        "train",
        "sample",
        "reconstruct",
        "translate",
        "convert-voice",
        "evaluate",
        "traverse",
        "interpolate",
        "latent-map",
        "sweep",
        "explore",
        "data",
    }


def test_every_command_runs_as_written(runs, tmp_path, monkeypatch, capsys):
    import uvicorn

    root, img = runs
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)  # explore: load and bind, then stop
    run = str(tmp_path / "run")
    values = {
        "RUN": run,
        "NAME|FOLDER": "digits",
        "NAME": "digits",
        "AE_RUN": str(root / "ae"),
        "VAE_RUN": run,
        "INPUT(.png|folder)": str(img),
        "OUTPUT": "out.png",
        "DIR": str(tmp_path / "sweep"),
        "A": run,
        "B": "digits:test",
        "FOLDER": "digits",
    }
    for command in commands():
        argv = expand(command, values)
        if argv[0] == "train" and "--resume" not in argv:
            argv += FAST
        elif argv[0] == "translate":
            argv = [a if a != run else str(root / "cyc") for a in argv]
        elif argv[0] == "sweep":
            argv += ["--steps", "2", "--dims", "2"]
        elif argv[0] == "explore":
            argv += ["--port", "0"]
        elif argv[0] == "evaluate":
            argv += ["--quick"]
        elif argv[0] == "fid":  # the run's samples against the digits test split, on the digits classifier
            argv += ["--num-samples", "20", "--features", "digits", "--quiet"]
        elif argv[0] == "classifier":
            argv += ["--epochs", "1", "--quiet"]
        if argv[0] == "convert-voice":  # needs a voice run: as written, it names what it needs in one line
            assert main(argv) == 2 and "voice conversion model" in capsys.readouterr().err
            continue
        assert main(argv) == 0, (command, argv, capsys.readouterr().err)


def test_from_a_dataset_to_a_batch(runs):
    root, _ = runs
    code = section("Python API").split("From a dataset to a batch")[1].split("```python")[1].split("```")[0]
    code = code.replace('"fashion-mnist"', '"digits"').replace('"runs/vae"', repr(str(root / "ae")))
    scope: dict = {}
    exec("import genlab\n" + code, scope)  # noqa: S102 - the README's own snippet
    assert scope["z"].shape == (16, 2) and scope["x"].dtype == torch.float32 and float(scope["error"]) >= 0
