"""Basic (two 3x3 convs) and bottleneck (1x1-3x3-1x1) blocks (He et al. 2015, Fig. 5), in any
placement of BN and ReLU (``layout.py``) and with any shortcut mapping (``nn/mappings.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict, Unpack

from torch import nn

from reslab.blocks.base import ResidualBlock
from reslab.blocks.layout import assemble, check_placement, pattern
from reslab.nn.layers import conv1, conv3
from reslab.nn.mappings import Mapping, ShortcutMapping, get_mapping
from reslab.nn.shortcuts import make_shortcut

MappingArg = str | ShortcutMapping | None


class BlockOptions(TypedDict, total=False):
    """What every conv block takes beyond its widths, stride and dims (defaults: ``ConvBlock``)."""

    shortcut: str
    drop_path: float
    placement: str | None
    mapping: MappingArg


class ConvBlock(ResidualBlock):
    """A residual block whose branch is a list of convs laid out by a placement."""

    def __init__(
        self,
        convs: Sequence[tuple[nn.Module, int]],
        in_ch: int,
        stride: int,
        *,
        dims: int,
        shortcut: str = "B",
        drop_path: float = 0.0,
        placement: str | None = None,
        mapping: MappingArg = None,
        dropout: float = 0.0,
    ) -> None:
        placement = check_placement(placement or self.default_placement)
        out_ch = convs[-1][1]
        branch, after = assemble(
            pattern(placement, len(convs), dropout > 0), convs, in_ch, dims, dropout
        )
        spec = get_mapping(mapping or "identity")
        if shortcut == "none" and not spec.is_identity:
            raise ValueError(f"mapping={mapping!r} maps a shortcut, but shortcut='none' has none")
        # The reference pre-activation code (fb.resnet.torch preresnet.lua) projects with a bare
        # 1x1 conv: a BN there would put a normalisation back on the identity path.
        shortcut_op = make_shortcut(
            shortcut, dims, in_ch, out_ch, stride, norm_in_projection=placement != "full_preact"
        )
        super().__init__(
            branch,
            shortcut_op,
            after,
            drop_path,
            changes_shape=stride > 1 or in_ch != out_ch,
            mapping=None if spec.is_identity else Mapping(spec, dims, in_ch, out_ch, stride),
        )
        self.placement = placement


class BasicBlock(ConvBlock):
    expansion = 1

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        *,
        dims: int = 2,
        dropout: float = 0.0,
        **options: Unpack[BlockOptions],
    ) -> None:
        out_ch = planes * self.expansion
        convs = [
            (conv3(dims, in_ch, planes, stride), planes),
            (conv3(dims, planes, out_ch), out_ch),
        ]
        super().__init__(convs, in_ch, stride, dims=dims, dropout=dropout, **options)


class Bottleneck(ConvBlock):
    """1x1 reduce, 3x3, 1x1 expand (x4). Stride on the 3x3 by default: torchvision's "ResNet v1.5",
    slightly more accurate than the paper's stride on the first 1x1 (``stride_in_1x1=True``)."""

    expansion = 4

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        *,
        dims: int = 2,
        groups: int = 1,
        base_width: int = 64,
        stride_in_1x1: bool = False,
        **options: Unpack[BlockOptions],
    ) -> None:
        # ResNeXt / wide ResNet widen only the 3x3 (Xie et al. 2017, Table 1; Zagoruyko 2016).
        width = int(planes * (base_width / 64.0)) * groups
        out_ch = planes * self.expansion
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        convs = [
            (conv1(dims, in_ch, width, s1), width),
            (conv3(dims, width, width, s3, groups), width),
            (conv1(dims, width, out_ch), out_ch),
        ]
        super().__init__(convs, in_ch, stride, dims=dims, **options)
