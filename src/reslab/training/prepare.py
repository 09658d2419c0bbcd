"""Everything checked and built before the first step: model/data agreement, the model on its
device (memory format, gradient checkpointing, DDP, compile), the loaders, global backend flags."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from reslab.data import Augment, DataBundle, Loader, make_loader
from reslab.training.config import DataConfig, LoopConfig
from reslab.training.distributed import DistContext, per_rank_batch, wrap_model
from reslab.training.errors import ConfigError


def model_name(model: nn.Module) -> str:
    return getattr(model, "reslab_name", type(model).__name__)


def num_outputs(model: nn.Module) -> int | None:
    # Every reslab classifier ends in a Linear head (ResNet.fc, VGG.classifier[-1]).
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


def check_compatible(model: nn.Module, data: DataBundle) -> None:
    """A model built for other data fails here, in one line, rather than deep in a forward."""
    name = model_name(model)
    dims = getattr(model, "dims", None)
    if dims is not None and dims != data.dims:
        kind = {0: "token ids", 1: "sequences", 2: "images"}
        raise ConfigError(
            f"model {name} is {dims}-D ({kind.get(dims, dims)}) but {data.name} holds "
            f"{data.dims}-D {kind.get(data.dims, '')}; build the model with dims={data.dims}"
        )
    channels = getattr(model, "in_channels", None)
    if channels is not None and channels != data.in_channels:
        raise ConfigError(
            f"model {name} takes {channels} input channels but {data.name} has "
            f"{data.in_channels}; build the model with in_channels={data.in_channels}"
        )
    outputs = num_outputs(model)
    if outputs is not None and outputs != data.num_classes:
        raise ConfigError(
            f"model {name} has {outputs} outputs but {data.name} has {data.num_classes} classes; "
            f"build the model with num_classes={data.num_classes}"
        )


@dataclass
class Models:
    raw: nn.Module  # the parameters live here: checkpoints, callbacks, evaluation
    train: nn.Module  # what the training step calls (DDP and/or compiled wrapper of ``raw``)


def prepare_model(
    model: nn.Module, loop: LoopConfig, device: torch.device, ctx: DistContext
) -> Models:
    model.to(device)
    if channels_last(model, loop):
        model.to(memory_format=torch.channels_last)
    if loop.checkpoint_blocks:
        if not hasattr(model, "set_grad_checkpointing"):
            raise ConfigError(
                f"train.checkpoint_blocks=true but {model_name(model)} has no "
                "set_grad_checkpointing()"
            )
        model.set_grad_checkpointing(True)
    wrapped = wrap_model(model, ctx, device, loop.sync_bn)
    if loop.compile:
        wrapped = torch.compile(wrapped)
    return Models(raw=model, train=wrapped)


def channels_last(model: nn.Module, loop: LoopConfig) -> bool:
    # NHWC only exists for 4-D tensors; a 1-D net has nothing to reorder.
    return loop.channels_last and getattr(model, "dims", 2) == 2


def resolve_augment(data: DataBundle, config: DataConfig) -> Augment:
    if not config.augment:
        return Augment(crop_padding=0, flip=False)
    base = data.default_augment
    return Augment(
        crop_padding=base.crop_padding if config.crop_padding is None else config.crop_padding,
        flip=base.flip if config.flip is None else config.flip,
        normalize=base.normalize,
    )


@dataclass
class Loaders:
    train: Loader
    test: Loader
    val: Loader | None


def make_loaders(
    data: DataBundle, config: DataConfig, seed: int, device: torch.device, ctx: DistContext
) -> Loaders:
    batch = per_rank_batch(config.batch_size, ctx.world_size)
    train = make_loader(
        data, "train", batch_size=batch, train=True, device=device,
        augment=resolve_augment(data, config), seed=seed, rank=ctx.rank,
        world_size=ctx.world_size, num_workers=config.num_workers,
    )  # fmt: skip
    val = eval_loader(data, "val", config, device) if data.val is not None else None
    return Loaders(train, eval_loader(data, "test", config, device), val)


def eval_loader(data: DataBundle, split: str, config: DataConfig, device: torch.device) -> Loader:
    # Not sharded: every rank measures the whole split and gets the same numbers with no
    # collective to gather them (evaluation is cheap next to training).
    return make_loader(
        data, split, batch_size=config.eval_batch_size, train=False, device=device,
        num_workers=config.num_workers,
    )  # fmt: skip


@contextlib.contextmanager
def backend_flags(deterministic: bool, device: torch.device) -> Iterator[None]:
    """Set, then restore, the process-wide flags a run needs: experiments call fit() many times
    in one process and must not inherit one run's choices."""
    previous = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic (PyTorch "Reproducibility" notes).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic)
    # cuDNN autotuning picks kernels by timing, which is fast but not reproducible.
    torch.backends.cudnn.benchmark = device.type == "cuda" and not deterministic
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.backends.cudnn.benchmark = previous[1]
