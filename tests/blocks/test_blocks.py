from __future__ import annotations

import pytest
import torch
from torch import nn

from reslab.blocks import (
    BLOCKS,
    BasicBlock,
    Bottleneck,
    PreActBasicBlock,
    PreActBottleneck,
    ResidualBlock,
    get_block,
)
from reslab.nn import NoShortcut, PadShortcut

# (in_ch, planes, stride) that keep the shape, and that change it, for each block kind.
SHAPES = {
    "basic": {"same": (16, 16, 1), "changes": (16, 32, 2)},
    "preact_basic": {"same": (16, 16, 1), "changes": (16, 32, 2)},
    "bottleneck": {"same": (64, 16, 1), "changes": (64, 32, 2)},
    "preact_bottleneck": {"same": (64, 16, 1), "changes": (64, 32, 2)},
}


def make(kind: str, shape: str, shortcut: str, dims: int = 2, **kw: object) -> ResidualBlock:
    in_ch, planes, stride = SHAPES[kind][shape]
    return get_block(kind)(in_ch, planes, stride, shortcut=shortcut, dims=dims, **kw)


def randn_for(kind: str, shape: str, dims: int = 2) -> torch.Tensor:
    in_ch = SHAPES[kind][shape][0]
    return torch.randn((4, in_ch) + (8,) * dims)


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("shape", ["same", "changes"])
@pytest.mark.parametrize("shortcut", ["A", "B", "C"])
@pytest.mark.parametrize("kind", list(BLOCKS))
def test_zero_initialised_block_is_exactly_its_shortcut(
    kind: str, shortcut: str, shape: str, mode: str
) -> None:
    torch.manual_seed(0)
    block = make(kind, shape, shortcut)
    block.zero_init_last()
    block.train(mode == "train")
    x = randn_for(kind, shape)
    with torch.no_grad():
        # x.clone(): an identity shortcut returns its input, and the post-activation ReLU is
        # in-place.
        expected = block.act(block.shortcut(x.clone()))
        y = block(x)
    assert y.shape == expected.shape
    assert torch.equal(y, expected)


@pytest.mark.parametrize("kind", list(BLOCKS))
def test_zero_initialised_plain_block_outputs_zero(kind: str) -> None:
    block = make(kind, "changes", "none")
    block.zero_init_last()
    x = randn_for(kind, "changes")
    assert torch.count_nonzero(block.eval()(x)) == 0


@pytest.mark.parametrize("kind", ["preact_basic", "preact_bottleneck"])
def test_preact_identity_path_has_nothing_on_it(kind: str) -> None:
    # He et al. 2016, eq. 4: x_{l+1} = x_l + F(x_l), with no BN or ReLU after the addition.
    block = make(kind, "same", "B")
    assert isinstance(block.act, nn.Identity)
    assert isinstance(block.shortcut, nn.Identity)
    for mode in (True, False):
        block.zero_init_last()
        x = randn_for(kind, "same")
        assert torch.equal(block.train(mode)(x), x)


@pytest.mark.parametrize("kind", ["basic", "bottleneck"])
def test_post_activation_blocks_end_in_relu(kind: str) -> None:
    assert isinstance(make(kind, "same", "B").act, nn.ReLU)


def test_preact_projection_has_no_norm() -> None:
    # fb.resnet.torch preresnet.lua projects with a bare 1x1 conv.
    sc = make("preact_basic", "changes", "B").shortcut
    assert [type(m) for m in sc] == [nn.Conv2d]
    assert [type(m) for m in make("basic", "changes", "B").shortcut] == [nn.Conv2d, nn.BatchNorm2d]


def test_branch_and_shortcut_are_unregistered_views() -> None:
    block = make("bottleneck", "changes", "B")
    keys = block.state_dict().keys()
    assert not any(k.startswith(("branch.", "shortcut.")) for k in keys)
    assert {k.split(".")[0] for k in keys} == {"conv1", "bn1", "conv2", "bn2", "conv3", "bn3",
                                                "downsample"}  # fmt: skip
    assert block.shortcut is block.downsample
    assert block.branch.conv1 is block.conv1 and block.branch.bn3 is block.bn3
    pre = make("preact_basic", "same", "B")
    assert pre.branch[0] is pre.bn1 and pre.branch[-1] is pre.conv2


def test_shape_flags() -> None:
    assert make("basic", "changes", "A").changes_shape
    assert not make("basic", "same", "A").changes_shape
    assert make("bottleneck", "same", "B").changes_shape is False
    assert Bottleneck(16, 16, 1).changes_shape  # 16 -> 64 channels
    assert make("basic", "same", "none").is_plain
    assert isinstance(make("basic", "same", "none").shortcut, NoShortcut)
    assert not make("basic", "same", "A").is_plain
    assert isinstance(make("bottleneck", "changes", "A").shortcut, PadShortcut)


@pytest.mark.parametrize("stride_in_1x1", [False, True])
def test_stride_in_1x1_moves_the_stride(stride_in_1x1: bool) -> None:
    block = Bottleneck(64, 32, 2, stride_in_1x1=stride_in_1x1)
    strides = (block.conv1.stride, block.conv2.stride, block.conv3.stride)
    # torchvision's "ResNet v1.5" strides the 3x3; the paper (He et al. 2015) strides the first 1x1.
    assert strides == (((2, 2), (1, 1), (1, 1)) if stride_in_1x1 else ((1, 1), (2, 2), (1, 1)))
    assert block(torch.randn(2, 64, 8, 8)).shape == (2, 128, 4, 4)


def test_grouped_and_widened_bottleneck() -> None:
    # ResNeXt 32x4d, first stage: 3x3 width = 64 * 4/64 * 32 = 128 (Xie et al. 2017, Table 1).
    block = Bottleneck(64, 64, 1, groups=32, base_width=4)
    assert block.conv2.groups == 32 and block.conv2.out_channels == 128
    assert Bottleneck(64, 64, 1, base_width=128).conv2.out_channels == 128


def test_wide_block_dropout_sits_between_the_convs_and_zero_init_still_works() -> None:
    block = PreActBasicBlock(16, 16, 1, dropout=0.3)
    names = [n for n, _ in block.branch.named_children()]
    assert names.index("conv1") < names.index("dropout") < names.index("conv2")
    block.zero_init_last()
    x = torch.randn(2, 16, 4, 4)
    assert torch.equal(block.train()(x), x)


@pytest.mark.parametrize("cls", [BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck])
def test_one_dimensional_blocks(cls: type[ResidualBlock]) -> None:
    block = cls(16, 16, 2, shortcut="A", dims=1)  # type: ignore[call-arg]
    y = block(torch.randn(2, 16, 40))
    assert y.shape == (2, 16 * cls.expansion, 20)
    assert isinstance(block.branch[0], (nn.Conv1d, nn.BatchNorm1d))


def test_unknown_block() -> None:
    with pytest.raises(ValueError, match=r"block='foo'.*accepted values: basic, bottleneck"):
        get_block("foo")
