"""torchrun with 2 CPU processes (gloo) gives the same weights as one process on the same global batch."""

import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from genlab.training import checkpoint

ARGS = ["train", "--model", "ae", "--data", "digits", "--steps", "12", "--quiet",
        "--set", "arch=mlp", "--set", "hidden=32", "--set", "latent_dim=4", "--set", "batch_size=64"]


@pytest.mark.skipif(shutil.which("torchrun") is None and not os.path.exists(os.path.join(os.path.dirname(sys.executable), "torchrun")),
                    reason="torchrun not installed")
def test_two_processes_match_one(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    one = subprocess.run([sys.executable, "-m", "genlab", *ARGS, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env, timeout=240)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([torchrun, "--nproc_per_node=2", "--master_port=29533", "-m", "genlab", *ARGS,
                          "--out", str(tmp_path / "two")], capture_output=True, text=True, env=env, timeout=240)
    assert two.returncode == 0, two.stderr[-2000:]
    a = load_file(str(checkpoint.latest(tmp_path / "one") / "model.safetensors"))
    b = load_file(str(checkpoint.latest(tmp_path / "two") / "model.safetensors"))
    # an MLP autoencoder has no noise and no batch statistics: averaging the two half-batch gradients
    # is the full-batch gradient, so the runs agree up to float round-off
    for k in a:
        if k.startswith("encoder") or k.startswith("decoder"):
            assert torch.allclose(a[k], b[k], atol=1e-5), k
