"""The shortcut mappings of He et al. 2016 (section 3, Fig. 2, Table 1) as block options."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import reslab
from reslab.blocks import BasicBlock, Bottleneck, PreActBasicBlock
from reslab.models.cifar import cifar_resnet
from reslab.models.info import count_params
from reslab.nn.mappings import MAPPINGS, Gate, KeepMask, ShortcutMapping, get_mapping


def gate_params(widths: list[tuple[int, int]]) -> int:
    # One 1x1 conv with bias per block, from the block's input to its output channels.
    return sum(i * o + o for i, o in widths)


def cifar_block_widths(n: int, width: int = 16) -> list[tuple[int, int]]:
    out = []
    in_ch = width
    for planes in (width, 2 * width, 4 * width):
        for _ in range(n):
            out.append((in_ch, planes))
            in_ch = planes
    return out


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("depth", [20, 56, 110])
@pytest.mark.parametrize("mapping", list(MAPPINGS))
def test_parameter_counts_are_exact(mapping: str, depth: int, dims: int) -> None:
    base = count_params(cifar_resnet(depth, dims=dims))
    net = cifar_resnet(depth, dims=dims, mapping=mapping)
    gated = MAPPINGS[mapping].gate != "none"
    extra = gate_params(cifar_block_widths((depth - 2) // 6)) if gated else 0
    assert count_params(net) == base + extra


def test_resnet110_counts() -> None:
    # Option A ResNet-110: 1,727,962 weights (He et al. 2015, Table 6: "1.7M"); gating adds
    # 54 1x1 convs with bias.
    assert count_params(cifar_resnet(110)) == 1_727_962
    assert count_params(cifar_resnet(110, mapping="exclusive_gate")) == 1_727_962 + 96_224
    assert gate_params(cifar_block_widths(18)) == 96_224


@pytest.mark.parametrize("gate", ["exclusive", "shortcut"])
@pytest.mark.parametrize("bias", [0.0, -6.0, -3.5])
def test_gate_bias_is_the_initial_bias(gate: str, bias: float) -> None:
    net = cifar_resnet(20, mapping=f"{gate}_gate", gate_bias=bias)
    for block in net.blocks:
        assert torch.all(block.mapping.gate.conv.bias == bias)


@pytest.mark.parametrize("block_cls", [BasicBlock, Bottleneck, PreActBasicBlock])
@pytest.mark.parametrize("mapping", ["exclusive_gate", "shortcut_gate"])
@pytest.mark.parametrize("dims", [1, 2])
def test_strongly_negative_gate_reduces_to_the_shortcut(
    block_cls: type, mapping: str, dims: int
) -> None:
    # sigmoid(-1000) is exactly 0 in float32: (1 - g) x + g F(x) is then exactly x.
    torch.manual_seed(0)
    in_ch = 16 * block_cls.expansion
    spec = get_mapping(mapping, gate_bias=-1000.0)
    block = block_cls(in_ch, 16, dims=dims, shortcut="A", mapping=spec).eval()
    plain_sum = block_cls(in_ch, 16, dims=dims, shortcut="A").eval()
    x = torch.randn((2, in_ch) + (6,) * dims)
    with torch.no_grad():
        y = block(x.clone())
        if mapping == "exclusive_gate":
            expected = block.act(x.clone())
        else:  # shortcut-only gating keeps F: x + F(x), the identity block
            plain_sum.load_state_dict(block.state_dict(), strict=False)
            expected = plain_sum(x.clone())
    assert torch.equal(y, expected)


@pytest.mark.parametrize("mapping", list(MAPPINGS))
@pytest.mark.parametrize("dims", [1, 2])
def test_zero_initialised_mapped_block_is_its_shortcut(mapping: str, dims: int) -> None:
    torch.manual_seed(0)
    block = BasicBlock(16, 16, dims=dims, shortcut="A", mapping=mapping)
    block.zero_init_last()
    block.eval()
    x = torch.randn((2, 16) + (6,) * dims)
    with torch.no_grad():
        expected = block.act(block.shortcut(x.clone()))
        assert torch.equal(block(x), expected)


@pytest.mark.parametrize("depth", [20, 56])
def test_constant_scaling_multiplies_the_shortcut_path_by_lambda_per_block(depth: int) -> None:
    # Zero branches leave only the shortcut path; on non-negative inputs the post-add ReLU
    # passes it unchanged, so n same-shape blocks multiply by lambda^n (He et al. 2016, eq. 7).
    net = cifar_resnet(depth, mapping="scale", zero_init_residual=True).eval()
    stage = net.layer1
    x = torch.rand(2, 16, 8, 8)
    with torch.no_grad():
        y = stage(x)
    n = len(stage)
    torch.testing.assert_close(y, x * 0.5**n, rtol=1e-6, atol=0)
    both = cifar_resnet(depth, mapping="scale_both").eval()
    block = both.layer1[0]
    with torch.no_grad():
        torch.testing.assert_close(block.branch(x), 0.5 * block.layers(x))
        torch.testing.assert_close(block(x), torch.relu(0.5 * x + 0.5 * block.layers(x)))


def test_exclusive_gating_follows_its_equation() -> None:
    torch.manual_seed(1)
    block = BasicBlock(16, 16, shortcut="A", mapping=get_mapping("exclusive_gate", 0.0)).eval()
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        g = torch.sigmoid(block.mapping.gate.conv(x))
        f = block.layers(x.clone())
        torch.testing.assert_close(block(x.clone()), torch.relu((1 - g) * x + g * f))
        shortcut_only = BasicBlock(16, 16, shortcut="A", mapping="shortcut_gate").eval()
        shortcut_only.load_state_dict(block.state_dict())
        torch.testing.assert_close(shortcut_only(x.clone()), torch.relu((1 - g) * x + f))


def test_gate_follows_the_block_stride_and_width() -> None:
    block = BasicBlock(16, 32, 2, shortcut="A", mapping="shortcut_gate")
    assert isinstance(block.mapping.gate, Gate)
    y = block(torch.randn(2, 16, 8, 8))
    assert y.shape == (2, 32, 4, 4)


def test_dropout_shortcut_is_an_unscaled_keep_mask() -> None:
    keep = KeepMask(0.5)
    x = torch.ones(10_000)
    torch.manual_seed(0)
    y = keep(x)
    assert set(y.unique().tolist()) == {0.0, 1.0}  # no 1/(1-p) rescaling in training
    assert 0.45 < y.mean().item() < 0.55  # expectation 0.5 (He et al. 2016, 3.1)
    keep.eval()
    assert torch.equal(keep(x), 0.5 * x)


def test_mappings_reach_the_front_door() -> None:
    net = reslab.create_model("resnet110", mapping="exclusive_gate", gate_bias=-6.0)
    assert all(b.mapping.gate.bias_init == -6.0 for b in net.blocks)
    assert not hasattr(reslab.create_model("resnet20").blocks[0], "mapping")


def test_identity_mapping_keeps_the_state_dict() -> None:
    a = cifar_resnet(20).state_dict()
    b = cifar_resnet(20, mapping="identity").state_dict()
    assert list(a) == list(b)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mapping": "halve"}, "accepted values: identity, scale"),
        ({"mapping": "scale", "gate_bias": -2.0}, "needs a gated mapping"),
        ({"mapping": "scale", "shortcut": "none"}, "shortcut='none' has none"),
    ],
)
def test_bad_mappings_name_the_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cifar_resnet(20, **kwargs)


def test_bad_spec_values() -> None:
    with pytest.raises(ValueError, match="gate='both'"):
        ShortcutMapping(gate="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"dropout=1\.0"):
        ShortcutMapping(dropout=1.0)


def test_mapped_blocks_train() -> None:
    torch.manual_seed(0)
    for name in MAPPINGS:
        net = cifar_resnet(8, dims=1, in_channels=1, mapping=name)
        loss = net(torch.randn(4, 1, 40)).square().mean()
        loss.backward()
        grads = [p.grad for p in net.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name
    assert isinstance(cifar_resnet(8, mapping="dropout").blocks[0].mapping.keep, nn.Module)
