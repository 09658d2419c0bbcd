"""Basic (two 3x3 convs) and bottleneck (1x1-3x3-1x1) post-act blocks (He et al. 2015, Fig. 5)."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from reslab.blocks.base import ResidualBlock
from reslab.nn.layers import conv1, conv3, norm
from reslab.nn.shortcuts import make_shortcut


class BasicBlock(ResidualBlock):
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
    ) -> None:
        out_ch = planes * self.expansion
        relu = nn.ReLU(inplace=True)
        branch = OrderedDict(
            conv1=conv3(dims, in_ch, planes, stride),
            bn1=norm(dims, planes),
            relu=relu,
            conv2=conv3(dims, planes, out_ch),
            bn2=norm(dims, out_ch),
        )
        super().__init__(
            branch,
            make_shortcut(shortcut, dims, in_ch, out_ch, stride),
            relu,
            drop_path,
            changes_shape=stride > 1 or in_ch != out_ch,
        )


class Bottleneck(ResidualBlock):
    """1x1 reduce, 3x3, 1x1 expand (x4). Stride on the 3x3 by default: torchvision's "ResNet v1.5",
    slightly more accurate than the paper's stride on the first 1x1 (``stride_in_1x1=True``)."""

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
        groups: int = 1,
        base_width: int = 64,
        stride_in_1x1: bool = False,
    ) -> None:
        # ResNeXt / wide ResNet widen only the 3x3 (Xie et al. 2017, Table 1; Zagoruyko 2016).
        width = int(planes * (base_width / 64.0)) * groups
        out_ch = planes * self.expansion
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        branch = OrderedDict(
            conv1=conv1(dims, in_ch, width, s1),
            bn1=norm(dims, width),
            relu1=nn.ReLU(inplace=True),
            conv2=conv3(dims, width, width, s3, groups),
            bn2=norm(dims, width),
            relu2=nn.ReLU(inplace=True),
            conv3=conv1(dims, width, out_ch),
            bn3=norm(dims, out_ch),
        )
        shortcut_op = make_shortcut(shortcut, dims, in_ch, out_ch, stride)
        super().__init__(
            branch,
            shortcut_op,
            nn.ReLU(inplace=True),
            drop_path,
            changes_shape=stride > 1 or in_ch != out_ch,
        )
