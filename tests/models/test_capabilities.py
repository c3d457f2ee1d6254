"""Capabilities: what each family declares matches what it does; the shared label and direction checks;
the base learning rate and weight decay reach every family; encode/translate take uint8 or float images."""

from __future__ import annotations

import pytest
import torch

from genlab.errors import GenlabError
from genlab.evaluation.report import METRIC_GROUPS
from genlab.models import MODELS, build_model, families_with
from genlab.models.capabilities import (
    DIRECTIONS,
    EXPLORER_VIEWS,
    Conditional,
    Encoder,
    GaussianPosterior,
    LatentModel,
    Sampler,
    Translator,
    VoiceConverter,
    check_direction,
    class_labels,
    require,
    supports,
)
from genlab.training import TrainConfig
from genlab.training.run import make_configs

METHODS = {
    LatentModel: ("latent_dim", "decode", "sample_latent", "latent_scale"),
    Encoder: ("encode", "reconstruct"),
    GaussianPosterior: ("encode_dist", "log_px_given_z"),
    Sampler: ("sample",),
    Conditional: ("decode", "label_embedding"),
    Translator: ("directions", "input_shape", "translate"),
    VoiceConverter: ("convert",),
}
TINY = {
    "ae": {"arch": "mlp", "hidden": (8,), "latent_dim": 3},
    "vae": {"arch": "mlp", "hidden": (8,), "latent_dim": 3},
    "gan": {"arch": "mlp", "hidden": (8,), "latent_dim": 3},
    "cgan": {"arch": "mlp", "hidden": (8,), "latent_dim": 3, "num_classes": 3, "label_dim": 2},
    "pix2pix": {"ngf": 4, "ndf": 4},
    "cyclegan": {"ngf": 4, "ndf": 4, "n_blocks": 1},
}
GAN_LIKE = ("gan", "cgan", "pix2pix", "cyclegan", "cyclegan-voice")


def tiny(name):
    shape = (1, 80, 64) if name == "cyclegan-voice" else (1, 16, 16) if name in ("pix2pix", "cyclegan") else (1, 8, 8)
    kw = TINY.get(name, {"channels": 4, "ndf": 4, "n_blocks": 0} if name == "cyclegan-voice" else {})
    torch.manual_seed(0)
    return build_model(name, image_shape=shape, **kw).eval()


@pytest.mark.parametrize("name", list(MODELS))
def test_declared_capabilities_are_implemented(name):
    model = tiny(name)
    assert model.capabilities, f"{name} declares nothing"
    for cap in model.capabilities:
        for method in METHODS[cap]:
            assert hasattr(model, method), f"{name} declares {cap.__name__} but has no {method}"
    assert set(model.metric_groups) <= set(METRIC_GROUPS)
    assert model.explorer_view in (*EXPLORER_VIEWS, None)
    if model.explorer_view in ("latent", "noise"):
        assert supports(model, LatentModel)
    if model.explorer_view == "translate":
        assert supports(model, Translator)


def test_families_with_reads_the_registry():
    assert families_with(Encoder)[:2] == ["ae", "vae"] and "gan" not in families_with(Encoder)
    assert families_with(Conditional) == ["cgan"]
    assert set(families_with(Translator)) >= {"pix2pix", "cyclegan", "cyclegan-voice"}
    assert supports(build_model("gan", image_shape=(1, 8, 8), arch="mlp", num_classes=2), Conditional)
    with pytest.raises(
        GenlabError, match=r"model 'gan' has no encoder; reconstruct needs a model with an encoder \(ae"
    ):
        require(tiny("gan"), Encoder, "reconstruct")


def test_class_labels_is_the_one_label_check():
    assert torch.equal(class_labels(None, 5, 3), torch.tensor([0, 1, 2, 0, 1]))
    assert torch.equal(class_labels(2, 3, 3), torch.tensor([2, 2, 2]))
    assert class_labels(None, 4, 0) is None
    for labels, words in [
        (3, "outside the valid range [0, 3)"),
        ([0, 1], "got 2 labels for 4 images"),
        (0.5, "integers"),
        (torch.tensor([-1, 0, 0, 0]), "label -1"),
    ]:
        with pytest.raises(GenlabError, match=words.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
            class_labels(labels, 4, 3)
    with pytest.raises(GenlabError, match="needs a conditional model"):
        class_labels(1, 4, 0)


def test_check_direction():
    assert check_direction("BtoA") == "BtoA" and DIRECTIONS == ("AtoB", "BtoA")
    with pytest.raises(GenlabError, match="'up'"):
        check_direction("up")
    with pytest.raises(GenlabError, match="AtoB only"):
        check_direction("BtoA", ("AtoB",))


def test_gan_decode_is_sample_and_takes_a_label_embedding():
    m = tiny("cgan")
    z = m.sample_latent(6, torch.Generator().manual_seed(1))
    assert torch.equal(m.decode(z, labels=2), m.sample(6, torch.Generator().manual_seed(1), labels=2))
    emb = m.label_embedding(torch.full((6,), 2))
    assert torch.equal(m.decode(z, labels=0, label_embedding=emb), m.decode(z, labels=2))
    with pytest.raises(GenlabError, match=r"decode takes float codes \(B, 3\)"):
        m.decode(torch.zeros(2, 5))


# ---- silent wrong results of the past: --set lr / weight_decay ignored by the GANs


@pytest.mark.parametrize("name", GAN_LIKE)
def test_lr_and_weight_decay_reach_every_network(name):
    model = tiny(name)
    settings = {"lr": "1e-3", "weight_decay": "0.01"}
    train = make_configs(name, model.config.image_shape, 3 if name == "cgan" else None, settings)["train"]
    groups = [g for opt in model.configure_optimizers(train).values() for g in opt.param_groups]
    d_share = 0.5 if name == "cyclegan-voice" else 1.0  # CycleGAN-VC: D at half of G's rate (the paper's)
    assert sorted({g["lr"] for g in groups}) == sorted({1e-3, 1e-3 * d_share})
    assert {g["weight_decay"] for g in groups} == {0.01}


@pytest.mark.parametrize("name", GAN_LIKE)
def test_own_rates_win_and_defaults_are_the_papers(name):
    model = tiny(name)
    default = {k: opt.param_groups[0]["lr"] for k, opt in model.configure_optimizers(TrainConfig()).items()}
    d_key = "discriminator" if name in ("gan", "cgan") else "d"
    g_key = "generator" if name in ("gan", "cgan") else "g"
    assert default[g_key] == 2e-4 and default[d_key] == (1e-4 if name == "cyclegan-voice" else 2e-4)
    model.config.lr_g = 5e-5
    own = {k: opt.param_groups[0]["lr"] for k, opt in model.configure_optimizers(TrainConfig(lr=1e-3)).items()}
    assert own[g_key] == 5e-5 and own[d_key] == (5e-4 if name == "cyclegan-voice" else 1e-3)


def test_lr_default_for_the_autoencoders():
    opt = tiny("vae").configure_optimizers(TrainConfig())["model"]
    assert opt.param_groups[0]["lr"] == 1e-3
    assert tiny("vae").configure_optimizers(TrainConfig(lr=3e-4))["model"].param_groups[0]["lr"] == 3e-4


# ---- silent wrong results of the past: encode/translate and the images of load_dataset (uint8)


@pytest.mark.parametrize("name", ["ae", "vae"])
def test_encode_takes_uint8_or_float_and_says_what_else(name):
    model = tiny(name)
    x8 = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    assert torch.allclose(model.encode(x8), model.encode(x8.float() / 255), atol=1e-6)
    assert model.encode(x8[0]).shape == (1, 3)  # one (C, H, W) image
    for bad, words in [
        (x8.long(), "uint8 0..255 or float in \\[0, 1\\], got torch.int64"),
        (x8.float(), "divide 0..255 values by 255"),
        (x8.float()[:, :, :4] / 255, "got 1x4x8"),
        (x8.numpy(), "torch tensor"),
    ]:
        with pytest.raises(GenlabError, match=words) as e:
            model.encode(bad)
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", ["pix2pix", "cyclegan"])
def test_translate_takes_uint8_or_float(name):
    model = tiny(name)
    x8 = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    assert torch.allclose(model.translate(x8), model.translate(x8.float() / 255), atol=1e-6)
    with pytest.raises(GenlabError, match="uint8 0..255 or float in"):
        model.translate(x8.float())
