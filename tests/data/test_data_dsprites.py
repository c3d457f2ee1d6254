import resource
import time

import numpy as np
import pytest

from genlab.data import dsprites as D
from genlab.data import load_dataset
from genlab.errors import GenlabError


def test_grid_size_and_factor_order():
    assert D.FACTOR_NAMES == ["color", "shape", "scale", "orientation", "posX", "posY"]
    assert D.FACTOR_SIZES == [1, 3, 6, 40, 32, 32] and D.NUM_IMAGES == 737_280
    # posY varies fastest, then posX, ..., as in the original npz
    assert D.factors_of([0, 1, 32, 1024, 40960, 245760, 737279]).tolist() == [
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 1, 0],
        [0, 0, 0, 1, 0, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 1, 0, 0, 0, 0],
        [0, 2, 5, 39, 31, 31],
    ]
    vals = D.FACTOR_VALUES
    assert np.isclose(vals["orientation"][1], 0.16110732) and np.isclose(vals["orientation"][-1], 2 * np.pi)
    assert np.allclose(vals["scale"], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])


def test_index_of_inverts_factors_of():
    idx = np.random.default_rng(0).integers(0, D.NUM_IMAGES, 1000)
    assert np.array_equal(D.index_of(D.factors_of(idx)), idx)
    with pytest.raises(GenlabError):
        D.index_of([[0, 3, 0, 0, 0, 0]])
    with pytest.raises(GenlabError):
        D.factors_of([D.NUM_IMAGES])


def test_render_is_binary_deterministic_and_moves_with_position():
    ds = D.DSprites("render")
    f = np.array([[0, s, 5, 0, 0, 0] for s in range(3)] + [[0, 0, 5, 0, 31, 0], [0, 0, 5, 0, 0, 31]])
    a = ds.sample_observations_from_factors(f).numpy()
    assert a.shape == (5, 1, 64, 64) and a.dtype == np.uint8
    assert set(np.unique(a)) == {0, 255}
    assert np.array_equal(a, D.render(f)[:, None])
    # one posX step is one pixel: the same sprite, shifted right by 31 columns / down by 31 rows
    assert np.array_equal(a[3, 0, :, 31:], a[0, 0, :, :33])
    assert np.array_equal(a[4, 0, 31:, :], a[0, 0, :33, :])
    # the three shapes differ; scale grows the area; rotation keeps the area of the square about equal
    areas = (a[:3] > 0).sum(axis=(1, 2, 3))
    assert len(set(areas.tolist())) == 3
    sizes = (D.render([[0, 0, s, 0, 16, 16] for s in range(6)]) > 0).sum(axis=(1, 2))
    assert np.all(np.diff(sizes) > 0) and abs(sizes[-1] - 400) < 20  # square of side 20 px at scale 1
    rot = (D.render([[0, 0, 5, o, 16, 16] for o in range(40)]) > 0).sum(axis=(1, 2))
    assert rot.min() > 0.9 * 400 and rot.max() < 1.1 * 400


def test_every_sprite_fits_in_the_image():
    p = D.sprite_patches()  # (3, 6, 40, 32, 32)
    assert (p[..., 0, :] == 0).all() and (p[..., -1, :] == 0).all()
    assert (p[..., :, 0] == 0).all() and (p[..., :, -1] == 0).all()
    assert (p.reshape(720, -1).max(axis=1) == 255).all()  # none empty


def test_sample_factors_and_images_are_consistent():
    ds = D.DSprites("render")
    f1 = ds.sample_factors(64, np.random.default_rng(3))
    f2 = ds.sample_factors(64, np.random.default_rng(3))
    assert np.array_equal(f1, f2) and f1.shape == (64, 6)
    assert (f1 >= 0).all() and (f1 < np.array(D.FACTOR_SIZES)).all()
    assert np.array_equal(ds.images(ds.index_of(f1)).numpy(), ds.sample_observations_from_factors(f1).numpy())


def test_grid_rows_equal_direct_rendering(tmp_path, monkeypatch):
    # a small stand-in for the full grid: render_grid's window trick for one base sprite
    patches = D.sprite_patches()
    monkeypatch.setattr(D, "sprite_patches", lambda: patches[2:3, 3:4, 7:8])  # heart, scale 0.8, orientation 7
    path = D.render_grid(tmp_path / "g.npy")
    grid = np.load(path)
    assert grid.shape == (1024, 512)
    idx = np.array([0, 1, 33, 500, 1023])
    got = np.unpackbits(grid[idx], axis=1).reshape(-1, 64, 64) * 255
    monkeypatch.undo()
    want = D.render(D.factors_of(idx) + np.array([0, 2, 3, 7, 0, 0]))
    assert np.array_equal(got, want)


def test_split_subsets_are_fixed_and_disjoint():
    tr, te = D.split_indices("train"), D.split_indices("test")
    assert len(tr) == D.TRAIN_SIZE and len(te) == D.TEST_SIZE
    assert np.intersect1d(tr, te).size == 0
    assert np.array_equal(te, D.split_indices("test"))


def test_load_dataset_dsprites_test_split():
    data = load_dataset("dsprites", "test", image_size=32)
    assert data.images.shape == (10_000, 1, 32, 32) and data.labels is None
    assert data.factors.shape == (10_000, 6) and data.factor_sizes == D.FACTOR_SIZES
    assert data.factor_names == D.FACTOR_NAMES and "subset" in data.meta


def test_npz_that_is_not_dsprites_is_rejected(data_dirs):
    folder = data_dirs["env"] / "dsprites"
    folder.mkdir()
    np.savez(folder / D.NPZ_NAME, imgs=np.zeros((3, 64, 64), np.uint8))
    ds = D.DSprites()
    assert ds.source == "npz"
    with pytest.raises(GenlabError, match="not the original dSprites npz"):
        ds.images([0])


@pytest.mark.slow
def test_full_grid_renders_fast_and_small(data_dirs):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    ds = D.DSprites("grid")
    grid = ds.packed()
    seconds = time.perf_counter() - t
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is KiB on Linux
    assert grid.shape == (D.NUM_IMAGES, 512)
    assert seconds < 60, f"full grid took {seconds:.1f} s"
    assert peak_mib - before / 1024 < 1024, f"grew by {peak_mib - before / 1024:.0f} MiB"
    idx = np.random.default_rng(0).integers(0, D.NUM_IMAGES, 500)
    assert np.array_equal(ds.images(idx).numpy(), D.DSprites("render").images(idx).numpy())
