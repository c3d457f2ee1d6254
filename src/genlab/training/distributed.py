"""Data-parallel training across processes started by ``torchrun`` (gloo on CPU, NCCL on GPU).

Every rank holds the same networks (rank 0's weights are broadcast at the start) and takes its
share of each global batch; before each optimiser step the gradients are averaged across ranks
by a step pre-hook on the optimiser, so the families' own ``train_step`` code needs no change.
Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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


def local_device(device: torch.device, d: Dist) -> torch.device:
    """On CUDA each rank takes the GPU of its local rank."""
    if d.enabled and device.type == "cuda":
        torch.cuda.set_device(d.local_rank)
        return torch.device("cuda", d.local_rank)
    return device


def broadcast_module(module: torch.nn.Module) -> None:
    """Give every rank rank 0's parameters and buffers."""
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def _average_gradients(optimizer, args, kwargs) -> None:
    grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])  # one all-reduce per step, not one per tensor
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def average_gradients_before_step(optimizers: dict) -> None:
    for opt in optimizers.values():
        opt.register_step_pre_hook(_average_gradients)


def gather_rng(d: Dist) -> list[torch.Tensor]:
    """Every rank's CPU RNG state (for the resumable state that rank 0 writes)."""
    state = torch.get_rng_state()
    if not d.enabled:
        return [state]
    out = [torch.empty_like(state) for _ in range(d.world)]
    dist.all_gather(out, state)
    return out
