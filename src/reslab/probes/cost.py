"""What a shortcut costs: multiply-adds, the elements it adds, and measured training-step time.

A parameter-free shortcut (identity, or option A's zero padding, He et al. 2015, 3.3) adds no
weights and no multiply-adds; what it adds is one element-wise addition per block output. The
step time of a residual net and its plain twin is measured as a ratio in one process, the two
nets alternating step by step, so that both see the same machine state (clock, caches, other
processes) and a slow moment on a shared machine falls on both.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from reslab.models.resnet import ResNet
from reslab.nn.modes import eval_mode
from reslab.training.precision import autocast

WARMUP_STEPS = 3  # untimed steps per net first: allocator, kernel caches and autotuning settle


def shortcut_additions(model: ResNet, input_size: Sequence[int]) -> int:
    """Elements the shortcuts add in one sample's forward pass (a MAC count leaves them out):
    one per output element of every block that has a shortcut."""
    sizes: list[int] = []
    hooks = [
        b.register_forward_hook(lambda _m, _i, out: sizes.append(out[0].numel()))
        for b in model.blocks
        if not b.is_plain
    ]
    try:
        with eval_mode(model), torch.no_grad():
            model(torch.zeros(1, *input_size, device=next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
    return sum(sizes)


def interleaved_step_ms(
    models: Mapping[str, nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    precision: str = "fp32",
) -> dict[str, float]:
    """Median milliseconds of one training step (forward, cross-entropy, backward) of each model
    on the batch ``(x, y)``, the models taking turns: ``WARMUP_STEPS`` untimed rounds, then
    ``steps`` timed ones, the order reversed every round so neither model always goes first.

    The optimizer update is left out: it costs the same for nets with the same parameters. The
    models are left in train mode with their BN running statistics moved by the steps; their
    weights are not updated.
    """
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    names = list(models)
    times: dict[str, list[float]] = {name: [] for name in names}
    for model in models.values():
        model.train()
    for i in range(WARMUP_STEPS + steps):
        for name in names if i % 2 == 0 else reversed(names):
            elapsed = _step_seconds(models[name], x, y, precision)
            if i >= WARMUP_STEPS:
                times[name].append(elapsed)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def _step_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, precision: str) -> float:
    _sync(x.device)
    start = time.perf_counter()
    model.zero_grad(set_to_none=True)
    with autocast(precision, x.device):
        loss = F.cross_entropy(model(x).float(), y)
    loss.backward()
    _sync(x.device)  # CUDA runs asynchronously: wait for the step's kernels to finish
    return time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
