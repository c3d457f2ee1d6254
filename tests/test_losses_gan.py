"""GAN losses against their formulas, written out with torch.log(torch.sigmoid(...))."""

import pytest
import torch

from genlab import losses
from genlab.errors import GenlabError

REAL = torch.tensor([2.0, -1.0, 0.5, 3.0], dtype=torch.float64)
FAKE = torch.tensor([-2.0, 0.3, -4.0, 1.0], dtype=torch.float64)


def D(l):
    return torch.sigmoid(l)


def test_names():
    assert losses.GAN_LOSSES == ("minimax", "nonsaturating", "lsgan", "hinge")


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
    assert torch.allclose(losses.gan_d_loss("lsgan", REAL, FAKE),
                          0.5 * ((REAL - 1) ** 2).mean() + 0.5 * (FAKE**2).mean())
    assert torch.allclose(losses.gan_g_loss("lsgan", FAKE), 0.5 * ((FAKE - 1) ** 2).mean())


def test_hinge():
    expected = torch.clamp(1 - REAL, min=0).mean() + torch.clamp(1 + FAKE, min=0).mean()
    assert torch.allclose(losses.gan_d_loss("hinge", REAL, FAKE), expected)
    assert torch.allclose(losses.gan_g_loss("hinge", FAKE), -FAKE.mean())


def test_patch_logits_mean_over_all():
    real, fake = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    for kind in losses.GAN_LOSSES:
        assert losses.gan_d_loss(kind, real, fake).shape == ()
        assert torch.allclose(losses.gan_d_loss(kind, real, fake),
                              losses.gan_d_loss(kind, real.flatten(), fake.flatten()))
        assert losses.gan_g_loss(kind, fake).shape == ()


def test_stable_at_extreme_logits():
    big = torch.tensor([80.0, -80.0])
    for kind in losses.GAN_LOSSES:
        assert torch.isfinite(losses.gan_d_loss(kind, big, big))
        assert torch.isfinite(losses.gan_g_loss(kind, big))


def test_generator_gradients_saturate_as_theory_says():
    # D(G(z)) ~ 0: D confidently rejects the fake
    l = torch.tensor([-8.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(losses.gan_g_loss("minimax", l), l)
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
