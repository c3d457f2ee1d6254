"""GAN / conditional GAN: shapes at every size, the k-step algorithm, losses, EMA, labels, save/load, resume."""

import math

import pytest
import torch

from genlab.config import apply_settings
from genlab.data.base import ImageData
from genlab.errors import GenlabError
from genlab.models import MODELS, build_model
from genlab.models.gan import GAN, ConditionalGAN, GANConfig, per_class_for_grid
from genlab.training import checkpoint
from genlab.training.batches import Batch
from genlab.training.config import TrainConfig
from genlab.training.loop import fit

TINY = dict(latent_dim=8, hidden=(16, 32), channels=(8, 16), label_dim=4)
SHAPES = [(1, 8, 8), (1, 28, 28), (3, 64, 64), (3, 30, 45)]


def tiny(shape=(1, 8, 8), **kw):
    return GAN(GANConfig(image_shape=shape, **{**TINY, **kw}))


def digits(n=300):
    from sklearn.datasets import load_digits

    d = load_digits()
    images = torch.from_numpy(d.images[:n] * 255 / 16).round().to(torch.uint8).unsqueeze(1)  # (N, 1, 8, 8)
    return ImageData("digits", images, torch.from_numpy(d.target[:n]).long(), [str(i) for i in range(10)])


class CountingBatches:
    """A stand-in for Batches that counts the real batches taken, each one different."""

    def __init__(self, shape=(1, 8, 8), b=6, labels=None):
        self.shape, self.b, self.labels, self.taken = shape, b, labels, 0

    def next(self):
        self.taken += 1
        y = torch.randint(0, self.labels, (self.b,)) if self.labels else None
        return Batch(torch.rand(self.b, *self.shape), y)


# ---- networks ----


@pytest.mark.parametrize("arch", ["mlp", "dcgan", "dcgan-radford", "dcgan-upsample"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("num_classes", [0, 3])
def test_network_shapes(arch, shape, num_classes):
    m = tiny(shape, arch=arch, num_classes=num_classes, spectral_norm=num_classes > 0)
    y = torch.tensor([0, 2, 1, 0]) if num_classes else None
    x = m.generator(torch.randn(4, 8), y)
    assert x.shape == (4, *shape) and x.min() >= -1 and x.max() <= 1
    assert m.discriminator(x, y).shape == (4,)
    s = m.sample(5) if not num_classes else m.sample(5, labels=1)
    assert s.shape == (5, *shape) and s.min() >= 0 and s.max() <= 1


def test_default_sizes_build():
    for shape in SHAPES:
        m = GAN(GANConfig(image_shape=shape))
        assert m.sample(2).shape == (2, *shape)


def test_networks_are_modules_and_ema_is_frozen():
    m = tiny()
    nets = m.networks()
    assert set(nets) == {"generator", "discriminator", "generator_ema"}
    assert all(isinstance(n, torch.nn.Module) for n in nets.values())
    assert not any(p.requires_grad for p in m.generator_ema.parameters())
    opt_params = {
        id(p) for o in m.configure_optimizers(TrainConfig()).values() for g in o.param_groups for p in g["params"]
    }
    assert not opt_params & {id(p) for p in m.generator_ema.parameters()}
    assert set(tiny(ema=False).networks()) == {"generator", "discriminator"}


# ---- config ----


def test_registry_and_family():
    assert MODELS["gan"] is GAN and MODELS["cgan"] is ConditionalGAN
    assert build_model("gan", image_shape=(1, 8, 8), **TINY).family == "gan"
    assert build_model("cgan", image_shape=(1, 8, 8), num_classes=10, **TINY).family == "cgan"
    with pytest.raises(GenlabError, match="num_classes"):
        build_model("cgan", image_shape=(1, 8, 8))


@pytest.mark.parametrize(
    "field,value",
    [
        ("arch", "resnet"),
        ("loss", "wgan"),
        ("d_steps", 0),
        ("lr_g", 0.0),
        ("lr_d", -1.0),
        ("betas", (0.5,)),
        ("ema_decay", 1.0),
        ("ema_start", -1),
        ("num_classes", -1),
        ("latent_dim", 0),
        ("hidden", (0,)),
        ("channels", (8, 0)),
        ("label_dim", 0),
    ],
)
def test_config_validation_names_the_field(field, value):
    with pytest.raises(GenlabError, match=field):
        GANConfig(**{field: value})


def test_set_strings_reach_every_gan_option():
    configs = {"model": GANConfig(image_shape=(1, 8, 8)), "train": TrainConfig()}
    out = apply_settings(
        configs,
        {
            "loss": "minimax",
            "d_steps": "5",
            "spectral_norm": "true",
            "ema": "false",
            "lr_d": "4e-4",
            "betas": "0.0,0.9",
            "channels": "8,16",
            "arch": "mlp",
        },
    )
    cfg = out["model"]
    assert (cfg.loss, cfg.d_steps, cfg.spectral_norm, cfg.ema, cfg.lr_d, cfg.betas, cfg.channels, cfg.arch) == (
        "minimax",
        5,
        True,
        False,
        4e-4,
        (0.0, 0.9),
        (8, 16),
        "mlp",
    )
    with pytest.raises(GenlabError, match="loss"):
        apply_settings(configs, {"loss": "wasserstein"})


def test_radford_variant_is_the_published_network():
    """dcgan-radford equals Radford et al.'s layers written out with torch.nn (weights copied across)."""
    from torch import nn

    torch.manual_seed(0)
    m = GAN(GANConfig(image_shape=(3, 32, 32), arch="dcgan-radford", latent_dim=8, channels=(4, 8, 16), ema=False))
    ref_g = nn.Sequential(  # the noise as a (B, 8, 1, 1) map, a 4x4 transposed conv to the first map
        nn.ConvTranspose2d(8, 16, 4, 1, 0, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.ConvTranspose2d(16, 8, 4, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 4, 2, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
        nn.ConvTranspose2d(4, 3, 4, 2, 1, bias=False), nn.Tanh(),
    )  # fmt: skip
    ref_d = nn.Sequential(
        nn.Conv2d(3, 4, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(4, 8, 4, 2, 1, bias=False), nn.BatchNorm2d(8), nn.LeakyReLU(0.2),
        nn.Conv2d(8, 16, 4, 2, 1, bias=False), nn.BatchNorm2d(16), nn.LeakyReLU(0.2),
        nn.Conv2d(16, 1, 4, 1, 0, bias=False),
    )  # fmt: skip
    g = m.generator.net
    with torch.no_grad():  # linear (16*4*4, 8) <-> transposed conv (8, 16, 4, 4)
        ref_g[0].weight.copy_(g.fc.weight.T.reshape(8, 16, 4, 4))
        for r, n in zip([ref_g[1], ref_g[4], ref_g[7]], [g.start_norm, *g.norms]):
            r.load_state_dict(n.state_dict())
        for r, u in zip([ref_g[3], ref_g[6], ref_g[9]], g.ups):
            r.weight.copy_(u.weight)
        d = [x for x in m.discriminator.phi if isinstance(x, (nn.Conv2d, nn.BatchNorm2d))]
        for r, x in zip([y for y in ref_d if isinstance(y, (nn.Conv2d, nn.BatchNorm2d))], d):
            r.load_state_dict(x.state_dict())
        ref_d[-1].weight.copy_(m.discriminator.psi.weight.reshape(1, 16, 4, 4))
    n_ref = sum(p.numel() for p in [*ref_g.parameters(), *ref_d.parameters()])
    assert n_ref == sum(p.numel() for p in m.parameters())
    z = torch.randn(5, 8)
    x = m.generator(z)
    assert torch.allclose(x, ref_g(z[:, :, None, None]), atol=1e-5)
    assert torch.allclose(m.discriminator(x), ref_d(x).flatten(), atol=1e-5)


def test_upsample_variant_layers():
    """dcgan-upsample: G = linear, BN, (upsample, 3x3 conv, BN, LeakyReLU) per stage, 3x3 conv; D with dropout."""
    from torch import nn

    m = GAN(GANConfig(image_shape=(1, 32, 32), arch="dcgan-upsample", latent_dim=8, channels=(4, 8, 16, 32),
                      g_channels=(16, 16, 8), ema=False))  # fmt: skip
    g = m.generator.net
    assert g.start == (16, 8, 8) and [c.out_channels for c in g.convs] == [16, 8] and g.out.out_channels == 1
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) for c in [*g.convs, g.out])
    kinds = [type(x).__name__ for x in m.discriminator.phi]
    assert kinds[:3] == ["Conv2d", "LeakyReLU", "Dropout2d"] and kinds[3:7] == kinds[:3] + ["BatchNorm2d"]
    assert m.discriminator.psi.in_features == 32 * 2 * 2
    m.eval()  # G by hand: nearest upsampling by 2 between the convs
    z = torch.randn(3, 8)
    x = g.start_norm(g.fc(z).view(3, 16, 8, 8))
    for conv, norm in zip(g.convs, g.norms):
        x = nn.functional.leaky_relu(norm(conv(x.repeat_interleave(2, 2).repeat_interleave(2, 3))), 0.2)
    assert torch.allclose(m.generator(z), torch.tanh(g.out(x)), atol=1e-6)


@pytest.mark.parametrize("reuse", [True, False])
def test_g_update_reuses_the_fake_batch_of_d(reuse):
    """reuse_fake: one G forward per step (D's fake, its graph kept for G's update); False: two."""
    m = tiny(d_steps=2, reuse_fake=reuse)
    opts = m.configure_optimizers(TrainConfig())
    fakes = []
    m.generator.register_forward_hook(lambda mod, args, out: fakes.append(out))
    m.train_step(CountingBatches(), opts, 0)
    assert len(fakes) == (2 if reuse else 3)  # one per D update, and one more for G without reuse
    assert [f.requires_grad for f in fakes] == ([False, True] if reuse else [False, False, True])
    assert all(p.grad is not None for p in m.generator.parameters())


def test_a_run_saved_before_reuse_fake_resumes_with_fresh_noise():
    """A config.json written before the key existed keeps the behaviour it was trained with."""
    from genlab.config import from_json, to_jsonable

    saved = to_jsonable(GANConfig())
    del saved["reuse_fake"]
    assert GANConfig().reuse_fake is True  # the default of a new run
    assert from_json(GANConfig, saved, "config.json").reuse_fake is False
    assert from_json(GANConfig, {**saved, "reuse_fake": True}, "config.json").reuse_fake is True


# ---- the algorithm ----


@pytest.mark.parametrize("k", [1, 3])
def test_d_steps_k_updates_of_d_per_update_of_g(k):
    m = tiny(d_steps=k)
    assert m.batches_per_step == k
    opts = m.configure_optimizers(TrainConfig())
    calls = {"discriminator": 0, "generator": 0}
    for name, opt in opts.items():
        step = opt.step

        def counted(*a, _name=name, _step=step, **kw):
            calls[_name] += 1
            return _step(*a, **kw)

        opt.step = counted
    batches = CountingBatches()
    for s in range(2):
        out = m.train_step(batches, opts, s)
    assert calls == {"discriminator": 2 * k, "generator": 2}
    assert batches.taken == 2 * k
    assert int(next(iter(opts["discriminator"].state.values()))["step"]) == 2 * k  # Adam's own count
    assert int(next(iter(opts["generator"].state.values()))["step"]) == 2
    assert set(out) == {"d_loss", "g_loss", "logit_real", "logit_fake"}
    assert all(v.ndim == 0 and not v.requires_grad and torch.isfinite(v) for v in out.values())


@pytest.mark.parametrize("loss", ["minimax", "nonsaturating", "lsgan", "hinge", "wgan-gp"])
@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_every_loss_trains(loss, arch):
    m = tiny(arch=arch, loss=loss, num_classes=4, spectral_norm=True)
    opts = m.configure_optimizers(TrainConfig())
    before = [p.clone() for p in m.generator.parameters()]
    out = m.train_step(CountingBatches(labels=4), opts, 0)
    assert all(torch.isfinite(v) for v in out.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, m.generator.parameters()))


def test_wgan_gp_critic_has_no_batch_norm_and_its_loss_holds_the_penalty():
    m = tiny(arch="dcgan", loss="wgan-gp", gp_weight=10.0)
    assert not any(isinstance(x, torch.nn.BatchNorm2d) for x in m.discriminator.modules())
    assert any(isinstance(x, torch.nn.BatchNorm2d) for x in tiny(arch="dcgan").discriminator.modules())
    out = m.train_step(CountingBatches(), m.configure_optimizers(TrainConfig()), 0)
    # the critic's loss is l_fake - l_real + 10 * penalty, and the penalty is >= 0
    assert float(out["d_loss"]) >= float(out["logit_fake"] - out["logit_real"]) - 1e-5


def test_g_step_leaves_d_gradients_alone():
    m = tiny(d_steps=2)
    opts = m.configure_optimizers(TrainConfig())
    p = next(m.discriminator.parameters())
    grads = []
    p.register_hook(lambda g: grads.append(g))
    m.train_step(CountingBatches(), opts, 0)
    assert len(grads) == 2  # one per D update; G's loss sends none into D
    assert all(q.requires_grad for q in m.discriminator.parameters())


def test_minimax_g_gradient_vanishes_when_d_rejects_fakes():
    """D(G(z)) ~ 0: |grad| of log(1 - D(G(z))) ~ D(G(z)) (tiny); of -log D(G(z)) ~ 1 - D (not)."""
    norms = {}
    for loss in ("minimax", "nonsaturating"):
        torch.manual_seed(0)
        m = tiny(arch="mlp", loss=loss)
        with torch.no_grad():
            m.discriminator.psi.bias.fill_(-12.0)  # D confidently rejects everything
        from genlab import losses

        fake_logits = m.discriminator(m.generator(torch.randn(16, 8)))
        assert torch.sigmoid(fake_logits).max() < 1e-4
        g = torch.autograd.grad(losses.gan_g_loss(loss, fake_logits), list(m.generator.parameters()))
        norms[loss] = torch.sqrt(sum(t.pow(2).sum() for t in g))
    assert norms["minimax"] < 1e-3 * norms["nonsaturating"]
    assert norms["nonsaturating"] > 1e-3


def test_d_learns_a_separable_case():
    """Real images all white, G barely moving: a few D steps lower D's loss a lot."""
    torch.manual_seed(0)
    m = tiny(arch="mlp", lr_g=1e-12, lr_d=1e-3)
    opts = m.configure_optimizers(TrainConfig())

    class White(CountingBatches):
        def next(self):
            return Batch(torch.ones(16, 1, 8, 8))

    d = [float(m.train_step(White(), opts, s)["d_loss"]) for s in range(40)]
    assert d[-1] < 0.5 * d[0] and d[-1] < d[5] < d[0]


def test_ema_moves_toward_g():
    m = tiny(ema_decay=0.9)
    opts = m.configure_optimizers(TrainConfig())
    ema0 = [p.clone() for p in m.generator_ema.parameters()]
    m.train_step(CountingBatches(), opts, 100)  # past the warm-up: decay = min(0.9, 101/110) = 0.9
    for e0, e, g in zip(ema0, m.generator_ema.parameters(), m.generator.parameters()):
        assert torch.allclose(e, 0.9 * e0 + 0.1 * g, atol=1e-6)
    m.train_step(CountingBatches(), opts, 0)  # warm-up: decay = min(0.9, 1/10) = 0.1
    ema1 = [p.clone() for p in m.generator_ema.parameters()]
    m.update_ema(0)
    for e1, e, g in zip(ema1, m.generator_ema.parameters(), m.generator.parameters()):
        assert torch.allclose(e, 0.1 * e1 + 0.9 * g, atol=1e-6)
    dist = lambda: sum((e - g).abs().sum() for e, g in zip(m.generator_ema.parameters(), m.generator.parameters()))
    before = dist()
    m.update_ema(1)  # G fixed: the EMA gets closer
    assert dist() < before
    m2 = tiny(ema_start=5)
    m2.train_step(CountingBatches(), m2.configure_optimizers(TrainConfig()), 0)
    assert all(
        torch.equal(e, g) for e, g in zip(m2.generator_ema.state_dict().values(), m2.generator.state_dict().values())
    )


# ---- conditional ----


def test_cgan_labels():
    m = tiny(num_classes=10)
    gen = lambda: torch.Generator().manual_seed(0)
    assert m.sample(12).shape == (12, 1, 8, 8)
    assert torch.equal(m.sample(12, gen()), m.sample(12, gen(), labels=torch.arange(12) % 10))
    assert torch.equal(m.sample(3, gen(), labels=7), m.sample(3, gen(), labels=[7, 7, 7]))
    with pytest.raises(GenlabError, match=r"\[0, 10\)"):
        m.sample(2, labels=10)
    with pytest.raises(GenlabError, match="range"):
        m.sample(2, labels=torch.tensor([0, -1]))
    with pytest.raises(GenlabError, match="labels"):
        m.sample(3, labels=[1, 2])
    with pytest.raises(GenlabError, match="unconditional"):
        tiny().sample(2, labels=1)
    with pytest.raises(GenlabError, match="labelled"):
        m.train_step(CountingBatches(), m.configure_optimizers(TrainConfig()), 0)


def test_cgan_label_changes_the_image_and_grid_per_class():
    m = tiny(num_classes=3)
    with torch.no_grad():
        m.generator_ema.embed.weight.normal_()
    g = lambda: torch.Generator().manual_seed(0)
    assert not torch.equal(m.sample(4, g(), labels=0), m.sample(4, g(), labels=1))
    grid = m.sample_grid_per_class(5, g())
    assert grid.shape == (15, 1, 8, 8)
    assert m.preview(None, g()).shape[0] == 3 * per_class_for_grid(3)
    assert per_class_for_grid(10) == 10  # a 10 x 10 grid: one row per class
    for k in (1, 2, 3, 5, 10, 20):
        per = per_class_for_grid(k)
        assert per % math.ceil(math.sqrt(k * per)) == 0  # each class fills whole rows of the loop's grid


def shapes_folder(root, per_class=24, size=16):
    """A tiny user folder: two classes (discs, bars), each picture with its own position and size."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    for name in ("disc", "bar"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            cx, cy, r = rng.uniform(4, size - 4), rng.uniform(4, size - 4), rng.uniform(2, 4)
            mask = ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r) if name == "disc" else (abs(xx - cx) <= r / 2)
            Image.fromarray(np.where(mask, 230, 20).astype(np.uint8), "L").save(root / name / f"{i}.png")
    return root


def test_default_cgan_on_a_tiny_folder_keeps_noise_apart(tmp_path):
    # The default cgan (mode-seeking on): after training, the samples of one label differ across noise draws
    from genlab.data import load_dataset

    data = load_dataset(str(shapes_folder(tmp_path / "shapes")), image_size=16)
    torch.manual_seed(0)
    m = ConditionalGAN(GANConfig(image_shape=(1, 16, 16), num_classes=2, **TINY))
    assert m.config.mode_seeking > 0
    fit(m, data, TrainConfig(steps=60, batch_size=16, seed=0, log_every=10), quiet=True)
    for label in (0, 1):
        x = m.sample(8, torch.Generator().manual_seed(1), labels=label)  # (8, 1, 16, 16)
        spread = torch.cdist(x.flatten(1), x.flatten(1)).sum() / (8 * 7)
        assert spread > 0.9  # here 0.7-0.8 without the mode-seeking term, 1.0-1.2 with it (2 seeds)


# ---- persistence ----


@pytest.mark.parametrize("kw", [dict(arch="dcgan", spectral_norm=True, num_classes=3), dict(arch="mlp")])
def test_save_load_round_trip(tmp_path, kw):
    m = tiny(**kw)
    opts = m.configure_optimizers(TrainConfig())
    for s in range(3):
        m.train_step(CountingBatches(labels=kw.get("num_classes")), opts, s)
    checkpoint.save_weights(m, tmp_path, 3)
    assert {p.name for p in tmp_path.glob("*.safetensors")} == {
        "generator.safetensors",
        "discriminator.safetensors",
        "generator_ema.safetensors",
    }
    m2 = tiny(**kw)
    assert checkpoint.load_weights(m2, tmp_path) == 3
    for a, b in zip(m.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    g = lambda: torch.Generator().manual_seed(1)
    assert torch.equal(m.eval().sample(6, g()), m2.eval().sample(6, g()))
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    y = torch.tensor([0, 1, 2, 0]) if kw.get("num_classes") else None
    assert torch.equal(m.discriminator(x, y), m2.discriminator(x, y))


def test_exact_resume(tmp_path):
    data = digits(300)  # batch 64 -> 4 batches per epoch -> 2 steps per epoch with d_steps=2
    kw = dict(d_steps=2, num_classes=10, spectral_norm=True, ema_decay=0.9, ema_start=2)

    def run(steps, run_dir, resume=False):
        torch.manual_seed(123)
        m = tiny(**kw)
        train = TrainConfig(steps=steps, batch_size=64, seed=3, log_every=1)
        return fit(m, data, train, run_dir, resume=resume, quiet=True)

    full = run(6, tmp_path / "full")
    run(3, tmp_path / "half")
    resumed = run(6, tmp_path / "half", resume=True)
    a, b = full.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    st = checkpoint.load_state(tmp_path / "half")
    assert st["step"] == 6 and set(st["optimizers"]) == {"discriminator", "generator"}
    assert (tmp_path / "full" / "samples" / "final.png").is_file()
