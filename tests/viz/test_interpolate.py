"""Interpolation: endpoints are the decoded endpoints, lerp/slerp paths, GAN noise and cGAN labels."""

import math

import pytest
import torch
from viz_fakes import FakeVAE, fake_data, tiny

from genlab.data.base import to_float
from genlab.errors import GenlabError
from genlab.viz.interpolate import interpolate, lerp, slerp
from genlab.viz.traverse import decode_latents


def test_lerp_and_slerp_paths():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    t = torch.linspace(0, 1, 5)
    s = slerp(a, b, t)
    assert torch.allclose(s[0], a) and torch.allclose(s[-1], b)
    assert torch.allclose(s.norm(dim=1), torch.ones(5), atol=1e-6)  # stays on the circle
    assert torch.allclose(s[2], torch.tensor([math.sqrt(0.5)] * 2), atol=1e-6)  # half the angle
    assert torch.allclose(lerp(a, b, t)[2], torch.tensor([0.5, 0.5]))
    assert torch.allclose(slerp(a, 2 * a, t), lerp(a, 2 * a, t))  # parallel: linear


def test_image_endpoints_equal_decoded_encodings(digits_data):
    model, test = tiny("ae", latent_dim=3), digits_data[1]
    images, info = interpolate(model, pairs=2, steps=6, images=[0, 5, 7, 9], data=test, return_info=True)
    assert images.shape == (12, 1, 8, 8) and info["method"] == "linear" and info["source"] == "images"
    with torch.no_grad():
        ends = model.decode(model.encode(to_float(test.images[[0, 5, 7, 9]])))
    assert torch.allclose(images[[0, 5, 6, 11]], ends, atol=1e-6)


def test_vae_prior_samples_use_slerp_by_default():
    model = FakeVAE()
    images, info = interpolate(model, pairs=3, steps=4, source="prior", seed=5, return_info=True)
    assert info["method"] == "slerp" and images.shape == (12, 1, 4, 4)
    ends = model.sample_latent(6, torch.Generator().manual_seed(5))
    codes = info["codes"].view(3, 4, -1)
    assert torch.allclose(codes[:, 0], ends[0::2], atol=1e-6) and torch.allclose(codes[:, -1], ends[1::2], atol=1e-6)
    _, info = interpolate(model, source="prior", method="linear", return_info=True)
    assert info["method"] == "linear"


def test_gan_noise_endpoints_are_the_models_samples():
    gan = tiny("gan", latent_dim=4)
    images = interpolate(gan, pairs=2, steps=5, seed=3)
    samples = gan.sample(4, generator=torch.Generator().manual_seed(3))  # the same noise draws
    assert torch.allclose(images[[0, 4, 5, 9]], samples, atol=1e-6)


def test_conditional_gan_between_labels():
    cgan = tiny("cgan", latent_dim=4, num_classes=5)
    images, info = interpolate(cgan, pairs=2, steps=5, labels=(1, 3), seed=0, return_info=True)
    z = info["codes"].view(2, 5, 4)
    assert torch.equal(z[:, 0:1].expand(2, 5, 4), z)  # noise fixed along each row
    start = decode_latents(cgan, z[:, 0], labels=1)
    end = decode_latents(cgan, z[:, 0], labels=3)
    assert torch.allclose(images[[0, 5]], start, atol=1e-6) and torch.allclose(images[[4, 9]], end, atol=1e-6)
    assert not torch.allclose(start, end)
    assert interpolate(cgan, pairs=1, steps=3, label=2).shape == (3, 1, 8, 8)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(images=[0, 1, 2]), "needs 2 x pairs = 8 test indices"),
        (dict(images=[0, 1, 2, 99, 3, 4, 5, 6]), "outside the test set"),
        (dict(method="cubic"), "unknown method 'cubic'"),
        (dict(steps=1), "steps must be an integer >= 2"),
        (dict(labels=(0, 1)), "conditional model"),
    ],
)
def test_bad_input(kw, message):
    with pytest.raises(GenlabError, match=message):
        interpolate(FakeVAE(), data=fake_data(), **kw)


def test_gan_has_no_image_endpoints():
    with pytest.raises(GenlabError, match="no encoder"):
        interpolate(tiny("gan"), source="images")
