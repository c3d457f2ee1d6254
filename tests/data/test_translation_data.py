"""Built-in translation datasets: edges2fashion, maps, fashion-stripes; combine_unpaired."""

import pytest
import torch

from genlab.data import DATASETS, idx, load_dataset
from genlab.data.base import ImageData
from genlab.data.paired import (
    MAP_CLASSES,
    MAP_COUNTS,
    MAP_PALETTE,
    edge_map,
    load_maps,
    map_classes,
    pixel_accuracy,
    render_maps,
)
from genlab.data.unpaired import STRIPE_DARK, add_stripes, combine_unpaired, halves, stripe_texture

needs_fashion = pytest.mark.skipif(not idx.is_available("fashion-mnist"), reason="Fashion-MNIST files not installed")


def test_registered():
    assert {"edges2fashion", "maps", "fashion-stripes"} <= set(DATASETS)


# ---- maps ----


def test_maps_shapes_palette_and_classes():
    d = load_dataset("maps", "test")
    assert d.images.shape == d.pair.shape == (200, 3, 64, 64) and d.images.dtype == torch.uint8
    assert torch.equal(d.meta["palette"], MAP_PALETTE) and d.meta["class_names"] == list(MAP_CLASSES)
    cls = d.meta["classes"]
    assert cls.shape == (200, 64, 64)
    assert torch.equal(d.pair.permute(0, 2, 3, 1), MAP_PALETTE[cls.long()])  # the map is the palette of the classes
    assert torch.equal(map_classes(d.pair), cls.long()) and pixel_accuracy(d.pair, cls) == 1.0
    assert pixel_accuracy(d.pair.float() / 255, cls) == 1.0  # float maps too
    share = torch.bincount(cls.flatten().long(), minlength=5) / cls.numel()
    assert (share > 0.02).all()  # every class is present
    assert MAP_COUNTS == {"train": 2000, "test": 200}


def test_maps_are_deterministic_per_row_and_splits_differ():
    a, m, c = render_maps("test", 150, 160)  # a slice in the middle of a chunk
    d = load_maps("test")
    assert (
        torch.equal(a, d.images[150:160])
        and torch.equal(m, d.pair[150:160])
        and torch.equal(c, d.meta["classes"][150:160])
    )
    assert torch.equal(render_maps("test", 0, 5)[0], render_maps("test", 0, 5)[0])
    train = render_maps("train", 0, 200)[1]
    assert not torch.equal(train, d.pair)
    assert not {bytes(x.numpy()) for x in train} & {bytes(x.numpy()) for x in d.pair}  # no test map among train rows


def test_aerial_view_is_textured_not_the_map():
    d = load_maps("test")
    cls = d.meta["classes"].long()
    aerial = d.images.float()
    for k in range(len(MAP_CLASSES)):
        pixels = aerial.permute(0, 2, 3, 1)[cls == k]  # (n, 3)
        assert pixels.std(0).mean() > 3  # texture, not one flat colour
    water, ground = aerial.permute(0, 2, 3, 1)[cls == 2].mean(0), aerial.permute(0, 2, 3, 1)[cls == 0].mean(0)
    assert water[2] > water[0] and water.sum() < ground.sum()  # water is dark and blue-ish


def test_map_classes_rejects_wrong_shapes():
    from genlab.errors import GenlabError

    with pytest.raises(GenlabError, match="3, H, W"):
        map_classes(torch.zeros(2, 1, 8, 8))


# ---- edges2fashion ----


def test_edge_map_of_a_square():
    img = torch.zeros(1, 1, 16, 16, dtype=torch.uint8)
    img[..., 4:12, 4:12] = 255
    e = edge_map(img)[0, 0] > 0
    assert set(edge_map(img).unique().tolist()) <= {0, 255}
    assert not e[7, 7] and not e[0, 0] and not e[15, 15]  # no edges inside or far outside
    assert e[3:5, 6:10].any() and e[11:13, 6:10].any() and e[6:10, 3:5].any() and e[6:10, 11:13].any()
    assert not edge_map(torch.full((1, 1, 8, 8), 90, dtype=torch.uint8)).any()  # flat: no edges


@needs_fashion
def test_edges2fashion_pairs():
    d = load_dataset("edges2fashion", "test")
    src = idx.load_idx_dataset("fashion-mnist", "test")
    assert d.images.shape == d.pair.shape == (10000, 1, 28, 28)
    assert torch.equal(d.pair, src.images) and torch.equal(d.labels, src.labels)
    assert set(d.images.unique().tolist()) == {0, 255}
    assert torch.equal(d.images[:100], edge_map(src.images[:100]))  # deterministic
    share = (d.images > 0).float().mean()
    assert 0.05 < share < 0.3
    # the edges lie on the garment's outline: almost no edge pixel far from the garment
    near = torch.nn.functional.max_pool2d((d.pair[:500] > 0).float(), 5, 1, 2) > 0
    assert ((d.images[:500] > 0) & ~near).float().mean() < 1e-3


# ---- fashion-stripes ----


@needs_fashion
def test_fashion_stripes_is_unpaired_and_disjoint():
    d = load_dataset("fashion-stripes", "test")
    src = idx.load_idx_dataset("fashion-mnist", "test")
    ia, ib = d.meta["source_a"], d.meta["source_b"]
    assert len(d) == len(ia) == len(ib) == 5000 and d.pair.shape == (5000, 1, 28, 28)
    assert len(set(ia.tolist()) & set(ib.tolist())) == 0  # disjoint halves: no garment in both domains
    assert torch.equal(d.images, src.images[ia]) and torch.equal(d.labels, src.labels[ia])
    assert torch.equal(d.pair, add_stripes(src.images[ib])) and torch.equal(d.meta["pair_labels"], src.labels[ib])
    again = load_dataset("fashion-stripes", "test")
    assert torch.equal(again.images, d.images) and torch.equal(again.pair, d.pair)


@needs_fashion
def test_fashion_stripes_train_halves():
    d = load_dataset("fashion-stripes", "train")
    assert len(d) == 30000 and len(set(d.meta["source_a"].tolist()) | set(d.meta["source_b"].tolist())) == 60000


def test_stripes_and_halves():
    tex = stripe_texture(4, 4)
    assert torch.allclose(tex.unique(), torch.tensor([STRIPE_DARK, 1.0]))
    assert tex[0, 0] == tex[1, 3] == 1.0 and torch.isclose(tex[0, 2], torch.tensor(STRIPE_DARK))
    a, b = halves(11)
    assert len(a) == len(b) == 5 and not set(a.tolist()) & set(b.tolist())


def test_combine_unpaired_tiles_the_smaller_domain():
    a = ImageData("x-A", torch.zeros(5, 1, 4, 4, dtype=torch.uint8), labels=torch.arange(5))
    b = ImageData("x-B", torch.arange(3, dtype=torch.uint8).view(3, 1, 1, 1).expand(3, 1, 4, 4).contiguous())
    d = combine_unpaired(a, b)
    assert len(d) == 5 and d.pair.shape == (5, 1, 4, 4) and d.name == "x"
    assert d.pair[:, 0, 0, 0].tolist() == [0, 1, 2, 0, 1] and torch.equal(d.labels, torch.arange(5))
