"""Activation placement (He et al. 2016, Fig. 4 and Table 2) for basic and bottleneck blocks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reslab.blocks import BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck
from reslab.blocks.layout import PLACEMENTS, lead, pattern
from reslab.models.cifar import cifar_resnet
from reslab.models.info import count_params

LETTER = {nn.Conv1d: "c", nn.Conv2d: "c", nn.BatchNorm1d: "b", nn.BatchNorm2d: "b", nn.ReLU: "r"}
# Figure 4, read off the drawing: the branch's layers, then '|' (the addition), then the rest.
FIGURE4 = {
    "original": ("cbrcb|r", "cbrcbrcb|r"),
    "bn_after_add": ("cbrc|br", "cbrcbrc|br"),
    "relu_before_add": ("cbrcbr|", "cbrcbrcbr|"),
    "relu_preact": ("rcbrcb|", "rcbrcbrcb|"),
    "full_preact": ("brcbrc|", "brcbrcbrc|"),
}


def letters(block: nn.Module) -> str:
    after = block.act
    ops = list(after) if isinstance(after, nn.Sequential) else [after]
    tail = "".join(LETTER[type(m)] for m in ops if type(m) in LETTER)
    return "".join(LETTER[type(m)] for m in block.layers) + "|" + tail


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_blocks_follow_figure_4(placement: str, dims: int) -> None:
    basic, bottleneck = FIGURE4[placement]
    assert letters(BasicBlock(16, 16, dims=dims, placement=placement)) == basic
    assert letters(Bottleneck(64, 16, dims=dims, placement=placement)) == bottleneck
    assert pattern(placement, 2) == basic


def test_classic_blocks_are_two_placements() -> None:
    assert BasicBlock(16, 16).placement == "original"
    assert PreActBasicBlock(16, 16).placement == "full_preact"
    for a, b in (
        (PreActBasicBlock(16, 32, 2), BasicBlock(16, 32, 2, placement="full_preact")),
        (PreActBottleneck(64, 32, 2), Bottleneck(64, 32, 2, placement="full_preact")),
    ):
        assert list(a.state_dict()) == list(b.state_dict())  # fmt: skip


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize(("block", "depth"), [("basic", 20), ("basic", 110), ("bottleneck", 164)])
def test_moving_bn_and_relu_keeps_every_parameter(block: str, depth: int, dims: int) -> None:
    # The four placements with a post-activation stem hold the same layers in another order.
    counts = {p: count_params(cifar_resnet(depth, block=block, placement=p, dims=dims))
              for p in PLACEMENTS}  # fmt: skip
    assert len({counts[p] for p in PLACEMENTS if p != "full_preact"}) == 1
    preact = "preact_" + block
    assert counts["full_preact"] == count_params(cifar_resnet(depth, block=preact, dims=dims))


def test_resnet110_and_164_counts() -> None:
    assert count_params(cifar_resnet(110, placement="bn_after_add")) == 1_727_962
    # Post-activation ResNet-164 = pre-activation's 1,703,258 + the BNs of its three projections
    # (2 x (64 + 128 + 256) = 896); the stem BN and the final BN cancel.
    assert count_params(cifar_resnet(164, block="bottleneck", shortcut="B")) == 1_704_154
    assert count_params(cifar_resnet(164, block="preact_bottleneck", shortcut="B")) == 1_703_258


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_net_ends_with_what_its_blocks_start_with(placement: str) -> None:
    net = cifar_resnet(20, placement=placement)
    ops = list(net.final_act) if isinstance(net.final_act, nn.Sequential) else [net.final_act]
    assert "".join(LETTER.get(type(m), "") for m in ops) == lead(placement)
    assert hasattr(net, "bn1") == (placement != "full_preact")


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("kind", ["basic", "bottleneck"])
def test_zero_initialised_placement_is_its_shortcut(placement: str, kind: str) -> None:
    torch.manual_seed(0)
    block = (BasicBlock(16, 16, placement=placement) if kind == "basic"
             else Bottleneck(64, 16, placement=placement))  # fmt: skip
    block.zero_init_last()
    block.eval()
    x = torch.randn(2, block.conv1.in_channels, 6, 6)
    with torch.no_grad():
        assert torch.equal(block(x.clone()), block.act(x.clone()))


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_every_placement_trains_in_1d(placement: str) -> None:
    torch.manual_seed(0)
    net = cifar_resnet(20, placement=placement, dims=1, in_channels=1)
    net(torch.randn(4, 1, 40)).logsumexp(1).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_bad_placement_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match=r"placement='post'.*accepted values: original"):
        cifar_resnet(20, placement="post")
