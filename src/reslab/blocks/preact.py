"""Pre-activation blocks (He et al. 2016, "Identity Mappings in Deep Residual Networks", Fig. 1b).

BN and ReLU move to the start of the branch and nothing follows the addition, so the shortcut
path is a pure identity from any block to any later one (their eq. 4): x_L = x_l + sum F.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from reslab.blocks.base import ResidualBlock
from reslab.nn.layers import conv1, conv3, norm
from reslab.nn.shortcuts import make_shortcut


def _preact_shortcut(kind: str, dims: int, in_ch: int, out_ch: int, stride: int) -> nn.Module:
    # The reference pre-activation code (fb.resnet.torch preresnet.lua) projects with a bare 1x1
    # conv: a BN there would put a normalisation back on the identity path.
    return make_shortcut(kind, dims, in_ch, out_ch, stride, norm_in_projection=False)


class PreActBasicBlock(ResidualBlock):
    expansion = 1

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        *,
        shortcut: str = "B",
        dims: int = 2,
        drop_path: float = 0.0,
        dropout: float = 0.0,
    ) -> None:
        out_ch = planes * self.expansion
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            bn1=norm(dims, in_ch),
            relu1=nn.ReLU(inplace=True),
            conv1=conv3(dims, in_ch, planes, stride),
            bn2=norm(dims, planes),
            relu2=nn.ReLU(inplace=True),
        )
        if dropout > 0:
            # Wide ResNets put dropout between the two convs (Zagoruyko & Komodakis 2016, 2.4).
            layers["dropout"] = nn.Dropout(dropout)
        layers["conv2"] = conv3(dims, planes, out_ch)
        shortcut_op = _preact_shortcut(shortcut, dims, in_ch, out_ch, stride)
        super().__init__(
            layers,
            shortcut_op,
            nn.Identity(),
            drop_path,
            changes_shape=stride > 1 or in_ch != out_ch,
        )


class PreActBottleneck(ResidualBlock):
    expansion = 4

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        *,
        shortcut: str = "B",
        dims: int = 2,
        drop_path: float = 0.0,
    ) -> None:
        out_ch = planes * self.expansion
        branch = OrderedDict(
            bn1=norm(dims, in_ch),
            relu1=nn.ReLU(inplace=True),
            conv1=conv1(dims, in_ch, planes),
            bn2=norm(dims, planes),
            relu2=nn.ReLU(inplace=True),
            conv2=conv3(dims, planes, planes, stride),
            bn3=norm(dims, planes),
            relu3=nn.ReLU(inplace=True),
            conv3=conv1(dims, planes, out_ch),
        )
        shortcut_op = _preact_shortcut(shortcut, dims, in_ch, out_ch, stride)
        super().__init__(
            branch,
            shortcut_op,
            nn.Identity(),
            drop_path,
            changes_shape=stride > 1 or in_ch != out_ch,
        )
