"""The shortcuts of He et al. 2015, section 3.3 (options A, B and C), and the plain 'none'."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from reslab.nn.layers import conv1, norm

ShortcutKind = Literal["A", "B", "C", "none"]
SHORTCUTS: tuple[str, ...] = ("A", "B", "C", "none")


def check_shortcut(kind: str) -> str:
    if kind not in SHORTCUTS:
        raise ValueError(
            f"shortcut={kind!r} is not accepted; accepted values: {', '.join(SHORTCUTS)}"
        )
    return kind


class PadShortcut(nn.Module):
    """Option A: parameter-free. Subsample by striding and zero-pad the new channels."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        extra = out_ch - in_ch
        # Split the zero channels evenly on both sides, as the CIFAR reference code does.
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[(slice(None), slice(None)) + (slice(None, None, self.stride),) * (x.dim() - 2)]
        if self.pad != (0, 0):
            spatial = (0, 0) * (x.dim() - 2)
            x = F.pad(x, (*spatial, *self.pad))
        return x

    def extra_repr(self) -> str:
        return f"stride={self.stride}, pad={self.pad}"


class NoShortcut(nn.Module):
    """A plain net: the shortcut adds nothing, so the block is just act(F(x))."""

    def forward(self, x: torch.Tensor) -> int:
        return 0


def projection(
    dims: int, in_ch: int, out_ch: int, stride: int, with_norm: bool = True
) -> nn.Module:
    # torchvision names this Sequential `downsample`; keeping its layout keeps its state-dict keys.
    layers = [conv1(dims, in_ch, out_ch, stride)]
    if with_norm:
        layers.append(norm(dims, out_ch))
    return nn.Sequential(*layers)


def make_shortcut(
    kind: str, dims: int, in_ch: int, out_ch: int, stride: int, norm_in_projection: bool = True
) -> nn.Module:
    check_shortcut(kind)
    same_shape = in_ch == out_ch and stride == 1
    if kind == "none":
        return NoShortcut()
    if kind == "C" or (kind == "B" and not same_shape):
        return projection(dims, in_ch, out_ch, stride, norm_in_projection)
    if same_shape:
        return nn.Identity()
    return PadShortcut(in_ch, out_ch, stride)


def is_projection(shortcut: nn.Module) -> bool:
    return isinstance(shortcut, nn.Sequential)
