"""pix2pix: U-Net and PatchGAN shapes at any size, the receptive-field rule, the loss, save/load, exact resume."""

import copy

import pytest
import torch
import torch.nn.functional as F

from genlab.data.base import ImageData
from genlab.errors import GenlabError
from genlab.models import build_model
from genlab.models.translation_blocks import PatchGAN, UNet, default_patch_layers, patch_receptive_field
from genlab.training import TrainConfig, checkpoint, fit
from genlab.training.batches import Batches

SIZES = [(8, 8), (28, 28), (64, 64), (30, 45)]


def paired_data(n=64, shape=(1, 8, 8), c2=None, seed=0):
    """A learnable paired set: B is the inverted, flipped A."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    b = (255 - a).flip(-1)
    if c2 is not None:
        b = b[:, :1].expand(-1, c2, -1, -1).contiguous()
    return ImageData("pairs", a, pair=b)


def tiny(**kw):
    torch.manual_seed(0)
    cfg = dict(image_shape=(1, 8, 8), ngf=4, ndf=4)
    cfg.update(kw)
    return build_model("pix2pix", **cfg)


@pytest.mark.parametrize("size", SIZES)
def test_unet_and_patchgan_shapes(size):
    x = torch.randn(2, 3, *size)
    assert UNet(3, 1, size, ngf=4)(x).shape == (2, 1, *size)
    d = PatchGAN(4, size, ndf=4)
    out = d(torch.randn(2, 4, *size))
    assert out.ndim == 4 and out.shape[:2] == (2, 1) and min(out.shape[2:]) >= 1


@pytest.mark.parametrize("size", SIZES)
def test_model_translates_at_any_size_and_both_directions(size):
    for direction in ("AtoB", "BtoA"):
        m = tiny(image_shape=(1, *size), pair_channels=3, direction=direction).eval()
        c_in, c_out = (1, 3) if direction == "AtoB" else (3, 1)
        y = m.translate(torch.rand(2, c_in, *size))
        assert y.shape == (2, c_out, *size) and 0 <= y.min() and y.max() <= 1


def test_receptive_field_rule():
    assert [patch_receptive_field(n) for n in range(5)] == [7, 16, 34, 70, 142]
    assert default_patch_layers(256, 256) == 3  # the paper's 70x70 at 256
    assert [default_patch_layers(s, s) for s in (8, 28, 64, 128)] == [0, 0, 1, 2]
    for side in (28, 64, 100, 128, 256, 512):
        rf = patch_receptive_field(default_patch_layers(side, side))
        assert side / 4 - 1 <= rf <= side / 2


@pytest.mark.parametrize("n", [0, 1, 2])
def test_receptive_field_is_measured(n):
    """The gradient of one centre logit reaches exactly a 9 * 2**n - 2 pixel square of the input."""
    torch.manual_seed(0)
    d = PatchGAN(1, (96, 96), ndf=2, n_layers=n, norm="batch").double().eval()  # no batch-wide statistics
    x = torch.randn(1, 1, 96, 96, dtype=torch.double, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero()
    cols = x.grad[0, 0].abs().sum(0).nonzero()
    assert int(rows.max() - rows.min() + 1) == patch_receptive_field(n)
    assert int(cols.max() - cols.min() + 1) == patch_receptive_field(n)
    assert PatchGAN(1, (96, 96), ndf=2, n_layers=n).receptive_field == patch_receptive_field(n)


def test_too_deep_patchgan_is_one_line_error():
    with pytest.raises(GenlabError, match="patch_layers"):
        tiny(patch_layers=3)


@pytest.mark.parametrize("kind", ["nonsaturating", "lsgan"])
def test_generator_loss_is_adv_plus_100_l1(kind):
    m = tiny(dropout=0.0, gan_loss=kind)
    data = paired_data()
    before = copy.deepcopy(m)
    opt = m.configure_optimizers(TrainConfig())
    batches = Batches(data, 16, seed=0)
    batch = Batches(data, 16, seed=0).next()
    out = m.train_step(batches, opt, 0)
    # G before its update, D after its update: the pair that G's loss was computed with
    xs, ys = batch.x * 2 - 1, batch.pair * 2 - 1
    fake = before.generator(xs)
    logits = m.discriminator(torch.cat([xs, fake], 1))
    adv = F.softplus(-logits).mean() if kind == "nonsaturating" else (logits - 1).pow(2).mean()
    l1 = (fake - ys).abs().mean()
    assert torch.allclose(out["l1"], l1, atol=1e-6)
    assert torch.allclose(out["g_adv"], adv, atol=1e-5)
    assert torch.allclose(out["g_loss"], adv + 100 * l1, atol=1e-4)


def test_training_lowers_l1():
    m = tiny(ngf=8, lr_g=1e-3)
    data = paired_data(128)
    data.pair = 255 - data.images
    opt = m.configure_optimizers(TrainConfig())
    batches = Batches(data, 32, seed=0)
    l1 = [float(m.train_step(batches, opt, i)["l1"]) for i in range(60)]
    assert sum(l1[-5:]) < 0.85 * sum(l1[:5])


def test_bad_input_is_one_line_error():
    m = tiny().eval()
    with pytest.raises(GenlabError, match="1x8x8"):
        m.translate(torch.rand(2, 3, 8, 8))
    with pytest.raises(GenlabError, match="AtoB only"):
        m.translate(torch.rand(2, 1, 8, 8), direction="BtoA")
    unpaired = ImageData("x", torch.zeros(8, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(GenlabError, match="paired data"):
        m.train_step(Batches(unpaired, 4, 0), m.configure_optimizers(TrainConfig()), 0)
    with pytest.raises(GenlabError, match="direction"):
        tiny(direction="sideways")
    with pytest.raises(GenlabError, match="gan_loss"):
        tiny(gan_loss="wasserstein")


def test_preview_bands():
    m = tiny().eval()
    batch = Batches(paired_data(), 12, 0).next()
    grid = m.preview(batch, torch.Generator())
    assert grid.shape == (36, 1, 8, 8)  # 6 per row: two bands of input | output | target
    assert torch.equal(grid[:6], batch.x[:6]) and torch.equal(grid[12:18], batch.pair[:6])


def test_save_load_round_trip(tmp_path):
    m = tiny()
    fit(m, paired_data(), TrainConfig(steps=3, batch_size=16), None, quiet=True)
    m.eval()
    checkpoint.save_weights(m, tmp_path, 3)
    assert {p.name for p in tmp_path.iterdir()} == {"generator.safetensors", "discriminator.safetensors"}
    torch.manual_seed(1)
    other = build_model("pix2pix", **m.config_dict()).eval()
    assert checkpoint.load_weights(other, tmp_path) == 3
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(m.translate(x), other.translate(x))


def test_resume_is_exact(tmp_path):
    """2N steps in one run equal N steps, then a resumed run to 2N (constant lr, the default)."""
    data = paired_data(96)  # 6 steps per epoch at batch 16: the resume crosses an epoch
    full = fit(tiny(), data, TrainConfig(steps=10, batch_size=16), tmp_path / "full", quiet=True)
    fit(tiny(), data, TrainConfig(steps=5, batch_size=16), tmp_path / "half", quiet=True)
    resumed = fit(tiny(), data, TrainConfig(steps=10, batch_size=16), tmp_path / "half", resume=True, quiet=True)
    assert_same_weights(full, resumed)


def test_interrupted_run_with_lr_decay_resumes_exactly(tmp_path):
    """A run killed after its step-5 checkpoint and resumed ends like an uninterrupted one (decaying lr)."""
    data = paired_data(96)
    cfg = TrainConfig(steps=10, batch_size=16, checkpoint_every=5)
    full = fit(tiny(decay_start=0.3), data, cfg, tmp_path / "full", quiet=True)
    crash = tiny(decay_start=0.3)
    crash.train_step = crash_after(crash.train_step, 6)
    with pytest.raises(KeyboardInterrupt):
        fit(crash, data, cfg, tmp_path / "crash", quiet=True)
    resumed = fit(tiny(decay_start=0.3), data, cfg, tmp_path / "crash", resume=True, quiet=True)
    assert_same_weights(full, resumed)


def crash_after(step_fn, n):
    calls = []

    def step(*a, **k):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return step_fn(*a, **k)

    return step


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
