import json

import pytest
import torch

from genlab.errors import GenlabError
from genlab.models import build_model
from genlab.training import TrainConfig, checkpoint, fit
from genlab.training.batches import Batches


def _model(name="vae"):
    torch.manual_seed(0)
    return build_model(name, image_shape=(1, 8, 8), arch="conv", latent_dim=4, channels=(8,))


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_batches_are_seeded_and_cover_each_epoch(digits_data):
    train, _ = digits_data
    a = Batches(train, 100, seed=3)
    seen = torch.cat([a.next().index for _ in range(a.per_epoch)])
    assert seen.unique().numel() == seen.numel() == 1500  # one epoch: every row once
    second = a.next().index
    assert not torch.equal(second, seen[:100])  # a new order in the next epoch
    other_seed = Batches(train, 100, seed=4).next().index
    assert not torch.equal(other_seed, seen[:100])
    # the stream's whole state is (epoch, index): a new stream placed there continues identically
    again = Batches(train, 100, seed=3, epoch=1, index=1)
    assert torch.equal(again.next().index, a.next().index)


@pytest.mark.parametrize("small", [True, False])
def test_a_batch_is_its_rows_as_floats(small, monkeypatch):
    """Images, paired images and labels of a batch are the rows it names, the images scaled to [0, 1]."""
    from genlab.data.base import ImageData
    from genlab.training import batches

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (50, 2, 3, 4), dtype=torch.uint8, generator=g)
    pair = torch.randint(0, 256, (50, 1, 3, 4), dtype=torch.uint8, generator=g)
    data = ImageData("rows", images, torch.arange(50) * 7, pair=pair)
    if not small:  # a set too large to hold on the device: gathered on the host, then moved
        monkeypatch.setattr(batches, "HELD_ELEMENTS", images.numel() - 1)
    stream = batches.Batches(data, 16, seed=1)
    assert (stream._x is None) != small
    b = stream.next()
    idx = b.index.tolist()
    assert torch.equal(b.x, torch.stack([images[i] for i in idx]).float() / 255)
    assert torch.equal(b.pair, torch.stack([pair[i] for i in idx]).float() / 255)
    assert b.y.tolist() == [7 * i for i in idx]


@pytest.mark.parametrize("name", ["ae", "vae"])
def test_resume_is_exact(tmp_path, digits_data, name):
    train, test = digits_data
    cfg = TrainConfig(steps=30, batch_size=64, log_every=7)  # 23 steps per epoch: resume crosses an epoch
    full = fit(_model(name), train, cfg, tmp_path / "full", test_data=test, quiet=True)
    half_cfg = TrainConfig(steps=15, batch_size=64, log_every=7)
    fit(_model(name), train, half_cfg, tmp_path / "half", test_data=test, quiet=True)
    resumed = fit(_model(name), train, cfg, tmp_path / "half", test_data=test, resume=True, quiet=True)
    a, b = _state(full), _state(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_loss_goes_down(digits_data):
    train, test = digits_data
    m = _model("vae")
    from genlab.training.loop import validate

    before = validate(m, test, 64, torch.device("cpu"))["loss"]
    fit(m, train, TrainConfig(steps=100, batch_size=64, lr=3e-3), None, quiet=True)
    after = validate(m, test, 64, torch.device("cpu"))["loss"]
    assert after < 0.8 * before


def test_run_directory_contents(tmp_path, digits_data):
    train, test = digits_data
    fit(_model("vae"), train, TrainConfig(epochs=2, batch_size=64, log_every=10), tmp_path, test_data=test, quiet=True)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"checkpoints", "metrics.jsonl", "samples", "tb"} <= names
    newest = checkpoint.latest(tmp_path)
    assert {p.name for p in newest.iterdir()} == {"config.json", "model.safetensors", "training_state.pt"}
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == [newest.name]  # the previous one is gone
    assert (tmp_path / "samples" / "epoch_001.png").is_file() and (tmp_path / "samples" / "epoch_002.png").is_file()
    lines = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("test/loss" in r for r in lines) and any("loss" in r for r in lines)
    assert list((tmp_path / "tb").iterdir())
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path, digits_data):
    train, _ = digits_data
    m = _model("vae")
    fit(m, train, TrainConfig(steps=23, batch_size=64), tmp_path, quiet=True)  # one epoch, checkpointed
    before = (checkpoint.latest(tmp_path) / "model.safetensors").read_bytes()
    original = m.loss

    def exploding(x, step=0):
        out = original(x, step)
        if step >= 30:
            out["loss"] = out["loss"] * float("nan")
        return out

    m.loss = exploding
    with pytest.raises(
        GenlabError,
        match=r"diverged at step 31 \(losses loss=nan.*step 23\) is kept.*"
        r"--resume .* --set lr=0.0001",
    ):
        fit(m, train, TrainConfig(steps=60, batch_size=64, log_every=5), tmp_path, resume=True, quiet=True)
    assert (checkpoint.latest(tmp_path) / "model.safetensors").read_bytes() == before


def test_corrupt_and_foreign_checkpoints(tmp_path, digits_data):
    train, _ = digits_data
    m = _model("vae")
    fit(m, train, TrainConfig(steps=3, batch_size=64), tmp_path, quiet=True)
    folder = checkpoint.latest(tmp_path)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(GenlabError, match="corrupted or truncated"):
        checkpoint.load_weights(_model("vae"), tmp_path)
    (folder / "model.safetensors").write_bytes(data)
    with pytest.raises(GenlabError, match="'vae' model, not 'ae'"):
        checkpoint.load_weights(_model("ae"), tmp_path)
    (folder / "training_state.pt").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(GenlabError, match="corrupted"):
        checkpoint.load_state(tmp_path)
    # a pickle that would run code is refused by weights_only loading
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, folder / "training_state.pt", _use_new_zipfile_serialization=True, pickle_module=pickle)
    with pytest.raises(GenlabError, match="corrupted"):
        checkpoint.load_state(tmp_path)
