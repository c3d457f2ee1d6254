"""SIGKILL at random moments and inside checkpoint writes: the run resumes every time and ends as an uninterrupted one.

Each attempt is a forked child that trains (``train`` the first time, ``resume`` after) and is killed,
either by the parent after a random delay or by itself at a chosen write of a checkpoint (before or
after the commit rename, half-way through a file). Forking keeps torch imported: an attempt costs
milliseconds, not a fresh interpreter.
"""

import os
import random
import signal
import sys
import time

import pytest

from genlab.training import checkpoint, loop, resume, train
from genlab.training.loop import METRICS

SETTINGS = {  # on the CPU: byte-identical weights need deterministic kernels, and a forked child cannot use CUDA
    "device": "cpu",
    "arch": "mlp",
    "hidden": "16",
    "latent_dim": "2",
    "batch_size": "64",
    "checkpoint_every": "3",
    "log_every": "2",
}
STEPS = 200  # 23 steps per epoch on digits: validation, grids and epoch ends are crossed too
KILLS = 24
MOST_STEPS = 8  # an attempt dies within this many steps at the latest, so 24 attempts cannot finish the run
WRITES_PER_SAVE = 4  # config.json, model.safetensors, training_state.pt, the commit rename


def _train_or_resume(run, quiet=True):
    if (run / checkpoint.CONFIG).exists():
        resume(run, quiet=quiet)
    else:
        train("vae", "digits", run, settings=SETTINGS, steps=STEPS, seed=3, quiet=quiet)


def _die_at_write(k: int) -> None:
    """In the child: SIGKILL itself at the k-th checkpoint write (half-way through a file, or just after the rename)."""
    count = {"n": 0}
    real_write, real_rename = checkpoint.atomic_write, checkpoint.os.rename

    def tick():
        count["n"] += 1
        return count["n"] == k

    def atomic_write(path, write, hint=None):
        if tick():

            def torn(f):
                write(f)
                f.truncate(max(0, f.tell() // 2))
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)

            return real_write(path, torn, hint)
        return real_write(path, write, hint)

    def rename(src, dst):
        real_rename(src, dst)
        if tick():
            os.kill(os.getpid(), signal.SIGKILL)

    checkpoint.atomic_write, checkpoint.os.rename = atomic_write, rename


def _die_after_steps(n: int) -> None:
    """In the child: SIGKILL itself just after the n-th step's update (before it is logged or counted in a save)."""
    real, seen = loop._step, {"n": 0}

    def step(t):
        out = real(t)
        seen["n"] += 1
        if seen["n"] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    loop._step = step


def _child(run, die_at: int | None, most_steps: int | None) -> None:
    code = 0
    try:
        sys.stdout = sys.stderr = open(os.devnull, "w")
        if die_at is not None:
            _die_at_write(die_at)
        if most_steps is not None:
            _die_after_steps(most_steps)
        _train_or_resume(run)
    except BaseException:  # noqa: BLE001 - any failure to resume is the test's failure
        code = 3
    os._exit(code)


def _attempt(run, delay: float | None = None, die_at: int | None = None, most_steps: int | None = None) -> str:
    pid = os.fork()
    if pid == 0:
        _child(run, die_at, most_steps)
    if delay is not None:
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.002)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "killed"
    else:
        _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return "killed"
    assert os.WEXITSTATUS(status) == 0, "a resume after a kill failed"
    return "finished"


def _files(run):
    newest = checkpoint.latest(run)
    return {p.name: p.read_bytes() for p in newest.iterdir() if p.suffix == ".safetensors"}, (
        run / METRICS
    ).read_bytes()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_sigkill_loop_resumes_and_ends_like_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    train("vae", "digits", reference, settings=SETTINGS, steps=STEPS, seed=3, quiet=True)
    run = tmp_path / "killed"
    rng = random.Random(0)
    kills, outcomes = 0, []
    for i in range(KILLS):
        if i % 2:  # inside a write: resume's config.json, or any write of this attempt's first two saves
            outcome = _attempt(run, die_at=rng.randint(1, 1 + 2 * WRITES_PER_SAVE))
        else:  # at a random moment (start-up, restore, a step, logging, validation, a save), within a few steps
            outcome = _attempt(run, delay=rng.uniform(0.02, 0.5), most_steps=rng.randint(1, MOST_STEPS))
        outcomes.append(outcome)
        kills += outcome == "killed"
        if outcome == "finished":
            break
    assert _attempt(run) == "finished"
    assert kills >= 20, outcomes
    weights, metrics = _files(run)
    ref_weights, ref_metrics = _files(reference)
    assert checkpoint.step_of(checkpoint.latest(run)) == STEPS
    assert weights == ref_weights  # byte for byte: the same weights (and the same safetensors header)
    assert metrics == ref_metrics
    leftovers = [p for p in run.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers
    assert len(checkpoint.checkpoints(run)) == 1
