"""Data-parallel training with PyTorch's DistributedDataParallel, across processes started by ``torchrun``.

gloo on CPU, NCCL on CUDA (one GPU per process, by local rank). Each process takes its rows of every
global batch (``batch_size`` stays the global batch) and the same random stream (:mod:`genlab.shards`);
only rank 0 writes files. Each trained network is wrapped in ``DistributedDataParallel``
(:mod:`.views`), whose reducer averages the gradients bucket by bucket while the backward pass runs.

BatchNorm layers become synchronised BatchNorm, so the batch statistics are those of the global batch,
as one process would compute them (and the running statistics stay equal on every rank):
``torch.nn.SyncBatchNorm`` on CUDA; on CPU, where torch's kernel is CUDA-only, :class:`GlooBatchNorm`,
the same statistics through two differentiable all-reduces.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..errors import GenlabError


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def is_main() -> bool:
    """Whether this process writes: rank 0 under torchrun, always without it."""
    return os.environ.get("RANK", "0") == "0"


def setup(device: torch.device) -> Dist:
    """Join the process group that torchrun described in the environment (a no-op without it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def leave(code: int) -> None:
    """End a torchrun worker with ``code`` without the interpreter's teardown, once a command is done.

    Destroying a gloo process group, explicitly or at interpreter exit, can abort the process
    ("terminate called without an active exception") or deadlock (its worker threads wait for the GIL
    to release finished collectives' tensors while the main thread, holding it, joins them; torch
    2.13), which fails or hangs the whole launch. Every file a command writes is complete and closed
    when it returns, so the worker flushes its output and exits directly. A no-op outside a group.
    """
    if dist.is_available() and dist.is_initialized():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def local_device(device: torch.device, d: Dist) -> torch.device:
    """On CUDA each rank takes the GPU of its local rank."""
    if d.enabled and device.type == "cuda":
        torch.cuda.set_device(d.local_rank)
        return torch.device("cuda", d.local_rank)
    return device


def check_batch(batch_size: int, d: Dist) -> None:
    if d.enabled and batch_size % d.world:
        raise GenlabError(
            f"batch_size {batch_size} does not split evenly over {d.world} processes; "
            f"use a multiple of {d.world} (--set batch_size=...)"
        )


def broadcast(module: nn.Module) -> None:
    """Give every rank rank 0's parameters and buffers."""
    for t in [*module.parameters(), *module.buffers()]:
        dist.broadcast(t.data, src=0)


def mean_across(t: torch.Tensor, d: Dist) -> torch.Tensor:
    """The mean of ``t`` over the ranks (``t`` itself on one process)."""
    if not d.enabled:
        return t
    t = t.clone()
    dist.all_reduce(t)
    return t / d.world


# ---------------------------------------------------------------- synchronised BatchNorm
class _AllReduce(torch.autograd.Function):
    """The sum of a tensor over the ranks; its gradient is the sum of the ranks' gradients (every rank's loss)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlooBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are those of the global batch over all ranks (any device).

    mean = sum(x) / N and var = sum((x - mean)^2) / N over the N values per channel of all ranks,
    through two differentiable all-reduces (their backward is the all-reduce of the gradients, so each
    rank's statistics receive every rank's loss gradient); in eval mode, or alone, plain BatchNorm.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        n = x.numel() // x.shape[1] * dist.get_world_size()
        mean = _AllReduce.apply(x.sum(dims)) / n  # (C,)
        centred = x - mean.view(shape)
        var = _AllReduce.apply(centred.pow(2).sum(dims)) / n  # (C,), biased, as BatchNorm normalises
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach() * n / max(n - 1, 1))
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        assert self.running_mean is not None and self.running_var is not None and self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        self.running_mean.lerp_(mean, m)
        self.running_var.lerp_(var, m)


def sync_batchnorm(module: nn.Module, device: torch.device) -> None:
    """Turn every BatchNorm layer of ``module`` into its synchronised form, in place (the same weights and buffers)."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(
            child, (nn.SyncBatchNorm, GlooBatchNorm)
        ):
            new = (nn.SyncBatchNorm if device.type == "cuda" else GlooBatchNorm)(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            if child.affine:
                new.weight, new.bias = child.weight, child.bias
            new.running_mean, new.running_var = child.running_mean, child.running_var
            new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            module._modules[name] = new
        else:
            sync_batchnorm(child, device)
