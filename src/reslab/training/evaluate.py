"""Loss and error of a model over a whole loader, in eval mode (BN uses running statistics)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from reslab.training.precision import autocast, check_precision


def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    channels_last: bool = False,
) -> dict[str, float]:
    """``{"loss", "acc", "err", "n"}``: mean cross-entropy (no label smoothing) and top-1 rates.

    ``device`` defaults to where the model's parameters are; batches are moved there.
    """
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    check_precision(precision, dev)
    was_training = model.training
    model.eval()
    # Sums stay on the device: one host sync at the end, not one per batch.
    loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
    correct = torch.zeros((), dtype=torch.int64, device=dev)
    n = 0
    try:
        with torch.no_grad():
            for x, y in loader:
                x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
                if channels_last and x.dim() == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                with autocast(precision, dev):
                    logits = model(x)
                loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").double()
                correct += (logits.argmax(1) == y).sum()
                n += len(y)
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("evaluate() got an empty loader: nothing to measure")
    acc = correct.item() / n
    return {"loss": loss_sum.item() / n, "acc": acc, "err": 1.0 - acc, "n": n}
