"""Latent traversals: grid shape, only the swept dimension changes, KL / variance ordering, errors."""

import pytest
import torch
from viz_fakes import FakeAE, FakeVAE, fake_data, tiny

from genlab.errors import GenlabError
from genlab.viz.traverse import dimension_order, traversal_codes, traverse


def kl(logvar):
    lv = torch.tensor(logvar, dtype=torch.float64)
    return 0.5 * (lv.exp() - lv - 1)


def test_grid_shape_rows_are_dims_columns_are_steps(tmp_path):
    model, data = FakeVAE(), fake_data()
    images = traverse(model, dims=[0, 2], steps=5, data=data, out=tmp_path / "t.png")
    assert images.shape == (2 * 5, 1, 4, 4)
    assert (tmp_path / "t.png").is_file()
    assert traverse(model, data=data).shape == (4 * 9, 1, 4, 4)  # all 4 dims, 9 steps
    assert traverse(model, data=data, top=2, steps=3).shape == (2 * 3, 1, 4, 4)


def test_only_the_swept_dimension_changes():
    model, data = FakeVAE(), fake_data()
    images, info = traverse(model, dims=[3, 1], steps=7, value_range=(-2, 2), seed=3, data=data, return_info=True)
    codes = info["codes"].view(2, 7, 4)  # (rows, steps, D)
    z0 = model.sample_latent(1, torch.Generator().manual_seed(3))[0]
    values = torch.linspace(-2, 2, 7)
    for r, j in enumerate([3, 1]):
        others = [k for k in range(4) if k != j]
        assert torch.equal(codes[r][:, others], z0[others].expand(7, 3))
        assert torch.allclose(codes[r][:, j], values)
    assert torch.equal(torch.cat(model.seen), info["codes"])  # the decoder saw exactly these codes
    assert torch.equal(images, model.decode(info["codes"]))


def test_traversal_codes_is_pure_and_exact():
    z0 = torch.tensor([1.0, 2.0, 3.0])
    codes = traversal_codes(
        z0, [2], torch.tensor([-1.0, 0.0, 1.0]), center=torch.tensor([0, 0, 10.0]), scale=torch.tensor([1, 1, 2.0])
    )
    assert torch.equal(codes, torch.tensor([[1, 2, 8.0], [1, 2, 10.0], [1, 2, 12.0]]))


def test_vae_rows_ordered_by_mean_kl_per_dimension():
    logvar = (-0.1, -3.0, 0.0, -1.0)
    model, data = FakeVAE(logvar), fake_data()
    expected = torch.argsort(kl(logvar), descending=True).tolist()
    assert expected == [1, 3, 0, 2]
    _, info = traverse(model, data=data, return_info=True)
    assert info["dims"] == expected
    order, score, what = dimension_order(model, torch.zeros(5, 1, 4, 4))
    assert order.tolist() == expected and "KL" in what
    assert torch.allclose(score.double(), kl(logvar), atol=1e-5)  # mu = 0 here: exactly the closed form


def test_ae_rows_ordered_by_code_variance_and_values_in_code_std():
    model, data = FakeAE(scales=(1.0, 5.0, 0.1)), fake_data()
    _, info = traverse(model, data=data, steps=3, value_range=(-1, 1), return_info=True)
    assert info["dims"] == [1, 0, 2]
    from genlab.data.base import to_float
    from genlab.viz.traverse import ORDER_BATCH, spread

    codes = model.encode(to_float(data.images[spread(len(data), ORDER_BATCH)]))
    row = info["codes"][:3, 1]  # dim 1 swept over mean -+ 1 std of its test codes
    mean, std = codes[:, 1].mean(), codes[:, 1].std()
    assert torch.allclose(row, torch.stack([mean - std, mean, mean + std]), atol=1e-4)


def test_from_image_starts_at_its_code():
    model, data = FakeVAE(), fake_data()
    _, info = traverse(model, dims=[0], from_image=7, data=data, return_info=True)
    from genlab.data.base import to_float

    z = model.encode(to_float(data.images[7:8]))[0]
    assert torch.equal(info["codes"][:, 1:], z[1:].expand(9, 3))


def test_gan_and_conditional_gan():
    gan = tiny("gan", latent_dim=3)
    assert traverse(gan, steps=4).shape == (3 * 4, 1, 8, 8)
    cgan = tiny("cgan", latent_dim=3, num_classes=4)
    a, b = traverse(cgan, dims=[0], label=1), traverse(cgan, dims=[0], label=2)
    assert a.shape == (9, 1, 8, 8) and not torch.equal(a, b)
    with pytest.raises(GenlabError, match="no encoder"):
        traverse(gan, from_image=0)
    with pytest.raises(GenlabError, match="outside the valid range"):
        traverse(cgan, label=4)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(dims=[4]), "dimension 4 is out of range; this model's latent has 4 dimensions"),
        (dict(dims=[-1]), "out of range"),
        (dict(value_range=(3, -3)), "LOW < HIGH"),
        (dict(steps=1), "steps must be an integer >= 2"),
        (dict(from_image=40), "outside the test set"),
    ],
)
def test_bad_input(kw, message):
    with pytest.raises(GenlabError, match=message):
        traverse(FakeVAE(), data=fake_data(), **kw)
