"""Data-parallel training under ``torchrun``: the process group comes from its environment
variables; NCCL on GPUs, gloo on CPUs. Only rank 0 writes files."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from reslab.training.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def launched() -> DistContext:
    """This process's rank and world size as ``torchrun`` set them (1 process without it), read
    from its environment variables: no process group is needed to know them."""
    return DistContext(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))


def local_rank() -> int:
    """This process's GPU on its machine under ``torchrun`` (0 without it)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def setup_distributed(device_type: str) -> DistContext:
    """Join the process group ``torchrun`` describes (once per process); else a single process."""
    if not launched().active:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size())


def check_on_main(check: Callable[[], None], device_type: str) -> None:
    """Run ``check`` on rank 0 alone and raise its ``ValueError`` on every rank (without
    torchrun: just run it). For what rank 0 alone may look at, e.g. the directory only it
    writes: a rank that went on alone would wait for rank 0 in its first collective until
    torchrun killed it, and a check on every rank would race with rank 0's first write."""
    ctx = launched()
    if not ctx.active:
        check()
        return
    refusal: str | None = None
    if ctx.is_main:
        try:
            check()
        except ValueError as err:
            refusal = str(err)
    setup_distributed(device_type)
    box = [refusal]
    dist.broadcast_object_list(box, src=0)
    if box[0] is not None:
        raise ValueError(box[0])


def per_rank_batch(global_batch: int, world_size: int) -> int:
    if global_batch % world_size:
        raise ConfigError(
            f"data.batch_size={global_batch} must divide by the {world_size} processes "
            "(each takes an equal share of the global batch)"
        )
    return global_batch // world_size


def wrap_model(
    model: nn.Module, ctx: DistContext, device: torch.device, sync_bn: bool
) -> nn.Module:
    if sync_bn and (not ctx.active or device.type != "cuda"):
        raise ConfigError(
            "train.sync_bn=true needs several CUDA processes (torchrun); PyTorch's SyncBatchNorm "
            "has no CPU implementation"
        )
    if not ctx.active:
        return model
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def all_reduce_sum(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    if ctx.active:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
