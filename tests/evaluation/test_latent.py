import math

import pytest
import torch

from genlab.evaluation.latent import latent_completeness, latent_continuity, path_jump_ratios, random_pairs


def linear_decoder(z):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(z.shape[1], 1 * 4 * 4, generator=g, dtype=z.dtype)
    return (z @ a + 0.5).reshape(-1, 1, 4, 4)


def step_decoder(z):
    # the image is all ones where z_0 > 0, all zeros otherwise
    return (z[:, :1] > 0).to(z.dtype).expand(-1, 16).reshape(-1, 1, 4, 4)


def crossing_paths(n, dim=3):
    g = torch.Generator().manual_seed(1)
    za, zb = torch.randn(n, dim, generator=g), torch.randn(n, dim, generator=g)
    za[:, 0], zb[:, 0] = -1.0, 1.3  # crosses z_0 = 0 between two grid points
    return za, zb


def test_linear_decoder_is_perfectly_smooth():
    g = torch.Generator().manual_seed(2)
    za, zb = torch.randn(50, 3, generator=g, dtype=torch.float64), torch.randn(50, 3, generator=g, dtype=torch.float64)
    assert latent_continuity(linear_decoder, za, zb, steps=16) == pytest.approx(1.0, abs=1e-9)
    assert latent_continuity(linear_decoder, za.float(), zb.float(), steps=16) == pytest.approx(1.0, abs=1e-4)


def test_step_decoder_jumps_in_one_step():
    za, zb = crossing_paths(20)
    assert latent_continuity(step_decoder, za, zb, steps=16) == pytest.approx(16.0)
    assert latent_continuity(step_decoder, za, zb, steps=5) == pytest.approx(5.0)
    # paths that never cross z_0 = 0 do not change the image: ratio 1 by definition
    za2, zb2 = za.clone(), zb.clone()
    za2[:, 0], zb2[:, 0] = 0.5, 2.0
    both = latent_continuity(step_decoder, torch.cat([za, za2]), torch.cat([zb, zb2]), steps=16, batch_size=7)
    assert both == pytest.approx((16.0 + 1.0) / 2)


def test_ramp_plus_jump_hand_value():
    # x = z_0 + 3 [z_0 > 0], path z_0: -1 -> 1 in 16 steps of 0.125; the step from 0 to 0.125 also
    # jumps by 3: d = 15 x 0.125 and one 3.125, mean 5/16, max / mean = 10
    def dec(z):
        return (z[:, :1] + 3 * (z[:, :1] > 0).to(z.dtype)).reshape(-1, 1, 1, 1)

    za, zb = torch.tensor([[-1.0, 0.0]]), torch.tensor([[1.0, 0.0]])
    assert path_jump_ratios(dec, za, zb, steps=16).item() == pytest.approx(10.0)


def test_random_pairs_distinct_rows():
    z = torch.arange(10.0)[:, None].expand(10, 2)
    a, b = random_pairs(z, num_pairs=200, seed=0)
    assert a.shape == (200, 2) and (a[:, 0] != b[:, 0]).all()


def test_completeness_known_share():
    # decoder = identity, classifier logits (2 z_0, 0): max softmax = sigmoid(2 |z_0|) >= 0.9
    # iff |z_0| >= ln(9) / 2, which has prior probability 2 (1 - Phi(ln(9) / 2))
    def classifier(x):
        return torch.stack([2 * x[:, 0], torch.zeros(len(x))], dim=1)

    c = math.log(9) / 2
    expected = 2 * (1 - 0.5 * (1 + math.erf(c / math.sqrt(2))))
    got = latent_completeness(lambda z: z, classifier, latent_dim=3, n=20_000, threshold=0.9, seed=0)
    assert got == pytest.approx(expected, abs=0.015)


def test_completeness_extremes():
    def confident(x):
        return torch.tensor([[10.0, 0.0, 0.0]]).expand(len(x), 3)

    def unsure(x):
        return torch.zeros(len(x), 3)

    assert latent_completeness(lambda z: z, confident, latent_dim=2, n=1000, batch_size=300) == 1.0
    assert latent_completeness(lambda z: z, unsure, latent_dim=2, n=1000) == 0.0
    with pytest.raises(ValueError):
        latent_completeness(lambda z: z, lambda x: x[:, 0], latent_dim=2, n=10)
