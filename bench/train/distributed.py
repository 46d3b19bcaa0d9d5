"""Several devices in one stage: torchrun + DistributedDataParallel.

    torchrun --standalone --nproc_per_node=8 -m bench.cli train --entry E --seed S

torchrun sets WORLD_SIZE / RANK / LOCAL_RANK; each process takes one device
(cuda:LOCAL_RANK, or the CPU with the gloo backend) and its share of every
global batch (rank r: the r-th slice), so the global batch, the data order
and every example's augmentation are those of a single-device run. SAM's
first backward runs under DDP's `no_sync`: each device perturbs the weights
with its own gradient, as the paper's 8 accelerators did (m-sharpness with
m = batch / devices); the SAM gradients are then averaged by DDP.
BatchNorm statistics stay per device during training (as the official code)
and are averaged before evaluation. Rank 0 evaluates and writes the outputs.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def world_from_env() -> World:
    return World(int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0")),
                 int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: str) -> tuple[World, str]:
    """Join the process group torchrun describes; returns the world and this process's device."""
    world = world_from_env()
    if not world.active:
        return world, device
    if device.startswith("cuda"):
        device = f"cuda:{world.local_rank}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return world, device


def wrap(model: torch.nn.Module, world: World, device: str) -> torch.nn.Module:
    if not world.active:
        return model
    import inspect

    ids = [torch.device(device).index] if device.startswith("cuda") else None
    ddp = torch.nn.parallel.DistributedDataParallel
    # Per-device BatchNorm statistics during training (all ranks start from the same ones).
    local = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(ddp).parameters
             else {"broadcast_buffers": False})
    return ddp(model, device_ids=ids, **local)


def no_sync(module: torch.nn.Module):
    return module.no_sync if hasattr(module, "no_sync") else nullcontext


def all_reduce_mean(tensors: list[torch.Tensor]) -> None:
    """Average tensors over the ranks in place: one collective over a flattened buffer per dtype (not one
    call per tensor: hundreds of parameters make hundreds of latency-bound calls)."""
    if not dist.is_initialized() or not tensors:
        return
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    by_dtype: dict = {}
    for t in tensors:
        by_dtype.setdefault((t.dtype, t.device), []).append(t)
    for group in by_dtype.values():
        flat = _flatten_dense_tensors(group)
        dist.all_reduce(flat)
        flat.div_(dist.get_world_size())
        for t, v in zip(group, _unflatten_dense_tensors(flat, group)):
            t.copy_(v)


@torch.no_grad()
def average_buffers(model: torch.nn.Module) -> None:
    """BatchNorm running statistics, averaged over devices before evaluation (the official eval_step)."""
    if dist.is_initialized():
        all_reduce_mean([b for name, b in model.named_buffers() if b.is_floating_point()])


def agree(first_bad: torch.Tensor, stop: bool) -> tuple[int, bool]:
    """Every rank's view of (the first non-finite step, -1 if none; whether to stop), made the same on all
    ranks: the earliest bad step of any rank, and stop if any rank was told to. One collective, so no rank
    raises or saves while the others wait in the next step's all-reduce."""
    if not dist.is_initialized():
        return int(first_bad), stop
    never = torch.iinfo(torch.long).max
    bad = int(first_bad)
    flags = torch.tensor([-(bad if bad >= 0 else never), int(stop)], dtype=torch.long, device=first_bad.device)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)  # max of -step = -(min step)
    step = -int(flags[0])
    return (step if step != never else -1), bool(flags[1])


def same_step(step: int, device: str) -> bool:
    """Whether every rank loaded its resume point at the same step (one all-reduce of (step, -step))."""
    if not dist.is_initialized():
        return True
    t = torch.tensor([step, -step], dtype=torch.long, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t[0]) == -int(t[1])


def shard(x: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's slice of a global batch."""
    if not world.active:
        return x
    per = len(x) // world.size
    return x[world.rank * per:(world.rank + 1) * per]


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
