"""Loss and error of a model over a whole loader, in eval mode (BN uses running statistics)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from reslab.nn.modes import eval_mode
from reslab.training.objective import class_dim, loss, wrong_and_count
from reslab.training.precision import autocast, check_precision


def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    channels_last: bool = False,
) -> dict[str, float]:
    """``{"loss", "acc", "err", "n"}``: mean cross-entropy (no label smoothing) and top-1 rates,
    per target (``n``: targets counted; one per sample for a classifier, see ``objective``).

    ``device`` defaults to where the model's parameters are; batches are moved there.
    """
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    check_precision(precision, dev)
    # Sums stay on the device: one host sync at the end, not one per batch.
    loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
    wrong = torch.zeros((), dtype=torch.int64, device=dev)
    count = torch.zeros((), dtype=torch.int64, device=dev)
    dim = class_dim(model)
    with eval_mode(model), torch.no_grad():
        for x, y in loader:
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            if channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(precision, dev):
                logits = model(x)
            loss_sum += loss(logits.float(), y, dim=dim, reduction="sum").double()
            batch_wrong, batch_count = wrong_and_count(logits, y, dim=dim)
            wrong += batch_wrong
            count += batch_count
    n = int(count.item())
    if n == 0:
        raise ValueError("evaluate() found no targets: an empty loader, or only ignored ones")
    err = wrong.item() / n
    return {"loss": loss_sum.item() / n, "acc": 1.0 - err, "err": err, "n": n}
