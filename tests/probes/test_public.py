"""reslab.probes on a model built outside reslab: a hand-written 4-block residual MLP that only
follows the one convention, ``model.blocks`` with ``y = act(shortcut(x) + branch(x))``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import reslab.probes as probes

pytestmark = pytest.mark.usefixtures("one_thread")


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))
        self.shortcut = nn.Identity()
        self.act = nn.ReLU()
        self.is_plain, self.changes_shape = False, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shortcut(x) + self.branch(x))


class ResidualMLP(nn.Module):
    def __init__(self, width: int = 8, depth: int = 4, classes: int = 3) -> None:
        super().__init__()
        self.stem = nn.Linear(5, width)
        self.units = nn.Sequential(*(Block(width) for _ in range(depth)))
        self.head = nn.Linear(width, classes)

    @property
    def blocks(self) -> list[Block]:
        return list(self.units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.units(self.stem(x)))


@pytest.fixture
def net_and_batch() -> tuple[ResidualMLP, tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    return ResidualMLP(), (torch.randn(16, 5), torch.randint(0, 3, (16,)))


def test_gradient_norms_match_autograd_on_a_foreign_model(net_and_batch) -> None:
    model, (x, y) = net_and_batch
    norms = probes.gradient_norms(model, (x, y))
    assert {k: v.shape for k, v in norms.items()} == {k: (4,) for k in norms}
    # The input gradient of block 2, by hand: the loss w.r.t. what block 2 receives.
    h = model.units[:2](model.stem(x)).detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(model.head(model.units[2:](h)), y)
    (grad,) = torch.autograd.grad(loss, h)
    assert norms["input"][2] == pytest.approx(grad.double().norm().item(), rel=1e-6)
    assert norms["activation"][2] == pytest.approx(h.double().norm().item(), rel=1e-6)


def test_shortcut_path_alone_is_the_product_of_the_shortcut_jacobians(net_and_batch) -> None:
    model, (x, y) = net_and_batch
    path = probes.shortcut_path_norms(model, [(x, y)])
    # By hand: identity shortcuts and ReLU acts, so through the shortcuts alone a block hands
    # the gradient on where its pre-activation was positive (He et al. 2016, eq. 5).
    inputs, h = [], model.stem(x)
    for block in model.blocks:
        inputs.append(h)
        h = block(h)
    out = h.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(nn.functional.cross_entropy(model.head(out), y), out)
    expected = []
    for block, x_l in reversed(list(zip(model.blocks, inputs, strict=True))):
        g = g * (x_l + block.branch(x_l) > 0)
        expected.append(g.double().norm().item())
    assert path == pytest.approx(expected[::-1], rel=1e-6)


def test_paths_sum_to_the_whole_gradient(net_and_batch) -> None:
    model, (x, y) = net_and_batch
    import itertools

    total = sum(
        probes.path_gradient(model, x, y, [i for i in range(4) if bits[i]])
        for bits in itertools.product((0, 1), repeat=4)
    )
    x = x.detach().requires_grad_(True)
    (whole,) = torch.autograd.grad(nn.functional.cross_entropy(model(x), y), x)
    torch.testing.assert_close(total, whole, rtol=1e-5, atol=1e-6)


def test_lesions_zeroes_and_swaps_restore_the_model(net_and_batch) -> None:
    model, (x, _) = net_and_batch
    before = model(x)
    with probes.lesioned(model, [1]):
        h = model.units[0](model.stem(x))
        expected = model.head(model.units[3](model.units[2](torch.relu(h))))
        torch.testing.assert_close(model(x), expected)
    with probes.zeroed_blocks(model, [3]):
        torch.testing.assert_close(model(x), model.head.bias.expand(16, 3))
    with probes.swapped(model, 1, 2):
        h = model.stem(x)
        blocks = model.blocks
        swapped = Block.forward(blocks[2], Block.forward(blocks[1], blocks[0](h)))
        reordered = Block.forward(blocks[1], Block.forward(blocks[2], blocks[0](h)))
        torch.testing.assert_close(model(x), model.head(blocks[3](reordered)))
        assert not torch.equal(reordered, swapped)
    torch.testing.assert_close(model(x), before)  # every surgery undone
    assert "forward" not in model.units[1].__dict__


def test_eval_mode_restores_each_models_mode(net_and_batch) -> None:
    model, _ = net_and_batch
    other = ResidualMLP().eval()
    with probes.eval_mode(model, other):
        assert not model.training and not other.training
    assert model.training and not other.training
    with pytest.raises(RuntimeError), probes.eval_mode(model):
        raise RuntimeError
    assert model.training
