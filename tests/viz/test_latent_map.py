"""2-D latent maps: codes, the decoded grid over the same region, the AE-beside-VAE figure."""

import pytest
import torch
from PIL import Image
from viz_fakes import tiny

from genlab.errors import GenlabError
from genlab.viz.latent_map import grid_codes, latent_map, latent_maps, region


def test_grid_codes_rows_from_the_top():
    z = grid_codes((0.0, 1.0, -1.0, 1.0), 3).view(3, 3, 2)
    assert torch.allclose(z[0, :, 1], torch.ones(3)) and torch.allclose(z[-1, :, 1], -torch.ones(3))
    assert torch.allclose(z[:, 0, 0], torch.zeros(3)) and torch.allclose(z[:, -1, 0], torch.ones(3))


def test_region_holds_the_codes():
    codes = torch.randn(500, 2) * torch.tensor([1.0, 3.0])
    x0, x1, y0, y1 = region(codes, quantile=0.0)
    assert x0 < codes[:, 0].min() and x1 > codes[:, 0].max() and y0 < codes[:, 1].min() and y1 > codes[:, 1].max()


def test_ae_beside_vae_writes_a_png(digits_data, tmp_path):
    test = digits_data[1]
    ae, vae = tiny("ae"), tiny("vae")
    maps = latent_maps([ae, vae], out=tmp_path / "map.png", n=100, grid=5, data=test, names=["ae", "vae"])
    assert [m.name for m in maps] == ["AE", "VAE"]
    m = maps[1]
    assert m.codes.shape == (100, 2) and m.labels.shape == (100,) and m.grid.shape == (25, 1, 8, 8)
    with torch.no_grad():
        corner = vae.decode(torch.tensor([[m.extent[0], m.extent[3]]]))  # top-left: smallest z1, largest z2
    assert torch.allclose(m.grid[0], corner[0], atol=1e-6)
    im = Image.open(tmp_path / "map.png")
    assert im.format == "PNG" and im.size[0] > im.size[1] / 2


def test_needs_two_dims_and_an_encoder(digits_data):
    with pytest.raises(GenlabError, match="latent_dim = 2, this model has 3"):
        latent_map(tiny("vae", latent_dim=3), data=digits_data[1])
    with pytest.raises(GenlabError, match="no encoder"):
        latent_map(tiny("gan"), data=digits_data[1])
