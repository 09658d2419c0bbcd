"""The residual block, y = act(shortcut(x) + F(x)) (He et al. 2015, eq. 1)."""

from __future__ import annotations

from collections import OrderedDict
from typing import ClassVar

import torch
from torch import nn

from reslab.nn.drop_path import DropPath
from reslab.nn.layers import is_norm
from reslab.nn.mappings import Mapping
from reslab.nn.shortcuts import NoShortcut, is_projection


class ResidualBlock(nn.Module):
    """A block is its residual branch F, its shortcut and the activation applied to their sum.

    The branch's layers are registered on the block itself (``conv1``, ``bn1``, ...) and a
    projection shortcut as ``downsample``: exactly torchvision's state-dict keys, so its pretrained
    weights load with ``strict=True``. ``branch`` and ``shortcut`` are views over those same
    modules, so hooks, lesions and zero-initialisation work on F and the shortcut directly.

    A ``mapping`` (He et al. 2016, section 3: scaling, gating, dropout) is registered as
    ``mapping``; the two views then include it, so ``shortcut(x)`` is h(x) and ``branch(x)`` is
    what is added to it, and forward stays the one line below for every variant.
    """

    expansion: ClassVar[int] = 1
    default_placement: ClassVar[str] = "original"  # where BN and ReLU sit (layout.py)

    def __init__(
        self,
        branch: OrderedDict[str, nn.Module],
        shortcut: nn.Module,
        act: nn.Module,
        drop_path: float = 0.0,
        *,
        changes_shape: bool = False,
        mapping: Mapping | None = None,
    ) -> None:
        super().__init__()
        # Blocks that change resolution or width cannot become an identity when lesioned
        # (Veit et al. 2016 report them separately).
        self.changes_shape = changes_shape
        for name, layer in branch.items():
            self.add_module(name, layer)
        self.add_module("downsample" if is_projection(shortcut) else "shortcut_op", shortcut)
        self.add_module("act", act)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        if mapping is not None:
            self.add_module("mapping", mapping)
        # Unregistered views: registering them would duplicate every key in the state dict.
        layers = nn.Sequential(branch)
        self.__dict__["layers"] = layers
        self.__dict__["branch"] = layers if mapping is None else mapping.branch_side(layers)
        self.__dict__["shortcut"] = shortcut if mapping is None else mapping.shortcut_side(shortcut)

    layers: nn.Sequential  # F's own layers, without any mapping's gate or scale
    branch: nn.Module
    shortcut: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shortcut(x) + self.drop_path(self.branch(x)))

    @property
    def is_plain(self) -> bool:
        return isinstance(getattr(self, "shortcut_op", None), NoShortcut)

    def zero_init_last(self) -> None:
        """Zero the branch's last scale, so the block starts as exactly its shortcut.

        Goyal et al. 2017 (arXiv:1706.02677, 5.1) zero the last BN's gamma; a pre-activation branch
        ends in a conv (He et al. 2016), so there the conv's weight is zeroed instead.
        """
        weighted = (nn.modules.conv._ConvNd, nn.Linear)  # a highway MLP's branch ends in a Linear
        last = [m for m in self.layers if is_norm(m) or isinstance(m, weighted)][-1]
        nn.init.zeros_(last.weight)
