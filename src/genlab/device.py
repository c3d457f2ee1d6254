"""Which device a command runs on: ``auto`` (the default) is CUDA, then MPS (Apple GPUs), then the CPU."""

from __future__ import annotations

import torch

from .errors import GenlabError

DEVICE_HELP = "cpu, cuda, cuda:N, mps or auto (default auto: CUDA, then MPS, then CPU)"


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """The torch device for ``name`` ('auto', 'cpu', 'cuda', 'cuda:N', 'mps'), or a one-line error."""
    if isinstance(name, torch.device):
        return name
    if name in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_available() else torch.device("cpu")
    try:
        device = torch.device(str(name))
    except (RuntimeError, TypeError):
        raise GenlabError(f"unknown device '{name}'; use {DEVICE_HELP}") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise GenlabError(f"unknown device '{name}'; use {DEVICE_HELP}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise GenlabError(f"device '{name}' asked for but CUDA is not available here; use --device auto or cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise GenlabError(
                f"device '{name}' does not exist: this machine has {torch.cuda.device_count()} "
                "CUDA device(s); use cuda:0 or auto"
            )
    if device.type == "mps" and not mps_available():
        raise GenlabError(f"device '{name}' asked for but MPS is not available here; use --device auto or cpu")
    return device
