import pytest
import torch
from sklearn.datasets import load_digits

from genlab.data.base import ImageData


@pytest.fixture(scope="session")
def digits_data():
    """sklearn's 8x8 digits as (train, test) ImageData, the embedded smoke-test set."""
    d = load_digits()
    x = torch.tensor(d.images * 255 / 16).round().to(torch.uint8).unsqueeze(1)
    y = torch.tensor(d.target)
    return ImageData("digits", x[:1500], y[:1500]), ImageData("digits", x[1500:], y[1500:])


@pytest.fixture(autouse=True)
def _one_thread():
    """The test networks are tiny: they gain nothing from threads, and lose much to them on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Converted weights and cached features go to a folder of the test session, not the user's cache."""
    import os

    before = os.environ.get("GENLAB_CACHE")
    os.environ["GENLAB_CACHE"] = str(tmp_path_factory.mktemp("genlab-cache"))
    yield
    if before is None:
        os.environ.pop("GENLAB_CACHE", None)
    else:
        os.environ["GENLAB_CACHE"] = before
