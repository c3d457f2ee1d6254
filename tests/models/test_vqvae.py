"""VQ-VAE: the quantiser, straight-through gradients, the loss terms, the prior over codes, and every
command and the explorer on a tiny run (seconds)."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab.cli import main
from genlab.errors import GenlabError
from genlab.models import build_model


def tiny(**kw):
    torch.manual_seed(0)
    return build_model("vqvae", image_shape=(1, 8, 8), channels=(8,), embedding_dim=3, num_codes=5, **kw)


def test_quantiser_picks_the_nearest_entry():
    m = tiny()
    z_e = torch.randn(2, 3, 4, 4)
    idx = m.nearest(z_e)
    dist = ((z_e.permute(0, 2, 3, 1)[..., None, :] - m.codebook) ** 2).sum(-1)  # (2, 4, 4, K) by brute force
    assert torch.equal(idx, dist.argmin(-1))
    assert m.latent_dim == 3 * 4 * 4 and m.encode(torch.rand(2, 1, 8, 8)).shape == (2, 48)
    z = m.encode(torch.rand(2, 1, 8, 8))
    assert torch.equal(m.decode(z), m.decode(z + 1e-4))  # decode snaps to the codebook: a tiny move changes nothing


def test_loss_terms_and_straight_through_gradients():
    m = tiny(beta=0.25)
    x = torch.rand(4, 1, 8, 8)
    out = m.loss(x)
    z_e = m.encoder(x)
    e = m.lookup(m.nearest(z_e))
    sq = ((e - z_e) ** 2).flatten(1).sum(1).mean()
    assert torch.allclose(out["codebook"], sq) and torch.allclose(out["commit"], sq)
    assert torch.allclose(out["loss"], out["recon"] + 1.25 * sq)
    out["recon"].backward(retain_graph=True)  # the reconstruction alone reaches the encoder (straight through)
    assert m.encoder[0].weight.grad.abs().sum() > 0 and m.codebook.grad is None
    m.zero_grad()
    out["codebook"].backward(retain_graph=True)  # the codebook loss moves the entries, not the encoder
    assert m.codebook.grad.abs().sum() > 0 and m.encoder[0].weight.grad is None
    m.zero_grad()
    out["commit"].backward()  # the commitment loss moves the encoder, not the entries
    assert m.encoder[0].weight.grad.abs().sum() > 0 and m.codebook.grad is None


def test_prior_is_the_code_frequency_per_position():
    from genlab.data.base import ImageData

    m = tiny().eval()
    images = torch.randint(0, 256, (30, 1, 8, 8), dtype=torch.uint8)
    m.on_epoch_end(ImageData("x", images, None, None))
    codes = m.nearest(m.encoder(images.float() / 255)).flatten(1)  # (30, 16)
    counts = torch.stack([torch.bincount(codes[:, p], minlength=5) for p in range(16)]).float() + 1
    assert torch.allclose(torch.softmax(m.prior_logits, 1), counts / counts.sum(1, keepdim=True), atol=1e-6)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(m.sample(6, g()), m.sample(6, g()))
    z = m.sample_latent(2000, g()).view(2000, 3, 16).permute(0, 2, 1)  # every drawn vector is a codebook entry
    assert ((z.reshape(-1, 1, 3) - m.codebook) ** 2).sum(-1).min(1).values.max() == 0
    with pytest.raises(GenlabError, match="needs a conditional model"):
        m.sample(2, labels=1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vq") / "vq"
    genlab.train(
        "vqvae", "digits", out, steps=40, quiet=True, settings={"channels": "8", "batch_size": 32, "log_every": 10}
    )
    return out


def test_training_lowers_the_loss_and_round_trips(run):
    import json

    logs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in logs if "loss" in r]
    assert losses[-1] < losses[0]
    a, b = genlab.load(run), genlab.load(run)
    x = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    assert torch.equal(a.reconstruct(x), b.reconstruct(x))
    assert torch.equal(a.sample(4, torch.Generator().manual_seed(0)), b.sample(4, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "--n", "8"],
        ["reconstruct"],
        ["traverse", "--top", "3"],
        ["interpolate", "--pairs", "2"],
        ["interpolate", "--prior", "--pairs", "1"],
    ],
)
def test_every_picture_command(run, tmp_path, argv):
    out = tmp_path / "x.png"
    assert main([argv[0], str(run), "--out", str(out), *argv[1:]]) == 0 and out.stat().st_size > 0


def test_evaluate_and_explorer(run, tmp_path):
    from genlab.evaluation.report import EvalSettings

    report = genlab.evaluate(run, tmp_path / "r.json", settings=EvalSettings.quick())
    assert {"recon_mse", "fid"} <= set(report) and "elbo" not in report
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from genlab.explorer import create_app

    client = TestClient(create_app([run]))
    info = client.get("/api/models").json()
    assert info["groups"] == [{"kind": "latent", "runs": [0]}] and info["runs"][0]["has_encoder"]
    d = info["runs"][0]["latent_dim"]
    enc = client.post("/api/encode", json={"run": 0, "index": 2}).json()
    assert len(enc["z"]) == d
    assert client.post("/api/decode", json={"run": 0, "z": enc["z"]}).status_code == 200
    drawn = client.post("/api/sample", json={"run": 0, "seed": 5}).json()["z"]  # the per-position code prior
    model = genlab.load(run)
    z = model.sample_latent(1, torch.Generator().manual_seed(5))[0]
    center, scale = model.latent_scale()
    assert torch.allclose(torch.tensor(drawn), ((z - center) / scale).clamp(-4, 4), atol=1e-3)
    out = client.post("/api/interpolate", json={"run": 0, "source": "images", "a": 0, "b": 1, "steps": 4}).json()
    assert len(out["images"]) == 4 and out["method"] == "linear"


def test_resume_is_exact(tmp_path):
    settings = {"channels": "8", "batch_size": 64}
    full = genlab.train("vqvae", "digits", tmp_path / "full", steps=30, quiet=True, settings=settings)
    genlab.train("vqvae", "digits", tmp_path / "half", steps=15, quiet=True, settings=settings)
    resumed = genlab.resume(tmp_path / "half", steps=30, quiet=True)  # crosses the epoch end (23 steps): prior refit
    a, b = full.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
