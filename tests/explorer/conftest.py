"""Tiny trained runs of every family (seconds each), shared by the explorer's API and browser tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import genlab

TRAIN = {"train.batch_size": 16}


def paired_folder(root, n=24, size=16):
    """A/ and B/ folders of matching 16x16 images: B is A's negative with a bright border."""
    rng = np.random.default_rng(0)
    for side in "AB":
        (root / side).mkdir(parents=True)
    for i in range(n):
        a = np.zeros((size, size), np.uint8)
        x, y, w = rng.integers(1, size - 6, 3)
        a[y : y + 4 + w % 4, x : x + 4 + w % 4] = 255
        b = 255 - a
        b[0, :] = b[-1, :] = 200
        Image.fromarray(a).save(root / "A" / f"{i:03d}.png")
        Image.fromarray(b).save(root / "B" / f"{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """{family: run directory}: ae, vae, gan, cgan (digits), pix2pix (a paired folder), cyclegan (fashion-stripes)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("explorer-runs")
    out = {}
    for family in ("ae", "vae"):
        genlab.train(
            family, "digits", root / family, steps=20, quiet=True, settings={"latent_dim": 4, "channels": "8", **TRAIN}
        )
        out[family] = root / family
    for family in ("gan", "cgan"):
        genlab.train(
            family, "digits", root / family, steps=5, quiet=True, settings={"latent_dim": 8, "channels": "8", **TRAIN}
        )
        out[family] = root / family
    data = paired_folder(root / "paired")
    genlab.train(
        "pix2pix",
        str(data),
        root / "pix2pix",
        steps=3,
        quiet=True,
        image_size=16,
        settings={"ngf": 4, "ndf": 4, **TRAIN},
    )
    out["pix2pix"] = root / "pix2pix"
    genlab.train(
        "cyclegan",
        "fashion-stripes",
        root / "cyclegan",
        steps=2,
        quiet=True,
        settings={"ngf": 4, "ndf": 4, "n_blocks": 1, **TRAIN},
    )
    out["cyclegan"] = root / "cyclegan"
    return out
