"""The optimizer a recipe names, with weight decay on the parameters it should decay."""

from __future__ import annotations

import torch
from torch import nn

from reslab.training.config import OptimConfig


def param_groups(model: nn.Module, config: OptimConfig) -> list[dict]:
    if config.decay_norm_and_bias:
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]
    # 1-D tensors are exactly the BN scales/shifts and the biases ("bag of tricks", 3.1).
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.ndim > 1]},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, config)
    if config.name == "sgd":
        return torch.optim.SGD(
            groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        )  # fmt: skip
    return torch.optim.AdamW(
        groups, lr=config.lr, betas=(config.momentum, config.beta2),
        weight_decay=config.weight_decay,
    )  # fmt: skip


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def clip_gradients(
    optimizer: torch.optim.Optimizer, max_norm: float, scaler: torch.amp.GradScaler | None = None
) -> None:
    """Scale the gradients of ``optimizer``'s parameters down to a global norm of ``max_norm``
    (Pascanu et al. 2013; nanoGPT's grad_clip); 0 turns it off."""
    if max_norm <= 0:
        return
    if scaler is not None:
        # Clip the true gradients, not the loss-scaled ones: unscale first; ``scaler.step`` then
        # knows they are unscaled (PyTorch AMP examples, "Gradient clipping").
        scaler.unscale_(optimizer)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(params, max_norm)
