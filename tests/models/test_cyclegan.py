"""CycleGAN: history pool, cycle/identity losses, ResNet generator shapes, save/load, exact resume with the pool."""

import pytest
import torch
from torch import nn

from genlab import losses
from genlab.data.base import ImageData
from genlab.errors import GenlabError
from genlab.models import build_model
from genlab.models.translation_blocks import ImagePool, ResnetGenerator, linear_decay
from genlab.training import TrainConfig, checkpoint, fit
from genlab.training.batches import Batches

SIZES = [(8, 8), (28, 28), (64, 64), (30, 45)]


def unpaired_data(n=48, shape=(1, 8, 8), c2=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(0, 128, (n, *shape), generator=g, dtype=torch.uint8)
    b = torch.randint(128, 256, (n, c2 or shape[0], *shape[1:]), generator=g, dtype=torch.uint8)
    return ImageData("two-domains", a, pair=b, meta={"unpaired": True})


def tiny(**kw):
    torch.manual_seed(0)
    cfg = dict(image_shape=(1, 8, 8), ngf=4, ndf=4, n_blocks=1, pool_size=6)
    cfg.update(kw)
    return build_model("cyclegan", **cfg)


# ---- history pool ----


def test_pool_fills_first_then_returns_old_or_new_half_the_time():
    torch.manual_seed(0)
    pool = ImagePool(50)
    first = torch.arange(50, dtype=torch.float32).view(50, 1, 1, 1)
    assert torch.equal(pool.query(first[:30]), first[:30])  # filling: the new images come back
    assert torch.equal(pool.query(first[30:]), first[30:])
    assert pool.count == 50 and torch.equal(pool.images, first)
    new = torch.arange(1000, 5000, dtype=torch.float32).view(-1, 1, 1, 1)
    out = torch.cat([pool.query(new[i : i + 8]) for i in range(0, len(new), 8)])
    returned_new = (out == new).flatten()
    share_old = 1 - returned_new.float().mean().item()
    assert 0.46 < share_old < 0.54  # p = 1/2 over 4000 draws: sd 0.008
    # what comes back old was stored before (an earlier image), and the pool now holds recent ones
    old = out.flatten()[~returned_new]
    assert (old < new.flatten()[~returned_new]).all()
    assert set(pool.images.flatten().tolist()) <= set(range(50)) | set(new.flatten().tolist())


def test_pool_is_seeded_by_the_global_rng_and_size_zero_passes_through():
    def run():
        torch.manual_seed(3)
        pool = ImagePool(4)
        return torch.cat([pool.query(torch.full((3, 1, 2, 2), float(i))) for i in range(20)])

    assert torch.equal(run(), run())
    x = torch.rand(5, 1, 2, 2, requires_grad=True)
    out = ImagePool(0).query(x * 1)
    assert torch.equal(out, x) and not out.requires_grad  # passed through, cut from G's graph


def test_pool_state_round_trip():
    torch.manual_seed(0)
    pool = ImagePool(5)
    pool.query(torch.rand(3, 1, 4, 4))
    other = ImagePool(5)
    other.load_state(pool.state("p"), "p", "cpu")
    assert other.count == 3 and torch.equal(other.images, pool.images)


# ---- losses and networks ----


class Same(nn.Module):
    """An identity 'generator' with one (unused) parameter, so an optimizer can hold it."""

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return x + 0 * self.p


def test_identity_generators_have_zero_cycle_and_identity_loss():
    x = torch.rand(4, 1, 8, 8)
    assert losses.cycle_loss(x, x) == 0 and losses.identity_loss(x, x) == 0
    assert torch.isclose(losses.cycle_loss(x, torch.zeros_like(x)), x.mean())
    m = tiny()
    m.g_ab, m.g_ba = Same(), Same()
    out = m.train_step(Batches(unpaired_data(), 8, 0), m.configure_optimizers(TrainConfig()), 0)
    assert out["cycle"] == 0 and out["identity"] == 0
    assert torch.isfinite(out["g_adv"]) and torch.isfinite(out["d_a"])


@pytest.mark.parametrize("size", SIZES)
def test_resnet_generator_and_model_shapes(size):
    assert ResnetGenerator(3, 1, size, ngf=4, n_blocks=2)(torch.randn(2, 3, *size)).shape == (2, 1, *size)
    m = tiny(image_shape=(1, *size), pair_channels=3, lambda_identity=0).eval()
    assert m.translate(torch.rand(2, 1, *size)).shape == (2, 3, *size)
    assert m.translate(torch.rand(2, 3, *size), "BtoA").shape == (2, 1, *size)
    assert m.d_a(torch.randn(2, 1, *size)).shape[:2] == (2, 1)


def test_nearest_upsampling_generator_is_the_written_out_network():
    """upsample='nearest': the ResNet generator with (nearest 2x, 3x3 conv) in place of each transposed conv."""
    torch.manual_seed(0)
    g = ResnetGenerator(3, 3, (16, 16), ngf=4, n_blocks=2, upsample="nearest")
    transposed = ResnetGenerator(3, 3, (16, 16), ngf=4, n_blocks=2)
    assert sum(p.numel() for p in g.parameters()) == sum(p.numel() for p in transposed.parameters())

    def block(c):
        return nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c),
        )  # fmt: skip

    stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, 4, 7), nn.InstanceNorm2d(4), nn.ReLU())
    down = nn.Sequential(
        nn.Conv2d(4, 8, 3, 2, 1),
        nn.InstanceNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, 2, 1),
        nn.InstanceNorm2d(16),
        nn.ReLU(),
    )
    blocks = [block(16), block(16)]
    up = nn.Sequential(
        nn.Upsample(scale_factor=2), nn.Conv2d(16, 8, 3, 1, 1), nn.InstanceNorm2d(8), nn.ReLU(),
        nn.Upsample(scale_factor=2), nn.Conv2d(8, 4, 3, 1, 1), nn.InstanceNorm2d(4), nn.ReLU(),
        nn.ReflectionPad2d(3), nn.Conv2d(4, 3, 7), nn.Tanh(),
    )  # fmt: skip
    ref = nn.ModuleList([stem, down, *blocks, up])
    with torch.no_grad():
        for a, b in zip(ref.parameters(), g.parameters(), strict=True):
            a.copy_(b)
    x = torch.randn(2, 3, 16, 16)
    h = down(stem(x))
    for b in blocks:
        h = h + b(h)
    assert torch.allclose(g(x), up(h), atol=1e-6)
    m = tiny(upsample="nearest", patch_last_stride=2, patch_layers=1)
    out = m.train_step(Batches(unpaired_data(), 8, 0), m.configure_optimizers(TrainConfig()), 0)
    assert all(torch.isfinite(v) for v in out.values())
    with pytest.raises(GenlabError, match="upsample"):
        tiny(upsample="bilinear")


def test_train_step_returns_finite_losses_and_fills_pools():
    m = tiny()
    out = m.train_step(Batches(unpaired_data(), 8, 0), m.configure_optimizers(TrainConfig()), 0)
    assert set(out) == {"d_a", "d_b", "g_loss", "g_adv", "cycle", "identity"}
    assert all(torch.isfinite(v) and v.ndim == 0 and not v.requires_grad for v in out.values())
    assert m.pool_a.count == m.pool_b.count == 6


def _calls(m) -> dict[str, int]:
    """Forward calls of each network during one train_step."""
    counts = dict.fromkeys(("g_ab", "g_ba", "d_a", "d_b"), 0)
    for name in counts:
        getattr(m, name).register_forward_hook(lambda *_, n=name: counts.__setitem__(n, counts[n] + 1))
    m.train_step(Batches(unpaired_data(), 4, 0), m.configure_optimizers(TrainConfig()), 0)
    return counts


def test_batched_passes_equal_separate_passes_and_only_with_instance_norm():
    from genlab.models.cyclegan import cycle_update

    data = unpaired_data()
    steps = {}
    for batched in (False, True):
        m = tiny(n_blocks=2)
        opts = m.configure_optimizers(TrainConfig())
        a, b = data.images[:4].float() / 127.5 - 1, data.pair[4:8].float() / 127.5 - 1
        torch.manual_seed(1)  # the pools' draws
        outs = [cycle_update(m, a, b, opts, "lsgan", batched=batched) for _ in range(3)]
        with torch.no_grad():  # the trained networks' outputs (not their weights: a conv bias before
            # instance norm has a zero gradient up to rounding, which Adam turns into steps of any sign)
            nets = [m.g_ab(a), m.g_ba(b), m.d_a(a), m.d_b(b)]
        steps[batched] = (outs, nets)
    for o0, o1 in zip(steps[False][0], steps[True][0], strict=True):
        assert o0.keys() == o1.keys()
        for k in o0:
            assert torch.allclose(o0[k], o1[k], rtol=1e-5, atol=1e-6), k
    for y0, y1 in zip(steps[False][1], steps[True][1], strict=True):
        # Adam turns rounding-level gradients into lr-sized steps (lr 2e-4, 3 steps): a few lr apart at most
        assert torch.allclose(y0, y1, atol=2e-3)
    # instance norm: G_BA on [b; a] then on G_AB(a), G_AB once on [a; b; G_BA(b)], each D once a update
    assert _calls(tiny()) == {"g_ab": 1, "g_ba": 2, "d_a": 2, "d_b": 2}
    # batch norm mixes the images of a call: every pass on its own
    assert _calls(tiny(norm="batch")) == {"g_ab": 3, "g_ba": 3, "d_a": 3, "d_b": 3}
    assert _calls(tiny(lambda_identity=0)) == {"g_ab": 2, "g_ba": 2, "d_a": 2, "d_b": 2}


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_lr_is_constant_then_decays_linearly():
    f = linear_decay(100, 0.5)
    assert [f(s) for s in (0, 49)] == [1.0, 1.0]
    assert f(50) == 1.0 and f(75) == 0.5 and f(99) == pytest.approx(0.02)
    m = tiny()
    opts = m.configure_optimizers(TrainConfig())
    sch = m.configure_schedulers(opts, TrainConfig(), 10)
    lrs = []
    for _ in range(10):
        lrs.append(opts["g"].param_groups[0]["lr"])
        for s in sch.values():
            s.step()
    assert lrs[:5] == [2e-4] * 5 and lrs[5] == pytest.approx(2e-4) and lrs[9] == pytest.approx(2e-4 / 5)


def test_bad_input_is_one_line_error():
    m = tiny().eval()
    with pytest.raises(GenlabError, match="1x8x8"):
        m.translate(torch.rand(2, 3, 8, 8))
    with pytest.raises(GenlabError, match="direction"):
        m.translate(torch.rand(2, 1, 8, 8), "AtoC")
    with pytest.raises(GenlabError, match="lambda_identity=0"):
        tiny(pair_channels=3)
    with pytest.raises(GenlabError, match="at least 5x5"):
        tiny(image_shape=(1, 4, 4))
    one = ImageData("one", torch.zeros(8, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(GenlabError, match="two domains"):
        m.train_step(Batches(one, 4, 0), m.configure_optimizers(TrainConfig()), 0)


def test_preview_bands():
    m = tiny().eval()
    grid = m.preview(Batches(unpaired_data(), 6, 0).next(), torch.Generator())
    assert grid.shape == (36, 1, 8, 8)  # one band of six rows: A, G_AB(A), G_BA(G_AB(A)), B, G_BA(B), G_AB(G_BA(B))


def test_save_load_round_trip(tmp_path):
    m = tiny()
    fit(m, unpaired_data(), TrainConfig(steps=2, batch_size=8), None, quiet=True)
    m.eval()
    checkpoint.save_weights(m, tmp_path, 2)
    assert {p.name for p in tmp_path.iterdir()} == {f"{n}.safetensors" for n in ("g_ab", "g_ba", "d_a", "d_b")}
    torch.manual_seed(1)
    other = build_model("cyclegan", **m.config_dict()).eval()
    assert checkpoint.load_weights(other, tmp_path) == 2
    a, b = torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    assert torch.equal(m.translate(a), other.translate(a))
    assert torch.equal(m.translate(b, "BtoA"), other.translate(b, "BtoA"))


# ---- exact resume ----


def assert_same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    ea, eb = a.extra_state(), b.extra_state()
    assert ea.keys() == eb.keys()
    for k in ea:
        assert torch.equal(ea[k], eb[k]), k


def test_resume_is_exact_with_the_pool(tmp_path):
    """2N steps equal N steps + resume for N more (constant lr); the pools fill and start swapping in N."""
    data = unpaired_data(48)  # 6 steps per epoch at batch 8: the resume crosses an epoch
    cfg = dict(decay_start=1.0)
    full = fit(tiny(**cfg), data, TrainConfig(steps=8, batch_size=8), tmp_path / "full", quiet=True)
    fit(tiny(**cfg), data, TrainConfig(steps=4, batch_size=8), tmp_path / "half", quiet=True)
    resumed = fit(tiny(**cfg), data, TrainConfig(steps=8, batch_size=8), tmp_path / "half", resume=True, quiet=True)
    assert_same(full, resumed)
    assert full.pool_a.count == 6


def test_interrupted_run_resumes_exactly_with_lr_decay_and_pool(tmp_path):
    data = unpaired_data(48)
    cfg = TrainConfig(steps=8, batch_size=8, checkpoint_every=4)
    full = fit(tiny(), data, cfg, tmp_path / "full", quiet=True)
    crash = tiny()
    step_fn, calls = crash.train_step, []

    def dying(*a, **k):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return step_fn(*a, **k)

    crash.train_step = dying
    with pytest.raises(KeyboardInterrupt):
        fit(crash, data, cfg, tmp_path / "crash", quiet=True)
    resumed = fit(tiny(), data, cfg, tmp_path / "crash", resume=True, quiet=True)
    assert_same(full, resumed)
