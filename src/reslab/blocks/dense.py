"""The dense layer, x_l = H_l([x_0, ..., x_{l-1}]) (Huang et al. 2017, eq. 2).

A dense layer is a residual block whose combine is a concatenation instead of a sum: its
``shortcut`` carries the layer's input (every earlier feature map) unchanged, its ``branch`` is
H_l, and ``forward = act(concat(shortcut(x), branch(x)))``. So the tools written for residual
blocks see the same parts: hooks on ``branch``, per-layer gradient norms on the layer's input,
and a lesion that keeps the shortcut and replaces the branch's new features by zeros.

The layers are registered with torchvision's names (``norm1``, ``relu1``, ``conv1``, ...), so its
DenseNet weights load with ``strict=True``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from reslab.nn.checkpoint import checkpoint_module
from reslab.nn.layers import avg_pool2, conv1, conv3, norm

# A layer's input: one tensor (the concatenation so far), or, in the memory-efficient mode, the
# list of the feature maps it is the concatenation of.
Features = torch.Tensor | list[torch.Tensor]


class ConcatThen(nn.Sequential):
    """Concatenates its inputs along channels, then applies its layers: the part of H_l that
    torchvision's ``memory_efficient`` mode recomputes in backward (its ``bn_function``)."""

    def forward(self, *features: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        x = features[0] if len(features) == 1 else torch.cat(features, 1)
        return super().forward(x)


class DenseBranch(nn.Module):
    """H_l: BN-ReLU-conv(1x1) to ``bn_size * k`` channels, then BN-ReLU-conv(3x3) to k (the "B"
    of DenseNet-BC), or BN-ReLU-conv(3x3) alone; dropout on the new features (section 3)."""

    def __init__(self, first: ConcatThen, rest: nn.Sequential) -> None:
        super().__init__()
        self.first = first
        self.rest = rest

    def forward(self, x: Features) -> torch.Tensor:
        features = x if isinstance(x, list) else [x]
        # A list is the memory-efficient mode (Pleiss et al. 2017): the concatenation and its
        # BN-ReLU output are not kept for backward but recomputed, so memory grows with the
        # number of layers instead of its square. torchvision does the same per layer.
        if isinstance(x, list) and torch.is_grad_enabled() and any(t.requires_grad for t in x):
            return self.rest(checkpoint_module(self.first, *features))
        return self.rest(self.first(*features))


class DenseLayer(nn.Module):
    """One dense layer: ``act(concat(shortcut(x), branch(x)))``, with ``shortcut`` the identity."""

    # Always lesionable: deleting it (zeroing its new features) keeps every shape.
    is_plain = False
    # Its output is wider than its input by the growth rate.
    changes_shape = True

    def __init__(
        self,
        in_ch: int,
        growth: int,
        *,
        bn_size: int | None = 4,
        dims: int = 2,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.growth = growth
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if bn_size is None:
            layers |= _bn_relu_conv(1, conv3(dims, in_ch, growth), dims, in_ch)
        else:
            width = bn_size * growth
            layers |= _bn_relu_conv(1, conv1(dims, in_ch, width), dims, in_ch)
            layers |= _bn_relu_conv(2, conv3(dims, width, growth), dims, width)
        for name, layer in layers.items():
            self.add_module(name, layer)
        self.add_module("shortcut_op", nn.Identity())
        self.add_module("act", nn.Identity())
        if drop_rate > 0:
            self.dropout = nn.Dropout(drop_rate)
        modules = list(layers.values())
        rest = modules[3:] + ([self.dropout] if drop_rate > 0 else [])
        # Unregistered views, as in ResidualBlock: registering them would duplicate state keys.
        self.__dict__["branch"] = DenseBranch(ConcatThen(*modules[:3]), nn.Sequential(*rest))
        self.__dict__["shortcut"] = self.shortcut_op
        self.__dict__["layers"] = nn.Sequential(*modules)

    branch: DenseBranch
    shortcut: nn.Module
    layers: nn.Sequential

    def forward(self, x: Features) -> Features:
        return self.act(concat(self.shortcut(x), self.branch(x)))

    def forward_without_branch(self, x: Features) -> Features:
        """The layer deleted: its k new feature maps are zeros, so every later layer and the
        transition keep their shapes and weights but receive nothing from this one."""
        first = x[0] if isinstance(x, list) else x
        zeros = first.new_zeros(first.shape[0], self.growth, *first.shape[2:])
        return self.act(concat(self.shortcut(x), zeros))


def concat(kept: Features, new: torch.Tensor) -> Features:
    # On a list the concatenation is deferred: the next layer (or the block's end) does it.
    return [*kept, new] if isinstance(kept, list) else torch.cat([kept, new], 1)


class DenseBlock(nn.Module):
    """``layers`` dense layers at one resolution; its output has ``in_ch + layers * k`` channels."""

    def __init__(
        self,
        layers: int,
        in_ch: int,
        growth: int,
        *,
        bn_size: int | None,
        dims: int,
        drop_rate: float,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        self.memory_efficient = memory_efficient
        for i in range(layers):
            layer = DenseLayer(
                in_ch + i * growth, growth, bn_size=bn_size, dims=dims, drop_rate=drop_rate
            )
            self.add_module(f"denselayer{i + 1}", layer)
        self.out_channels = in_ch + layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features: Features = [x] if self.memory_efficient else x
        for layer in self.children():
            features = layer(features)
        return torch.cat(features, 1) if isinstance(features, list) else features


class Transition(nn.Sequential):
    """BN-ReLU-conv(1x1)-avgpool(2) between dense blocks; the conv keeps ``compression`` of the
    channels (theta, section 3: 1 for DenseNet, 0.5 for DenseNet-BC)."""

    def __init__(self, in_ch: int, out_ch: int, dims: int) -> None:
        super().__init__(
            OrderedDict(
                norm=norm(dims, in_ch),
                relu=nn.ReLU(inplace=True),
                conv=conv1(dims, in_ch, out_ch),
                pool=avg_pool2(dims),
            )
        )


def _bn_relu_conv(i: int, conv: nn.Module, dims: int, in_ch: int) -> OrderedDict[str, nn.Module]:
    return OrderedDict(
        [(f"norm{i}", norm(dims, in_ch)), (f"relu{i}", nn.ReLU(inplace=True)), (f"conv{i}", conv)]
    )
