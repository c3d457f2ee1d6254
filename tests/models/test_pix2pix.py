"""pix2pix: U-Net and PatchGAN shapes at any size, the receptive-field rule, the loss, save/load, exact resume."""

import copy

import pytest
import torch
import torch.nn.functional as F

from genlab.data.base import ImageData
from genlab.errors import GenlabError
from genlab.models import build_model
from genlab.models.translation_blocks import (
    PatchGAN,
    UNet,
    UNetUpsample,
    default_patch_layers,
    patch_receptive_field,
)
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
    assert UNetUpsample(3, 1, size, ngf=4)(x).shape == (2, 1, *size)
    for last_stride in (1, 2):
        d = PatchGAN(4, size, ndf=4, last_stride=last_stride)
        out = d(torch.randn(2, 4, *size))
        assert out.ndim == 4 and out.shape[:2] == (2, 1) and min(out.shape[2:]) >= 1


def written_out_unet_upsample(in_ch, out_ch, ngf, depth):
    """The upsampling U-Net as conv-norm-activation modules, the output layer upsample + pad + conv."""
    from torch import nn

    w = [ngf * min(2**i, 8) for i in range(depth)]
    down = nn.ModuleList()
    for i in range(depth):
        layers = [nn.Conv2d(in_ch if i == 0 else w[i - 1], w[i], 4, 2, 1, bias=False)]
        if 0 < i < depth - 1:
            layers.append(nn.InstanceNorm2d(w[i]))
        down.append(nn.Sequential(*layers, nn.LeakyReLU(0.2)))
    up = nn.ModuleList()  # up[j - 1] makes the decoder output at the size of encoder layer j - 1's output
    for j in range(1, depth):
        c_in = w[j] * (1 if j == depth - 1 else 2)
        up.append(
            nn.Sequential(
                nn.ConvTranspose2d(c_in, w[j - 1], 4, 2, 1, bias=False), nn.InstanceNorm2d(w[j - 1]), nn.ReLU()
            )
        )
    final = nn.Sequential(
        nn.Upsample(scale_factor=2), nn.ZeroPad2d((1, 0, 1, 0)), nn.Conv2d(2 * ngf, out_ch, 4, padding=1), nn.Tanh()
    )

    def forward(x):
        skips = []
        for d in down:
            x = d(x)
            skips.append(x)
        for j in reversed(range(1, depth)):  # innermost first, each output beside the encoder output of its size
            x = torch.cat([up[j - 1](x), skips[j - 1]], 1)
        return final(x)

    return nn.ModuleList([down, up, final]), forward


def test_unet_upsample_is_the_written_out_network():
    """g_arch='unet-upsample' equals the network written out with torch.nn (same weights, eval mode)."""
    torch.manual_seed(0)
    net = UNetUpsample(3, 2, (32, 32), ngf=2, norm="instance").eval()  # depth 5, widths 2 4 8 16 16
    ref, ref_forward = written_out_unet_upsample(3, 2, 2, 5)
    theirs = list(ref.parameters())
    assert [p.shape for p in net.parameters()] == [p.shape for p in theirs]
    with torch.no_grad():
        for a, b in zip(theirs, net.parameters()):
            a.copy_(b)
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(net(x), ref_forward(x), atol=1e-6)
    # dropout: the encoder layers of width 8 ngf and the decoder layers whose output meets them
    net = UNetUpsample(1, 1, (256, 256), ngf=2)
    dropped_down = [i for i, d in enumerate(net.down) if any(isinstance(m, torch.nn.Dropout) for m in d)]
    dropped_up = [j + 1 for j, p in enumerate(net.up_post) if any(isinstance(m, torch.nn.Dropout) for m in p)]
    assert dropped_down == [3, 4, 5, 6, 7] and dropped_up == [4, 5, 6, 7]


@pytest.mark.parametrize("n", [0, 1, 3])
def test_strided_patchgan_is_the_written_out_network(n):
    """patch_last_stride=2: (n + 1) stride-2 convs, then a 4x4 conv keeping the size (pad 2 before, 1 after)."""
    from torch import nn

    torch.manual_seed(0)
    d = PatchGAN(6, (64, 64), ndf=4, n_layers=n, norm="instance", last_stride=2)
    layers: list[nn.Module] = []
    c = 6
    for i in range(n + 1):
        layers.append(nn.Conv2d(c, 4 * min(2**i, 8), 4, 2, 1))
        layers += [nn.InstanceNorm2d(4 * min(2**i, 8))] if i > 0 else []
        layers.append(nn.LeakyReLU(0.2))
        c = 4 * min(2**i, 8)
    ref = nn.Sequential(*layers, nn.ZeroPad2d((1, 0, 1, 0)), nn.Conv2d(c, 1, 4, padding=1))
    assert sum(p.numel() for p in ref.parameters()) == sum(p.numel() for p in d.parameters())
    assert sum(p.numel() for p in d.parameters()) == sum(
        p.numel() for p in PatchGAN(6, (64, 64), ndf=4, n_layers=n, norm="instance").parameters()
    )  # the same weights as the stride-1 PatchGAN
    ref.load_state_dict(d.net.state_dict())
    x = torch.randn(2, 6, 64, 64)
    out = d(x)
    assert out.shape == (2, 1, 64 // 2 ** (n + 1), 64 // 2 ** (n + 1))
    assert torch.allclose(out, ref(x), atol=1e-6)


def test_upsample_layout_trains_and_translates():
    m = tiny(image_shape=(1, 16, 16), g_arch="unet-upsample", patch_last_stride=2)
    data = paired_data(32, shape=(1, 16, 16))
    out = m.train_step(Batches(data, 8, 0), m.configure_optimizers(TrainConfig()), 0)
    assert all(torch.isfinite(v) for v in out.values())
    assert m.eval().translate(torch.rand(2, 1, 16, 16)).shape == (2, 1, 16, 16)
    with pytest.raises(GenlabError, match="g_arch"):
        tiny(g_arch="resnet")
    with pytest.raises(GenlabError, match="patch_last_stride"):
        tiny(patch_last_stride=3)


@pytest.mark.parametrize("size", SIZES)
def test_model_translates_at_any_size_and_both_directions(size):
    for direction in ("AtoB", "BtoA"):
        m = tiny(image_shape=(1, *size), pair_channels=3, direction=direction).eval()
        c_in, c_out = (1, 3) if direction == "AtoB" else (3, 1)
        y = m.translate(torch.rand(2, c_in, *size))
        assert y.shape == (2, c_out, *size) and 0 <= y.min() and y.max() <= 1


def test_receptive_field_rule():
    assert [patch_receptive_field(n) for n in range(5)] == [7, 16, 34, 70, 142]
    assert [patch_receptive_field(n, last_stride=2) for n in range(5)] == [10, 22, 46, 94, 190]
    assert default_patch_layers(256, 256, last_stride=2) == 3
    assert default_patch_layers(256, 256) == 3  # the paper's 70x70 at 256
    assert [default_patch_layers(s, s) for s in (8, 28, 64, 128)] == [0, 0, 1, 2]
    for side in (28, 64, 100, 128, 256, 512):
        rf = patch_receptive_field(default_patch_layers(side, side))
        assert side / 4 - 1 <= rf <= side / 2


@pytest.mark.parametrize("n", [0, 1, 2])
@pytest.mark.parametrize("last_stride", [1, 2])
def test_receptive_field_is_measured(n, last_stride):
    """The gradient of one centre logit reaches exactly a 9 * 2**n - 2 (6 * 2**(n+1) - 2) pixel square."""
    torch.manual_seed(0)
    d = PatchGAN(1, (96, 96), ndf=2, n_layers=n, norm="batch", last_stride=last_stride).double().eval()
    x = torch.randn(1, 1, 96, 96, dtype=torch.double, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero()
    cols = x.grad[0, 0].abs().sum(0).nonzero()
    rf = patch_receptive_field(n, last_stride)
    assert int(rows.max() - rows.min() + 1) == rf and int(cols.max() - cols.min() + 1) == rf
    assert PatchGAN(1, (96, 96), ndf=2, n_layers=n, last_stride=last_stride).receptive_field == rf


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


def test_eval_translation_runs_in_chunks_with_the_same_outputs():
    """translate in eval mode feeds the generator EVAL_CHUNK images at a time (bounded memory), same outputs."""
    from genlab.models.translation_blocks import EVAL_CHUNK

    m = tiny(norm="batch", g_arch="unet-upsample").eval()
    x = torch.rand(2 * EVAL_CHUNK + 3, 1, 8, 8)
    calls = []
    m.generator.register_forward_hook(lambda mod, args, out: calls.append(len(args[0])))
    with torch.no_grad():
        whole = (m.generator(x * 2 - 1) + 1) / 2
    assert torch.allclose(m.translate(x), whole, atol=1e-6)
    assert calls == [len(x), EVAL_CHUNK, EVAL_CHUNK, 3]
