"""What a loaded dataset is: tensors (or a Dataset) plus the facts a model and a loader need."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils.data import Dataset

from reslab.data.augment import Augment


class DataError(ValueError):
    """A dataset that cannot be loaded as asked (missing, corrupted, unknown); the message says how
    to fix it."""


@dataclass
class Split:
    """One split held as CPU tensors: uint8 (N, C, H, W) images, float32 (N, C, L) sequences or
    int64 (N, T) token ids. ``y`` is int64: (N,) labels, or one label per pixel (N, H, W) or per
    position (N, T) for dense targets (segmentation masks, next tokens)."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.dtype not in (torch.uint8, torch.float32, torch.int64):
            raise ValueError(
                f"Split.x dtype={self.x.dtype} is not accepted; accepted: uint8, float32, int64"
            )
        if self.y.dtype != torch.int64 or self.y.dim() < 1:
            raise ValueError(
                f"Split.y must be int64 of shape (N,) or (N, ...), got {self.y.dtype} "
                f"{tuple(self.y.shape)}"
            )
        if len(self.x) != len(self.y):
            raise ValueError(f"Split has {len(self.x)} inputs but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: torch.Tensor) -> Split:
        return Split(self.x[index].contiguous(), self.y[index].contiguous())


SplitLike = Split | Dataset


@dataclass
class DataBundle:
    name: str
    train: SplitLike
    test: SplitLike
    val: SplitLike | None
    num_classes: int
    in_channels: int
    dims: int  # 0 token ids, 1 sequences, 2 images
    input_size: tuple[int, ...]  # (T,), (C, L) or (C, H, W)
    mean: tuple[float, ...]  # per channel, in units of x/255 for uint8 images, raw for float
    std: tuple[float, ...]
    source: str
    classes: list[str] | None = None
    # What ``make_loader(train=True, augment=None)`` uses: crop+flip for natural images (He et al.
    # 2015, 4.2); none for digits (MNIST, MNIST-1D), which flipping would turn into other shapes.
    default_augment: Augment = field(default_factory=lambda: Augment(crop_padding=0, flip=False))

    def split(self, name: str) -> SplitLike:
        if name not in ("train", "val", "test"):
            raise ValueError(f"split={name!r} is unknown; accepted: train, val, test")
        chosen = getattr(self, name)
        if chosen is None:
            raise ValueError(f"{self.name} has no {name} split; load it with val_size > 0")
        return chosen


def channel_stats(
    x: torch.Tensor, chunk: int = 4096
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std over (N, C, *spatial); uint8 is measured as x/255.

    Accumulates in float64 over chunks, so a 50k CIFAR train set never needs a float copy at once.
    """
    scale = 1.0 / 255.0 if x.dtype == torch.uint8 else 1.0
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk].transpose(0, 1).reshape(x.shape[1], -1).double() * scale
        total += part.sum(1)
        total_sq += (part * part).sum(1)
    count = x.numel() / x.shape[1]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())
