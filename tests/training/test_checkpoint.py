"""Checkpoints under a full disk, one trainer per run, NaN at a checkpoint step, the validation objective."""

import errno
import json
import os
import shlex
import signal
import time

import pytest
import torch

from genlab.cli import main
from genlab.errors import GenlabError
from genlab.models import build_model
from genlab.models.vae import VAE
from genlab.training import TrainConfig, checkpoint, loop, resume, train
from genlab.training.lock import LOCK, run_lock
from genlab.training.loop import METRICS, validate

FAST = {
    "arch": "mlp",
    "hidden": "16",
    "latent_dim": "2",
    "batch_size": "64",
    "checkpoint_every": "5",
    "log_every": "5",
    "device": "cpu",
}  # byte-identical runs need deterministic kernels


def _run(tmp_path, name="run", steps=10, **settings):
    out = tmp_path / name
    train("vae", "digits", out, settings={**FAST, **settings}, steps=steps, quiet=True)
    return out


def _train_digits(out, *args):
    """``genlab train`` of a tiny MLP VAE on digits into ``out``; returns the exit code."""
    return main(["train", "--data", "digits", "--out", str(out), "--quiet", "--set", "arch=mlp", *args])


def _tree(root):
    """Every file under root with its bytes (the lock's contents aside: it names its holder)."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.name != LOCK else b"")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _weights(run):
    return {p.name: p.read_bytes() for p in checkpoint.latest(run).glob("*.safetensors")}


# ---------------------------------------------------------------- a full disk at each write of a checkpoint
WRITE_POINTS = ["mkdtemp", "config.json", "model.safetensors", "training_state.pt", "rename"]


@pytest.mark.parametrize("point", WRITE_POINTS)
def test_full_disk_at_each_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch, capsys, point):
    run = _run(tmp_path)  # checkpoint at step 10
    before = _weights(run)
    real_write = checkpoint.atomic_write
    full = OSError(errno.ENOSPC, "No space left on device")

    def atomic_write(path, write, hint=None):
        if os.path.basename(path) == point and checkpoint.CHECKPOINTS in str(path):

            def half_then_full(f):  # the disk fills half-way through the file
                write(f)
                f.truncate(f.tell() // 2)
                raise full

            return real_write(path, half_then_full, hint)
        return real_write(path, write, hint)

    def disk_full(*args, **kwargs):
        raise full

    monkeypatch.setattr(checkpoint, "atomic_write", atomic_write)
    if point == "mkdtemp":
        monkeypatch.setattr(checkpoint.tempfile, "mkdtemp", disk_full)
    if point == "rename":
        monkeypatch.setattr(checkpoint.os, "rename", disk_full)
    assert main(["train", "--resume", str(run), "--steps", "20", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "disk full" in err and "previous checkpoint is kept" in err
    assert f"genlab train --resume {run}" in err
    assert checkpoint.step_of(checkpoint.latest(run)) == 10 and _weights(run) == before
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]
    monkeypatch.undo()  # space freed: the run continues from step 10 and ends as an uninterrupted one
    assert main(["train", "--resume", str(run), "--steps", "20", "--quiet"]) == 0
    assert _weights(run) == _weights(_run(tmp_path, "straight", steps=20))
    assert (run / METRICS).read_bytes() == (tmp_path / "straight" / METRICS).read_bytes()


def test_safetensors_files_are_identical_for_identical_weights(tmp_path):
    m = build_model("vae", image_shape=(1, 8, 8), arch="mlp", hidden=(16,), latent_dim=2)
    blobs = set()
    for i in range(6):
        checkpoint.save_weights(m, tmp_path / str(i), step=3)
        blobs.add((tmp_path / str(i) / "model.safetensors").read_bytes())
    assert len(blobs) == 1
    raw = blobs.pop()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    assert list(header["__metadata__"]) == sorted(header["__metadata__"]) and list(header) == sorted(header)
    other = build_model("vae", image_shape=(1, 8, 8), arch="mlp", hidden=(16,), latent_dim=2)
    assert checkpoint.load_weights(other, tmp_path / "0") == 3
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), other.state_dict().values()))


# ---------------------------------------------------------------- one trainer per run
def _hold_lock_in_child(run, then_die=False):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        with run_lock(run, quiet=True):
            os.write(w, b"x")
            if then_die:
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(60)
        os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"x"
    os.close(r)
    return pid


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_second_trainer_is_refused_in_one_line(tmp_path, capsys):
    run = _run(tmp_path)
    before = _tree(run)
    pid = _hold_lock_in_child(run)
    try:
        assert main(["train", "--resume", str(run), "--steps", "20", "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"is being trained by pid {pid}" in err and "one trainer per run" in err
        assert _train_digits(tmp_path / "new", "--steps", "2", "--set", "arch=mlp") == 0  # other runs are free
        (tmp_path / "fresh").mkdir()
        pid2 = _hold_lock_in_child(tmp_path / "fresh")
        assert _train_digits(tmp_path / "fresh", "--steps", "2") == 2
        assert "is being trained by" in capsys.readouterr().err
        os.kill(pid2, signal.SIGKILL)
        os.waitpid(pid2, 0)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert _tree(run) == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, capsys):
    run = _run(tmp_path)
    pid = _hold_lock_in_child(run, then_die=True)
    os.waitpid(pid, 0)
    assert f"pid {pid}" in (run / LOCK).read_text()  # the dead holder is still named in the file
    assert main(["train", "--resume", str(run), "--steps", "15", "--quiet"]) == 0
    assert f"left locked by pid {pid}" in capsys.readouterr().err
    assert checkpoint.step_of(checkpoint.latest(run)) == 15
    assert (run / LOCK).read_text() == ""  # released cleanly this time


# ---------------------------------------------------------------- NaN
def test_nan_at_a_checkpoint_step_saves_nothing_and_names_a_command_that_works(tmp_path, monkeypatch, capsys):
    run = _run(tmp_path)  # checkpoint at step 10
    original = VAE.loss

    def nan_at_15(self, x, step=0):
        out = original(self, x, step)
        if step == 14 and self.training:  # the 15th step, itself a checkpoint step (checkpoint_every=5)
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(VAE, "loss", nan_at_15)
    assert main(["train", "--resume", str(run), "--steps", "30", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "diverged at step 15 (losses loss=nan, recon=" in err and "last good checkpoint (step 10) is kept" in err
    assert checkpoint.step_of(checkpoint.latest(run)) == 10
    command = shlex.split(err[err.index("genlab train --resume") :])
    assert command[:3] == ["genlab", "train", "--resume"] and "--set" in command and "lr=0.0001" in command
    monkeypatch.undo()
    assert main([*command[1:], "--quiet"]) == 0  # the advice, as printed, continues the run
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["lr"] == 1e-4 and cfg["history"] == [{"step": 10, "set": {"lr": 1e-4}}]
    assert checkpoint.step_of(checkpoint.latest(run)) == 30
    state = checkpoint.load_state(run)
    assert [g["lr"] for g in state["optimizers"]["model"]["param_groups"]] == [1e-4]  # really trained at the new rate


def test_resume_lowers_a_gans_rates_and_keeps_its_schedule(tmp_path):
    out = tmp_path / "gan"
    settings = {"arch": "mlp", "latent_dim": "4", "batch_size": "64", "checkpoint_every": "5"}
    train("gan", "digits", out, settings=settings, steps=10, quiet=True)
    before = checkpoint.load_state(out)["optimizers"]
    resume(out, steps=15, settings={"lr": "2e-5"}, quiet=True)
    after = checkpoint.load_state(out)["optimizers"]
    for name in before:
        assert after[name]["param_groups"][0]["lr"] == pytest.approx(before[name]["param_groups"][0]["lr"] / 10)


def test_nan_before_any_checkpoint_says_so(tmp_path, capsys):
    assert _train_digits(tmp_path / "r", "--steps", "20", "--set", "lr=1e6", "--set", "checkpoint_every=10") == 2
    err = capsys.readouterr().err.strip()
    assert "no checkpoint had been saved yet" in err and "genlab train --resume" in err
    assert checkpoint.latest(tmp_path / "r") is None


def test_nan_weights_are_refused_by_every_command(tmp_path, capsys):
    run = _run(tmp_path)
    folder = checkpoint.latest(run)
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(folder / "model.safetensors"))
    name = next(iter(tensors))
    tensors[name][0] = float("nan")
    save_file(
        tensors,
        str(folder / "model.safetensors"),
        metadata={"format": checkpoint.FORMAT, "family": "vae", "network": "model", "step": "10"},
    )
    out = str(tmp_path / "o.png")
    for argv in (
        ["sample", str(run), "--out", out],
        ["reconstruct", str(run), "--out", out],
        ["traverse", str(run), "--out", out],
        ["interpolate", str(run), "--out", out],
        ["evaluate", str(run), "--out", str(tmp_path / "r.json"), "--quick"],
        ["train", "--resume", str(run), "--steps", "20"],
        ["explore", str(run), "--port", "0"],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "NaN or infinite weights" in err, argv
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "r.json").exists()


# ---------------------------------------------------------------- resume writes only when it continues
def test_resume_with_nothing_to_do_or_refused_changes_nothing(tmp_path, capsys):
    run = _run(tmp_path, steps=20)
    before = _tree(run)
    assert main(["train", "--resume", str(run), "--steps", "10"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["train", "--resume", str(run), "--steps", "30", "--set", "beta=2"]) == 2
    assert "only for the learning rates" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--steps", "30", "--set", "lr_g=1"]) == 2
    assert _tree(run) == before


def test_resume_truncates_metrics_to_the_checkpoint(tmp_path):
    run = _run(tmp_path, steps=10)
    with open(run / METRICS, "a") as f:  # what a killed run logged after its last checkpoint, and a torn line
        f.write(json.dumps({"step": 11, "loss": 1.0}) + "\n" + '{"step": 12, "lo')
    resume(run, steps=20, quiet=True)
    assert (run / METRICS).read_bytes() == (_run(tmp_path, "straight", steps=20) / METRICS).read_bytes()


# ---------------------------------------------------------------- validation measures the trained objective
@pytest.mark.parametrize("settings", [{"kl_warmup_steps": 100}, {"capacity_max": 25.0, "capacity_steps": 100}])
def test_validation_is_the_training_objective_at_the_step(digits_data, settings):
    _, test = digits_data
    torch.manual_seed(0)
    m = build_model("vae", image_shape=(1, 8, 8), arch="mlp", hidden=(16,), latent_dim=2, **settings)
    val = validate(m, test, 64, torch.device("cpu"), step=50)
    x = test.images.float().div(255)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        expected = m.eval().loss(x, 50)  # the same objective on the same noise
    assert val["loss"] == pytest.approx(float(expected["loss"]), rel=1e-5)
    if "kl_warmup_steps" in settings:  # beta at step 50 of 100 is 0.5
        assert val["loss"] == pytest.approx(val["recon"] + 0.5 * val["kl"], rel=1e-5)
    else:  # C at step 50 is 12.5 nats
        assert val["loss"] == pytest.approx(val["recon"] + 1000 * abs(val["kl"] - 12.5), rel=1e-5)
    assert val["elbo"] == pytest.approx(-(val["recon"] + val["kl"]), rel=1e-5)  # the plain ELBO beside it


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fit_api_on_a_run_folder_takes_the_lock(tmp_path, digits_data):
    from genlab.training import fit

    train_data, _ = digits_data
    m = build_model("ae", image_shape=(1, 8, 8), arch="mlp", hidden=(16,), latent_dim=2)
    (tmp_path / "r").mkdir()
    with run_lock(tmp_path / "r"):  # held by this process: fit inside it is allowed (reentrant)
        fit(m, train_data, TrainConfig(steps=2, batch_size=64), tmp_path / "r", quiet=True)
    assert checkpoint.step_of(checkpoint.latest(tmp_path / "r")) == 2
    pid = _hold_lock_in_child(tmp_path / "r")  # held by another process: refused
    try:
        with pytest.raises(GenlabError, match="is being trained by"):
            fit(m, train_data, TrainConfig(steps=4, batch_size=64), tmp_path / "r", resume=True, quiet=True)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_a_run_written_by_an_older_genlab_resumes_from_its_folder(tmp_path):
    run = _run(tmp_path, steps=10)
    folder = checkpoint.latest(run)
    for p in folder.iterdir():  # the older layout: weights and state beside config.json
        p.rename(run / p.name) if p.name != "config.json" else p.unlink()
    folder.rmdir()
    (run / checkpoint.CHECKPOINTS).rmdir()
    assert checkpoint.latest(run) is None and checkpoint.resumable(run) == run
    resume(run, steps=20, quiet=True)
    assert checkpoint.step_of(checkpoint.latest(run)) == 20 and not list(run.glob("*.safetensors"))
    assert _weights(run) == _weights(_run(tmp_path, "straight", steps=20))


def test_two_ctrl_c_in_a_row_keep_the_run_resumable(tmp_path, monkeypatch, capsys):
    run = _run(tmp_path)  # checkpoint at step 10
    real_track, real_write = loop._track, checkpoint.atomic_write
    writes = []

    def interrupted(t, out):
        real_track(t, out)
        if t.step == 12:
            raise KeyboardInterrupt  # the first Ctrl-C, between two steps: training saves before stopping

    def interrupted_write(path, write, hint=None):
        if checkpoint.CHECKPOINTS not in str(path):
            return real_write(path, write, hint)
        writes.append(path)
        raise KeyboardInterrupt  # the second, during that save

    monkeypatch.setattr(loop, "_track", interrupted)
    monkeypatch.setattr(checkpoint, "atomic_write", interrupted_write)
    assert main(["train", "--resume", str(run), "--steps", "20", "--quiet"]) == 130
    assert "interrupted" in capsys.readouterr().err and writes  # the save was under way
    assert checkpoint.step_of(checkpoint.latest(run)) == 10
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--steps", "20", "--quiet"]) == 0
    assert _weights(run) == _weights(_run(tmp_path, "straight", steps=20))


@pytest.mark.parametrize("where", ["metrics.jsonl", "sample grid"])
def test_full_disk_outside_a_save_says_how_to_continue(tmp_path, monkeypatch, capsys, where):
    run = _run(tmp_path)  # checkpoint at step 10; the next log line at 15, the next grid at the epoch end (23)
    full = OSError(errno.ENOSPC, "No space left on device")
    if where == "metrics.jsonl":

        def no_space_open(*args, **kwargs):
            raise full

        monkeypatch.setattr(loop, "open", no_space_open, raising=False)
    else:
        import genlab.viz.grid

        def fill_disk(f):
            raise full

        def no_space(path, write, hint=None):
            return checkpoint.atomic_write(path, fill_disk, hint)

        monkeypatch.setattr(genlab.viz.grid, "atomic_write", no_space)
    assert main(["train", "--resume", str(run), "--steps", "30", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "disk full" in err and f"genlab train --resume {run}" in err
    assert checkpoint.resumable(run) is not None
