"""Gradient norms per block: of the loss w.r.t. each block's input and parameters and of the
input itself (whole gradient, or through the shortcuts alone), per unit parameter, and of a
Transformer's FFN weights; on fixed batches of the train split."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import islice

import numpy as np
import torch
from torch import nn

from reslab.blocks import ResidualBlock
from reslab.data import DataBundle, make_loader
from reslab.models.resnet import ResNet
from reslab.nn.modes import eval_mode, train_mode
from reslab.probes.paths import single_path
from reslab.training import objective

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]

# Per block: ||dL/dx_l|| (the block's input), ||dL/dtheta_l|| (its parameters) and ||x_l||.
PARTS = ("input", "weight", "activation")


def block_gradient_norms(model: nn.Module, batches: Batches) -> dict[str, np.ndarray]:
    """Per block, the mean over ``batches`` of: "input" ||dLoss/dx_l|| (x_l the block's input),
    "weight" ||dLoss/d(block parameters, concatenated)|| and "activation" ||x_l|| (L2 norms over
    the whole batch). The loss is the batch-mean cross-entropy.

    Measured in train mode (BN normalises with batch statistics), the mode training takes its
    gradients in; the model's mode and BN running statistics are left as they were.
    """
    blocks = model.blocks
    with _train_mode_untouched(model):
        per_batch = [_batch_norms(model, blocks, x, y) for x, y in batches]
    return {part: np.mean([b[part] for b in per_batch], axis=0) for part in PARTS}


def shortcut_path_norms(model: ResNet, batches: Batches) -> list[float]:
    """``block_gradient_norms``' "input" with every branch left out of the backward pass: the
    product of the shortcut Jacobians, which He et al. 2016 (eq. 5 and 7) show is 1 for the
    identity and prod(lambda) for a scaled shortcut. 0 for a plain net: no shortcut carries it."""
    if any(b.is_plain for b in model.blocks):
        return [0.0] * len(model.blocks)
    with single_path(model, ()):
        return block_gradient_norms(model, batches)["input"].tolist()


def unit_grad_rms(model: nn.Module, batches: Batches) -> list[float]:
    """Per unit, the parameter-gradient norm divided by the square root of the unit's parameter
    count: a dense layer's parameters grow along its block, a residual block's do not, so only a
    per-parameter size compares the two (Huang et al. 2017)."""
    norms = block_gradient_norms(model, batches)["weight"]  # type: ignore[arg-type]
    sizes = [sum(p.numel() for p in b.parameters()) for b in model.blocks]  # type: ignore[union-attr]
    return [float(n / math.sqrt(s)) for n, s in zip(norms, sizes, strict=True)]


def ffn_grad_norms(model: nn.Module, batches: Batches) -> list[float]:
    """Per Transformer layer, ||dLoss/d(c_fc, c_proj weights)||, mean over ``batches`` (Xiong et
    al. 2020, Fig. 3 measures the FFN sub-layers' weight gradients). ``model.blocks`` alternates
    attention and MLP sub-layers, as reslab's GPT does. Eval mode: no dropout mask."""
    weights = [[b.c_fc.weight, b.c_proj.weight] for b in model.blocks[1::2]]  # type: ignore[index]
    per_batch = []
    with eval_mode(model):
        for x, y in batches:
            logits = model(x)
            loss = objective.loss(logits, y, dim=objective.class_dim(model))
            grads = torch.autograd.grad(loss, [w for pair in weights for w in pair])
            squares = [g.double().pow(2).sum() for g in grads]
            per_batch.append([float((squares[2 * i] + squares[2 * i + 1]).sqrt())
                              for i in range(len(weights))])  # fmt: skip
    return np.mean(per_batch, axis=0).tolist()


@contextmanager
def _train_mode_untouched(model: nn.Module) -> Iterator[None]:
    # A measurement must not move BN running statistics: the trained net is measured again later.
    saved = [b.detach().clone() for b in model.buffers()]
    try:
        with train_mode(model):
            yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(model.buffers(), saved, strict=True):
                buffer.copy_(value)


def _batch_norms(
    model: ResNet, blocks: list[ResidualBlock], x: torch.Tensor, y: torch.Tensor
) -> dict[str, list[float]]:
    inputs: list[torch.Tensor] = []
    hooks = [b.register_forward_pre_hook(lambda _m, args: inputs.append(args[0])) for b in blocks]
    # A net without a stem (U-Net) feeds its first block the data itself, whose gradient
    # autograd only gives for a leaf that asks for it.
    x = x.detach().requires_grad_(x.is_floating_point())
    try:
        loss = objective.loss(model(x), y, dim=objective.class_dim(model))
    finally:
        for hook in hooks:
            hook.remove()
    params = [[p for p in b.parameters() if p.requires_grad] for b in blocks]
    flat = [p for group in params for p in group]
    grads = torch.autograd.grad(loss, [*inputs, *flat], allow_unused=True, materialize_grads=True)
    # Norms in float64: a plain net's gradient can be finite per element yet overflow float32
    # once squared and summed.
    squares = [torch.linalg.vector_norm(g.double()) ** 2 for g in grads[len(inputs) :]]
    weight, start = [], 0
    for group in params:
        weight.append(torch.stack(squares[start : start + len(group)]).sum().sqrt())
        start += len(group)
    return {
        "input": [torch.linalg.vector_norm(g.double()).item() for g in grads[: len(inputs)]],
        "weight": torch.stack(weight).tolist(),
        "activation": [torch.linalg.vector_norm(t.detach().double()).item() for t in inputs],
    }


def measurement_batches(
    bundle: DataBundle, batches: int, batch_size: int, device: torch.device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``batches`` full batches of the train split, in order, without augmentation: the
    same inputs for every net and seed, so seeds differ only in their weights."""
    loader = make_loader(bundle, "train", batch_size=batch_size, train=False, device=device)
    out = [(x, y) for x, y in islice(loader, batches) if len(y) == batch_size]
    if len(out) < batches:
        size = len(bundle.train)  # type: ignore[arg-type]
        raise ValueError(
            f"batches={batches} of batch_size={batch_size} needs {batches * batch_size} training "
            f"samples but {bundle.name} has {size}; accepted: batches <= {size // batch_size}"
        )
    return out
