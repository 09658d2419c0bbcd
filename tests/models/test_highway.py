"""Highway networks (Srivastava et al. 2015): exact sizes, the gate equations, the plain and
residual twins as the same class, and the existing tools (lesions, per-block gradient norms)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tests.models.surface import assert_surface_centre_is_the_nets_loss
from torch import nn

from reslab.blocks import HighwayBlock, ResidualBlock
from reslab.data import load_data, make_loader
from reslab.models import count_params, create_model, highway_cifar19, highway_mlp, model_info
from reslab.nn.shortcuts import NoShortcut
from reslab.probes.gradients import block_gradient_norms
from reslab.probes.lesions import lesioned


def fc_layer(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


@pytest.mark.parametrize("depth", [10, 20, 50, 100])
def test_mnist_parameter_counts_are_exact(depth: int) -> None:
    # A plain first layer 784 -> width, depth - 1 units, a softmax layer width -> 10.
    # Highway unit: H and T, each 50x50 + 50 (the paper's "~5000 per layer"); plain: 71x71 + 71.
    highway = fc_layer(784, 50) + (depth - 1) * 2 * (50 * 50 + 50) + fc_layer(50, 10)
    plain = fc_layer(784, 71) + (depth - 1) * (71 * 71 + 71) + fc_layer(71, 10)
    assert 2 * (50 * 50 + 50) == 5100 and 71 * 71 + 71 == 5112
    assert count_params(create_model(f"highway_mlp{depth}")) == highway
    assert count_params(create_model(f"plain_mlp{depth}")) == plain
    # The residual twin adds nothing to the plain layer: same parameters.
    assert count_params(create_model(f"residual_mlp{depth}")) == plain


def test_cifar19_matches_the_public_model() -> None:
    conv = lambda i, o, k=3: i * o * k * k + o  # noqa: E731
    hw = lambda c: 2 * conv(c, c)  # noqa: E731
    expected = (
        conv(3, 32) + 4 * hw(32) + conv(32, 80) + 5 * hw(80) + conv(80, 128) + 5 * hw(128)
        + conv(128, 100, 1) + fc_layer(100, 10)
    )  # fmt: skip
    net = highway_cifar19()
    assert count_params(net) == expected == 2_256_838  # the paper's Table 3: "~2.3M"
    assert len(net.blocks) == 14
    info = model_info("highway_cifar19", macs=False)
    assert info["depth"] == 19 and info["paper_params"] == 2.3e6


def test_gate_equations_are_exact() -> None:
    torch.manual_seed(0)
    block = HighwayBlock(6, gate_bias=-1.5)
    x = torch.randn(5, 6)
    h = torch.relu(F.linear(x, block.fc.weight, block.fc.bias))
    t = torch.sigmoid(F.linear(x, block.gate.fc.weight, block.gate.fc.bias))
    assert torch.allclose(block(x), t * h + (1 - t) * x, atol=1e-6)
    assert torch.allclose(block.branch(x), t * h, atol=1e-6)
    assert torch.allclose(block.shortcut(x), (1 - t) * x, atol=1e-6)
    assert torch.all(block.gate.fc.bias == -1.5)


def test_convolutional_gate_has_the_units_kernel() -> None:
    torch.manual_seed(0)
    block = HighwayBlock(4, dims=2, kernel=3, gate_bias=-2.0)
    assert block.conv.kernel_size == block.gate.conv.kernel_size == (3, 3)
    x = torch.randn(2, 4, 6, 6)
    h = torch.relu(F.conv2d(x, block.conv.weight, block.conv.bias, padding=1))
    t = torch.sigmoid(F.conv2d(x, block.gate.conv.weight, block.gate.conv.bias, padding=1))
    assert torch.allclose(block(x), t * h + (1 - t) * x, atol=1e-5)


@pytest.mark.parametrize("dims", [0, 2])
def test_gate_bias_to_minus_infinity_is_exactly_the_identity(dims: int) -> None:
    torch.manual_seed(0)
    block = HighwayBlock(4, dims=dims, gate_bias=float("-inf"))
    x = torch.randn(3, 4) if dims == 0 else torch.randn(3, 4, 5, 5)
    # sigmoid(-inf) = 0 exactly: T(x) = 0, y = x bit for bit.
    assert torch.equal(block(x), x)


def test_plain_and_residual_are_the_same_class() -> None:
    torch.manual_seed(0)
    plain, residual = HighwayBlock(5, kind="plain"), HighwayBlock(5, kind="residual")
    assert type(plain) is type(residual) is HighwayBlock
    assert isinstance(plain, ResidualBlock) and plain.is_plain and not residual.is_plain
    assert isinstance(plain.shortcut_op, NoShortcut) and plain.gate is None
    assert residual.gate is None and not hasattr(residual, "mapping")
    residual.load_state_dict(plain.state_dict())  # same parameters, same keys
    x = torch.randn(4, 5)
    h = torch.relu(plain.fc(x))
    assert torch.equal(plain(x), h)
    assert torch.allclose(residual(x), x + h)


def test_nets_of_one_depth_differ_only_in_their_units() -> None:
    nets = {k: highway_mlp(10, kind=k) for k in ("highway", "plain", "residual")}
    for net in nets.values():
        assert len(net.blocks) == 9 and all(isinstance(b, HighwayBlock) for b in net.blocks)
    assert all(b.gate is not None for b in nets["highway"].blocks)
    assert all(b.is_plain for b in nets["plain"].blocks)


def test_unknown_kind_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="accepted values: highway, residual, plain"):
        highway_mlp(10, kind="gated")


def test_wrong_input_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"got input of shape \(2, 1, 40\)"):
        highway_mlp(10)(torch.randn(2, 1, 40))
    with pytest.raises(ValueError, match=r"input_size=\(1, 32, 32\)"):
        highway_mlp(10)(torch.randn(2, 1, 32, 32))


@pytest.mark.parametrize("kind", ["highway", "plain", "residual"])
def test_lesion_runs_on_a_highway_net(kind: str) -> None:
    torch.manual_seed(0)
    net = highway_mlp(6, kind=kind, width=8, dims=1, input_size=(1, 40)).eval()
    x = torch.randn(4, 1, 40)
    before = net(x)
    with lesioned(net, [2]):
        # Deleting unit 2 keeps its shortcut side: (1 - T)x for highway, x for the others.
        features = torch.flatten(x, 1)
        for layer in net.stack1:
            features = layer(features)
        block = net.blocks[2]
        inp = []
        hook = block.register_forward_pre_hook(lambda _m, a: inp.append(a[0]))
        net(x)
        hook.remove()
        expected = inp[0] if kind != "highway" else (1 - block.gate(inp[0])) * inp[0]
        assert torch.allclose(block(inp[0]), expected, atol=1e-6)
        assert not torch.allclose(net(x), before)
    assert torch.equal(net(x), before)  # restored on exit


def test_gradient_norms_run_on_a_highway_net() -> None:
    torch.manual_seed(0)
    net = highway_mlp(8, width=8, dims=1, input_size=(1, 40))
    batches = [(torch.randn(16, 1, 40), torch.randint(0, 10, (16,))) for _ in range(2)]
    norms = block_gradient_norms(net, batches)
    assert {k: v.shape for k, v in norms.items()} == {
        "input": (7,), "weight": (7,), "activation": (7,),
    }  # fmt: skip
    assert all((v > 0).all() and torch.isfinite(torch.tensor(v)).all() for v in norms.values())


def test_grad_checkpointing_gives_the_same_gradients() -> None:
    torch.manual_seed(0)
    net = highway_mlp(5, width=8)
    x, y = torch.randn(4, 1, 28, 28), torch.arange(4)
    grads = []
    for enable in (False, True):
        net.zero_grad()
        net.set_grad_checkpointing(enable)
        F.cross_entropy(net(x), y).backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    assert all(torch.allclose(a, b) for a, b in zip(*grads, strict=True))


def test_registry_lists_the_paper_nets() -> None:
    from reslab.models import list_models

    assert list_models("*_mlp*") == sorted(
        f"{k}_mlp{d}" for k in ("highway", "plain", "residual") for d in (10, 20, 50, 100)
    )
    net = create_model("highway_mlp20", gate_bias=-3.0)
    assert all(torch.all(b.gate.fc.bias == -3.0) for b in net.blocks)
    assert isinstance(net.fc, nn.Linear) and net.fc.in_features == 50


def test_loss_landscape_runs_on_a_highway_net() -> None:
    torch.manual_seed(0)
    net = highway_mlp(6, width=8, dims=1, input_size=(1, 40)).eval()
    bundle = load_data("synthetic1d")
    batches = list(make_loader(bundle, "test", batch_size=64, train=False, device="cpu"))[:2]
    assert_surface_centre_is_the_nets_loss(net, batches)
