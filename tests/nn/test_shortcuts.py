from __future__ import annotations

import pytest
import torch
from torch import nn

from reslab.nn import SHORTCUTS, NoShortcut, PadShortcut, make_shortcut
from reslab.nn.shortcuts import check_shortcut, is_projection


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("dims", [1, 2])
def test_option_a_subsamples_and_zero_pads_without_parameters(dims: int) -> None:
    sc = make_shortcut("A", dims, in_ch=16, out_ch=32, stride=2)
    assert isinstance(sc, PadShortcut)
    assert n_params(sc) == 0
    x = torch.randn((2, 16) + (8,) * dims)
    y = sc(x)
    assert y.shape == (2, 32) + (4,) * dims
    every_other = (slice(None), slice(None)) + (slice(None, None, 2),) * dims
    # 8 zero channels on each side, as the CIFAR reference code pads planes // 4 per side.
    assert torch.equal(y[:, 8:24], x[every_other])
    assert torch.count_nonzero(y[:, :8]) == 0
    assert torch.count_nonzero(y[:, 24:]) == 0


def test_option_a_odd_channel_increase_pads_all_new_channels() -> None:
    y = PadShortcut(3, 8, stride=1)(torch.ones(1, 3, 2, 2))
    assert y.shape == (1, 8, 2, 2)
    assert y.sum().item() == 3 * 4  # the 3 input channels, nothing else


@pytest.mark.parametrize("kind", ["A", "B"])
def test_same_shape_a_and_b_are_identity(kind: str) -> None:
    sc = make_shortcut(kind, 2, 16, 16, 1)
    assert isinstance(sc, nn.Identity)


def test_option_b_projects_only_where_the_shape_changes() -> None:
    sc = make_shortcut("B", 2, 16, 32, 2)
    assert is_projection(sc)
    conv, bn = sc
    assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and conv.stride == (2, 2)
    assert isinstance(bn, nn.BatchNorm2d)
    assert n_params(sc) == 16 * 32 + 2 * 32


@pytest.mark.parametrize(("in_ch", "out_ch", "stride"), [(16, 16, 1), (16, 32, 2), (64, 256, 1)])
def test_option_c_projects_everywhere(in_ch: int, out_ch: int, stride: int) -> None:
    sc = make_shortcut("C", 2, in_ch, out_ch, stride)
    assert is_projection(sc)
    assert n_params(sc) == in_ch * out_ch + 2 * out_ch
    assert sc(torch.randn(2, in_ch, 8, 8)).shape == (2, out_ch, 8 // stride, 8 // stride)


def test_projection_without_norm_is_a_bare_conv() -> None:
    sc = make_shortcut("B", 1, 16, 32, 2, norm_in_projection=False)
    assert len(sc) == 1 and isinstance(sc[0], nn.Conv1d)


def test_none_adds_nothing() -> None:
    sc = make_shortcut("none", 2, 16, 32, 2)
    assert isinstance(sc, NoShortcut)
    assert n_params(sc) == 0
    branch = torch.randn(2, 32, 4, 4)
    assert torch.equal(sc(torch.randn(2, 16, 8, 8)) + branch, branch)


def test_unknown_shortcut_names_the_value_and_accepted_values() -> None:
    with pytest.raises(ValueError, match=r"shortcut='D'.*accepted values: A, B, C, none"):
        make_shortcut("D", 2, 16, 16, 1)
    assert check_shortcut("C") == "C"
    assert SHORTCUTS == ("A", "B", "C", "none")
