"""What a training step runs the networks through: bf16 autocast and DistributedDataParallel wrappers.

The families write their steps against their own networks (``self.generator(z)``, ``self.loss(x)``);
the loop gives them wrapped views of those networks for the length of each step, and the weights,
checkpoints and everything outside the step keep seeing the plain networks:

- :class:`Autocast` runs a network's forward pass in bf16 autocast and hands float32 out, so the
  losses, the backward pass's accumulation and the optimiser step stay in float32;
- ``DistributedDataParallel`` averages the gradients over the processes (:mod:`.distributed`).

A one-network family (AE, VAE, VQ-VAE: ``networks()`` is the model itself) runs its objective, its
``forward``, through ``model.replica``; a family with several networks (GANs, pix2pix, CycleGAN)
finds its networks swapped for their views during the step. D called on the real and on the fake
batch before one backward pass is one reduction; G's loss reaches D's view while D's parameters are
frozen, so no hook of D's fires and nothing is reduced for D then.
"""

from __future__ import annotations

import contextlib
import inspect
import typing
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import GenlabError
from . import distributed
from .distributed import Dist

# synchronised BatchNorm keeps the buffers equal on every rank: no broadcast of them before each forward
# (the argument's name since torch 2.13; broadcast_buffers before)
_NO_BUFFER_SYNC: dict[str, typing.Any] = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    else {"broadcast_buffers": False}
)


class Autocast(nn.Module):
    """``module``'s forward pass under bf16 autocast on ``device_type``; floating outputs come back as float32."""

    def __init__(self, module: nn.Module, device_type: str):
        super().__init__()
        self.module = module
        self.device_type = device_type

    def forward(self, *args, **kwargs):
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            out = self.module(*args, **kwargs)
        return _float32(out)


def _float32(out):
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, dict):
        return {k: _float32(v) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return type(out)(_float32(v) for v in out)
    return out


def make(model, optimizers: dict, d: Dist, device: torch.device, amp: bool) -> dict[str, nn.Module]:
    """The views of ``model``'s trained networks by attribute name (the whole model: set as ``model.replica``).

    ``amp``: bf16 autocast around the forward passes. Under torchrun, BatchNorm becomes synchronised
    BatchNorm and every trained network is wrapped in DistributedDataParallel (rank 0's weights are
    broadcast to all ranks first).
    """
    nets = model.networks()
    whole = any(net is model for net in nets.values())
    if d.enabled:
        if whole and len(optimizers) > 1:
            raise GenlabError(
                f"this '{model.family}' model trains parts of itself by turns (several optimisers "
                "on one network), which genlab runs on one process only; train it without torchrun"
            )
        distributed.sync_batchnorm(model, device)
        for net in nets.values():  # rank 0's weights everywhere, an EMA copy (not wrapped) included
            distributed.broadcast(net)
    if not d.enabled and not amp:
        return {}

    def view(net: nn.Module) -> nn.Module:
        out = Autocast(net, device.type) if amp else net
        if d.enabled:
            out = DistributedDataParallel(
                out, device_ids=[device.index] if device.type == "cuda" else None, **_NO_BUFFER_SYNC
            )
        return out

    if whole:
        model.replica = view(model)
        return {}
    children = {id(m): name for name, m in model.named_children()}
    return {children[id(net)]: view(net) for net in nets.values() if any(p.requires_grad for p in net.parameters())}


@contextlib.contextmanager
def swapped(model: nn.Module, views: dict[str, nn.Module]) -> Iterator[None]:
    """During one training step: the networks the family calls are their views."""
    if not views:
        yield
        return
    own = {name: model._modules[name] for name in views}
    model._modules.update(views)
    try:
        yield
    finally:
        model._modules.update(own)
