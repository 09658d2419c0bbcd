"""Parameter, depth and multiply-add counts, measured with PyTorch's own FLOP counter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from reslab.models.registry import create_model, get_entry
from reslab.nn.modes import eval_mode


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_depth(model: nn.Module) -> int:
    # The papers count weighted layers on the main path: convs and fc, not the 1x1 projections
    # of the shortcuts (He et al. 2015, Table 1 counts ResNet-50's 49 convs + 1 fc as 50).
    return sum(
        1
        for name, m in model.named_modules()
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)) and "downsample" not in name
    )


def count_macs(model: nn.Module, input_size: Sequence[int]) -> int:
    # A language model (dims 0) takes int64 token ids, every other model float inputs.
    dtype = torch.long if getattr(model, "dims", None) == 0 else torch.float32
    x = torch.zeros(1, *input_size, dtype=dtype, device=next(model.parameters()).device)
    with eval_mode(model), FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2  # the counter reports 2 FLOPs per multiply-add


def model_info(
    name_or_model: str | nn.Module, input_size: Sequence[int] | None = None, *, macs: bool = True
) -> dict[str, Any]:
    # macs=False skips the one slow count (a traced forward; seconds for the 1000-layer nets).
    if isinstance(name_or_model, str):
        entry = get_entry(name_or_model)
        # Counts need shapes, not values: on the meta device nothing is allocated or computed,
        # which makes `reslab models` ~5x faster (VGG-19 would otherwise allocate 575 MB).
        with torch.device("meta"):
            model = create_model(name_or_model)
    else:
        model = name_or_model
        name = getattr(model, "reslab_name", None)
        entry = get_entry(name) if name else None
    size = tuple(input_size or model.default_input_size)
    return {
        "name": entry.name if entry else type(model).__name__,
        "family": entry.family if entry else None,
        "params": count_params(model),
        "depth": (entry.depth if entry and entry.depth else count_depth(model)),
        "macs": count_macs(model, size) if macs else None,
        "input_size": size,
        "paper_params": entry.paper_params if entry else None,
        "paper_macs": entry.paper_macs if entry else None,
        "source": entry.source if entry else None,
    }
