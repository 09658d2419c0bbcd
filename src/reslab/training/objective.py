"""The training objective for every kind of target: one label per sample (classification), one
per pixel (segmentation) or one per position (language modelling), the same cross-entropy.

A model says where its class axis is with a ``class_dim`` attribute: 1 (the default, PyTorch's
(N, C, ...) layout of classifiers and segmentation nets) or -1 (GPT-style (N, T, vocab) logits).
Targets equal to ``IGNORE_INDEX`` (PyTorch's default, -100) count in neither loss nor error, e.g.
the undefined border pixels of a segmentation mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IGNORE_INDEX = -100
CLASS_DIMS = (1, -1)


def class_dim(model: nn.Module) -> int:
    model = getattr(model, "module", model)  # DDP and compiled wrappers keep the net in .module
    dim = getattr(model, "class_dim", 1)
    if dim not in CLASS_DIMS:
        name = type(model).__name__
        raise ValueError(f"class_dim={dim!r} of {name} is not accepted; accepted: 1, -1")
    return dim


def _channels_first(logits: torch.Tensor, dim: int) -> torch.Tensor:
    return logits.movedim(-1, 1) if dim == -1 and logits.dim() > 2 else logits


def loss(
    logits: torch.Tensor, y: torch.Tensor, *, dim: int = 1, label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:  # fmt: skip
    """Cross-entropy averaged (or summed) over every counted target."""
    _check_shapes(logits, y, dim)
    return F.cross_entropy(
        _channels_first(logits, dim), y, label_smoothing=label_smoothing, reduction=reduction,
        ignore_index=IGNORE_INDEX,
    )  # fmt: skip


def wrong_and_count(
    logits: torch.Tensor, y: torch.Tensor, *, dim: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """(targets predicted wrongly, targets counted), both left on the device: no host sync."""
    counted = y != IGNORE_INDEX
    wrong = (logits.argmax(dim) != y) & counted
    return wrong.sum(), counted.sum()


def _check_shapes(logits: torch.Tensor, y: torch.Tensor, dim: int) -> None:
    other = list(logits.shape)
    del other[dim]
    if tuple(other) != tuple(y.shape):
        raise ValueError(
            f"logits of shape {tuple(logits.shape)} (class axis {dim}) do not fit targets of "
            f"shape {tuple(y.shape)}: every axis but the class axis must match"
        )
