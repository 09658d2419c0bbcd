"""The measurement itself: per block, the norms of the loss gradient w.r.t. the block's input and
parameters and of the input itself, on fixed batches of the train split."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import islice

import numpy as np
import torch

from reslab.blocks import ResidualBlock
from reslab.data import DataBundle, make_loader
from reslab.models.resnet import ResNet
from reslab.training import objective

# Per block: ||dL/dx_l|| (the block's input), ||dL/dtheta_l|| (its parameters) and ||x_l||.
PARTS = ("input", "weight", "activation")


def block_gradient_norms(
    model: ResNet, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> dict[str, np.ndarray]:
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


@contextmanager
def _train_mode_untouched(model: ResNet) -> Iterator[None]:
    # A measurement must not move BN running statistics: the trained net is measured again later.
    was_training = model.training
    saved = [b.detach().clone() for b in model.buffers()]
    model.train()
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(model.buffers(), saved, strict=True):
                buffer.copy_(value)
        model.train(was_training)


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
