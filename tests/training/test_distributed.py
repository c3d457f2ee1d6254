"""torchrun with 2 CPU processes (gloo, DistributedDataParallel) trains as 1 process on the same global batch.

Each process takes half of every batch, draws its rows of the batch's noise (genlab.shards) and
normalises with the global batch's statistics (synchronised BatchNorm), so the weights agree with
one process's up to float round-off; a run continues with another number of processes.
"""

import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from genlab.errors import GenlabError
from genlab.training import distributed

TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")
pytestmark = pytest.mark.skipif(
    not os.path.exists(TORCHRUN) and shutil.which("torchrun") is None, reason="torchrun not installed"
)
COMMON = ["--data", "digits", "--quiet", "--set", "batch_size=32", "--set", "checkpoint_every=4"]
# a conv VAE (BatchNorm in encoder and decoder; reparameterisation noise) and a DCGAN (BatchNorm in G and in D)
VAE = ["--model", "vae", "--set", "channels=8,16", "--set", "latent_dim=4", *COMMON]
GAN = ["--model", "gan", "--set", "channels=8,16", "--set", "latent_dim=8", "--set", "ema=false", *COMMON]


def _genlab(args: list[str], procs: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = (
        [sys.executable, "-m", "genlab"]
        if procs == 1
        else [
            TORCHRUN if os.path.exists(TORCHRUN) else "torchrun",
            "--standalone",
            f"--nproc_per_node={procs}",
            "-m",
            "genlab",
        ]
    )
    r = subprocess.run([*launch, *args], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


def _weights(run, step: int) -> dict[str, torch.Tensor]:
    folder = run / "checkpoints" / f"step-{step:08d}"
    return {f"{f.stem}.{k}": v for f in sorted(folder.glob("*.safetensors")) for k, v in load_file(str(f)).items()}


def _before_batchnorm(keys) -> set[str]:
    """Biases that a BatchNorm right after cancels ('net.3.bias' before 'net.4', 'ups.0.bias' before 'norms.0'),
    and those BatchNorms' running means."""
    out = set()
    for k in keys:
        if k.endswith(".running_mean"):
            parent, _, index = k[: -len(".running_mean")].rpartition(".")
            if index.isdigit():
                before = [f"{parent}.{int(index) - 1}.bias"]
                if parent.endswith("norms"):  # the conv decoders: norms[i] after ups[i]
                    before.append(f"{parent[: -len('norms')]}ups.{index}.bias")
                out |= {b for b in before if b in keys} | {k}
    return out


def _assert_same(a: dict, b: dict) -> None:
    """Equal up to float round-off, but for the biases that BatchNorm cancels.

    Such a bias has a zero gradient (round-off, ~1e-10, differing between the runs) and Adam's update,
    g / (sqrt(v) + 1e-8), still moves it by up to lr per step; its BatchNorm's running mean follows it.
    Those are only bounded: twice lr (1e-3) times the steps (8), Adam's steps of noise in opposite directions.
    """
    assert a.keys() == b.keys()
    loose = _before_batchnorm(a.keys())
    assert any("running_var" in k for k in a) and loose  # BatchNorm statistics are compared too
    for k in a:
        atol = 2e-2 if k in loose else 2e-5
        diff = float((a[k].float() - b[k].float()).abs().max())
        assert diff <= atol, (k, diff)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """For the VAE and the GAN: one process to step 4, a copy of it, the same run continued to step 8."""
    root = tmp_path_factory.mktemp("ddp")
    for name, args in (("vae", VAE), ("gan", GAN)):
        _genlab(["train", *args, "--steps", "4", "--out", str(root / f"{name}-one")], procs=1)
        shutil.copytree(root / f"{name}-one", root / f"{name}-one-at-4")
        _genlab(["train", "--resume", str(root / f"{name}-one"), "--steps", "8", "--quiet"], procs=1)
    return root


def test_vae_two_processes_match_one_and_resume_on_one(runs):
    _genlab(["train", *VAE, "--steps", "4", "--out", str(runs / "vae-two")], procs=2)
    _assert_same(_weights(runs / "vae-one-at-4", 4), _weights(runs / "vae-two", 4))
    _genlab(["train", "--resume", str(runs / "vae-two"), "--steps", "8", "--quiet"], procs=1)  # 2 -> 1 process
    _assert_same(_weights(runs / "vae-one", 8), _weights(runs / "vae-two", 8))


def test_gan_with_batchnorm_resumed_on_two_processes_matches_one(runs):
    assert any(k.startswith("discriminator.") and "running_mean" in k for k in _weights(runs / "gan-one", 8))
    _genlab(["train", "--resume", str(runs / "gan-one-at-4"), "--steps", "8", "--quiet"], procs=2)  # 1 -> 2
    _assert_same(_weights(runs / "gan-one", 8), _weights(runs / "gan-one-at-4", 8))


def test_batch_must_split_over_the_processes():
    distributed.check_batch(32, distributed.Dist(rank=0, world=2))
    with pytest.raises(GenlabError, match="multiple of 3"):
        distributed.check_batch(32, distributed.Dist(rank=0, world=3))
