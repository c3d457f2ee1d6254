"""GAN losses against their formulas, written out with torch.log(torch.sigmoid(...))."""

import math

import pytest
import torch

from genlab import losses
from genlab.errors import GenlabError

REAL = torch.tensor([2.0, -1.0, 0.5, 3.0], dtype=torch.float64)
FAKE = torch.tensor([-2.0, 0.3, -4.0, 1.0], dtype=torch.float64)


def D(logit):
    return torch.sigmoid(logit)


def test_names():
    assert losses.GAN_LOSSES == ("minimax", "nonsaturating", "lsgan", "hinge", "wgan-gp")


@pytest.mark.parametrize("kind", ["minimax", "nonsaturating"])
def test_d_loss_is_negative_notes_objective(kind):
    # D ascends log D(x) + log(1 - D(G(z))): the loss is its negative, averaged
    expected = -(torch.log(D(REAL)).mean() + torch.log(1 - D(FAKE)).mean())
    assert torch.allclose(losses.gan_d_loss(kind, REAL, FAKE), expected)


def test_g_minimax_is_notes_objective():
    expected = torch.log(1 - D(FAKE)).mean()  # G descends log(1 - D(G(z)))
    assert torch.allclose(losses.gan_g_loss("minimax", FAKE), expected)


def test_g_nonsaturating():
    expected = -torch.log(D(FAKE)).mean()  # G ascends log D(G(z))
    assert torch.allclose(losses.gan_g_loss("nonsaturating", FAKE, REAL), expected)


def test_lsgan():
    assert torch.allclose(
        losses.gan_d_loss("lsgan", REAL, FAKE), 0.5 * ((REAL - 1) ** 2).mean() + 0.5 * (FAKE**2).mean()
    )
    assert torch.allclose(losses.gan_g_loss("lsgan", FAKE), 0.5 * ((FAKE - 1) ** 2).mean())


def test_hinge():
    expected = torch.clamp(1 - REAL, min=0).mean() + torch.clamp(1 + FAKE, min=0).mean()
    assert torch.allclose(losses.gan_d_loss("hinge", REAL, FAKE), expected)
    assert torch.allclose(losses.gan_g_loss("hinge", FAKE), -FAKE.mean())


def test_patch_logits_mean_over_all():
    real, fake = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    for kind in losses.GAN_LOSSES:
        assert losses.gan_d_loss(kind, real, fake).shape == ()
        assert torch.allclose(
            losses.gan_d_loss(kind, real, fake), losses.gan_d_loss(kind, real.flatten(), fake.flatten())
        )
        assert losses.gan_g_loss(kind, fake).shape == ()


def test_stable_at_extreme_logits():
    big = torch.tensor([80.0, -80.0])
    for kind in losses.GAN_LOSSES:
        assert torch.isfinite(losses.gan_d_loss(kind, big, big))
        assert torch.isfinite(losses.gan_g_loss(kind, big))


def test_generator_gradients_saturate_as_theory_says():
    # D(G(z)) ~ 0: D confidently rejects the fake
    l1 = torch.tensor([-8.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(losses.gan_g_loss("minimax", l1), l1)
    l2 = torch.tensor([-8.0], requires_grad=True)
    (g_ns,) = torch.autograd.grad(losses.gan_g_loss("nonsaturating", l2), l2)
    d = torch.sigmoid(torch.tensor(-8.0))
    # d/dl log(1 - sigmoid(l)) = -D ; d/dl -log sigmoid(l) = -(1 - D)
    assert torch.allclose(g_mm.abs(), d) and g_mm.abs() < 1e-3
    assert torch.allclose(g_ns.abs(), 1 - d) and g_ns.abs() > 0.999
    assert g_mm < 0 and g_ns < 0  # both push the fake logit up


def test_unknown_kind():
    with pytest.raises(GenlabError, match="GAN loss"):
        losses.gan_d_loss("wasserstein", REAL, FAKE)
    with pytest.raises(GenlabError, match="GAN loss"):
        losses.gan_g_loss("wasserstein", FAKE)


def test_wgan_critic_losses():
    assert torch.allclose(losses.gan_d_loss("wgan-gp", REAL, FAKE), FAKE.mean() - REAL.mean())
    assert torch.allclose(losses.gan_g_loss("wgan-gp", FAKE), -FAKE.mean())


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = <w, x> + b has gradient w everywhere: the penalty is (||w|| - 1)^2 whatever x_hat is
    w = torch.tensor([[[0.3, -1.2], [2.0, 0.5]]], dtype=torch.float64)  # (1, 2, 2)

    def critic(x):
        return (x * w).flatten(1).sum(1) + 0.7

    real, fake = torch.randn(5, 1, 2, 2, dtype=torch.float64), torch.randn(5, 1, 2, 2, dtype=torch.float64)
    norm = math.sqrt(0.3**2 + 1.2**2 + 2.0**2 + 0.5**2)
    expected = torch.tensor((norm - 1) ** 2, dtype=torch.float64)
    assert torch.allclose(losses.gradient_penalty(critic, real, fake), expected)


def test_gradient_penalty_hand_computed_on_a_tiny_quadratic_critic():
    # D(x) = sum x^2: grad = 2 x_hat, x_hat = eps * real + (1 - eps) * fake, by hand for two 1x1x2 images
    def critic(x):
        return x.pow(2).flatten(1).sum(1)

    real = torch.tensor([[[[1.0, 2.0]]], [[[0.0, -1.0]]]], dtype=torch.float64)
    fake = torch.tensor([[[[3.0, 0.0]]], [[[2.0, 1.0]]]], dtype=torch.float64)
    eps = torch.tensor([0.5, 0.25], dtype=torch.float64)
    # image 1: x_hat = (2, 1), grad (4, 2), norm sqrt(20); image 2: x_hat = (1.5, 0.5), grad (3, 1), norm sqrt(10)
    expected = ((math.sqrt(20) - 1) ** 2 + (math.sqrt(10) - 1) ** 2) / 2
    gp = losses.gradient_penalty(critic, real, fake, eps=eps)
    assert abs(float(gp) - expected) < 1e-12


def test_gradient_penalty_trains_the_critic():
    d = torch.nn.Linear(4, 1, dtype=torch.float64)
    gp = losses.gradient_penalty(
        lambda x: d(x.flatten(1)).squeeze(1),
        torch.randn(3, 1, 2, 2, dtype=torch.float64),
        torch.randn(3, 1, 2, 2, dtype=torch.float64),
    )
    gp.backward()
    w = d.weight.detach()[0]
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    assert torch.allclose(d.weight.grad[0], 2 * (w.norm() - 1) * w / w.norm())


def test_mode_seeking_is_large_when_the_noise_is_ignored():
    z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
    same = torch.rand(4, 1, 3, 3)
    assert losses.mode_seeking(same, same, z1, z2) > 1e4  # collapsed: 1 / eps
    a, b = torch.rand(4, 1, 3, 3), torch.rand(4, 1, 3, 3)
    ratio = (a - b).abs().mean() / (z1 - z2).abs().mean()
    assert torch.allclose(losses.mode_seeking(a, b, z1, z2), 1 / (ratio + 1e-5))
