"""Structural invariants: what each option changes, and only that."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch
from torch import nn

from reslab import create_model
from reslab.blocks import ResidualBlock
from reslab.models import VGG, cifar_resnet
from reslab.nn import DropPath, drop_path_rates


@contextmanager
def block_io(model: nn.Module) -> Iterator[list[tuple[ResidualBlock, torch.Tensor, torch.Tensor]]]:
    """Record (block, input, output) for every residual block during a forward pass."""
    records: list[tuple[ResidualBlock, torch.Tensor, torch.Tensor]] = []
    handles = [
        b.register_forward_hook(lambda m, i, o: records.append((m, i[0].clone(), o.clone())))
        for b in model.blocks
    ]
    try:
        yield records
    finally:
        for h in handles:
            h.remove()


def shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def meta(name: str, **kw: object) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kw)


# --- plain vs residual ----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_cifar_plain_and_resnet_have_identical_state_dicts(depth: int) -> None:
    # Option A shortcuts are parameter-free: the only difference is the addition itself.
    assert shapes(meta(f"plain{depth}")) == shapes(meta(f"resnet{depth}"))


@pytest.mark.parametrize("depth", [18, 34])
def test_imagenet_plain_differs_from_resnet_only_by_projections(depth: int) -> None:
    plain, res = shapes(meta(f"plain{depth}")), shapes(meta(f"resnet{depth}"))
    assert set(plain) < set(res)
    assert {k for k in res if k not in plain} == {k for k in res if ".downsample." in k}
    assert all(res[k] == v for k, v in plain.items())


def test_plain_and_resnet_module_types_differ_only_in_the_shortcut() -> None:
    plain, res = meta("plain18"), meta("resnet18")
    shortcut_names = ("shortcut_op", "downsample")

    def types(m: nn.Module) -> dict[str, type]:
        return {n: type(x) for n, x in m.named_modules() if not n.endswith(shortcut_names)
                and ".downsample." not in n}  # fmt: skip

    assert types(plain) == types(res)
    assert all(b.is_plain for b in plain.blocks) and not any(b.is_plain for b in res.blocks)


def test_plain_block_with_resnet_weights_is_relu_of_the_branch_alone() -> None:
    torch.manual_seed(0)
    res, plain = create_model("resnet20").eval(), create_model("plain20").eval()
    plain.load_state_dict(res.state_dict(), strict=True)
    x = torch.randn(2, 16, 32, 32)
    with torch.no_grad():
        for pb, rb in zip(plain.blocks, res.blocks, strict=True):
            branch = rb.branch(x)
            assert torch.equal(pb(x), torch.relu(branch))
            assert torch.equal(rb(x), torch.relu(rb.shortcut(x) + branch))
            x = rb(x)


# --- zero-initialised residual branches -----------------------------------------------------


@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize(
    "make",
    [
        lambda: create_model("resnet20", zero_init_residual=True),
        lambda: create_model("resnet20", zero_init_residual=True, shortcut="C"),
        lambda: create_model("resnet18", zero_init_residual=True, shortcut="A"),
        lambda: create_model("resnet50", zero_init_residual=True),
        # The builder behind preact_resnet164, at depth 29 to stay fast.
        lambda: cifar_resnet(29, block="preact_bottleneck", shortcut="B", zero_init_residual=True),
    ],
    ids=["resnet20", "resnet20-C", "resnet18-A", "resnet50", "preact_bottleneck29"],
)
def test_zero_init_residual_makes_every_block_its_shortcut(
    make: Callable[[], nn.Module], train: bool
) -> None:
    torch.manual_seed(0)
    model = make().train(train)
    with block_io(model) as records, torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
        for block, x, y in records:
            assert torch.equal(y, block.act(block.shortcut(x.clone())))
    assert len(records) == len(model.blocks)
    if model.block_kind.startswith("preact"):  # nothing at all on the identity path
        same = [(x, y) for b, x, y in records if not b.changes_shape]
        assert same and all(torch.equal(x, y) for x, y in same)


@pytest.mark.parametrize("name", ["preact_resnet110", "preact_resnet164", "wide_resnet28_10"])
def test_preact_identity_path_is_clean(name: str) -> None:
    model = meta(name)
    for b in model.blocks:
        assert isinstance(b.act, nn.Identity)
        if not b.changes_shape:
            assert isinstance(b.shortcut, nn.Identity)
        else:  # a bare 1x1 conv: no BN or ReLU put back on the shortcut
            assert [type(m) for m in b.shortcut] == [nn.Conv2d]
    assert not hasattr(model, "bn1")  # the stem is a bare conv; the first block normalises
    assert isinstance(model.final_act[0], nn.BatchNorm2d)


def test_option_c_projects_every_block() -> None:
    model = meta("resnet20", shortcut="C")
    assert all(isinstance(b.shortcut, nn.Sequential) for b in model.blocks)
    assert all(isinstance(b.shortcut, nn.Identity) for b in meta("resnet20", shortcut="B").blocks
               if not b.changes_shape)  # fmt: skip


# --- stochastic depth ------------------------------------------------------------------------


def test_drop_path_rates_increase_linearly_over_the_blocks() -> None:
    model = meta("resnet56", drop_path_rate=0.5)
    rates = [b.drop_path.p for b in model.blocks]
    assert rates == pytest.approx(drop_path_rates(0.5, 27))
    assert rates[-1] == pytest.approx(0.5) and rates[0] == pytest.approx(0.5 / 27)
    assert all(isinstance(b.drop_path, nn.Identity) for b in meta("resnet56").blocks)


def test_drop_path_is_inactive_in_eval_mode() -> None:
    torch.manual_seed(0)
    dropped = create_model("resnet20", drop_path_rate=0.5).eval()
    plain = create_model("resnet20").eval()
    plain.load_state_dict(dropped.state_dict(), strict=True)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(dropped(x), plain(x))


def test_drop_path_in_train_mode_leaves_exactly_the_shortcut_for_some_samples() -> None:
    torch.manual_seed(0)
    model = create_model("resnet20", drop_path_rate=0.5).train()
    last = model.blocks[-1]
    assert isinstance(last.drop_path, DropPath) and last.drop_path.p == pytest.approx(0.5)
    with block_io(model) as records, torch.no_grad():
        model(torch.randn(32, 3, 32, 32))
        _, x, y = records[-1]
        shortcut_only = last.act(last.shortcut(x.clone()))
        full = last.act(last.shortcut(x.clone()) + last.branch(x) / 0.5)
    dropped = (y == shortcut_only).flatten(1).all(1)
    assert 0 < int(dropped.sum()) < 32
    assert torch.allclose(y[~dropped], full[~dropped], atol=1e-5)


# --- ResNet v1 vs v1.5 ------------------------------------------------------------------------


def test_stride_in_1x1_moves_the_stride_and_keeps_the_parameters() -> None:
    v15, v1 = meta("resnet50"), meta("resnet50", stride_in_1x1=True)
    assert shapes(v15) == shapes(v1)
    for stage in ("layer2", "layer3", "layer4"):
        assert getattr(v1, stage)[0].conv1.stride == (2, 2)
        assert getattr(v1, stage)[0].conv2.stride == (1, 1)
        assert getattr(v15, stage)[0].conv1.stride == (1, 1)
        assert getattr(v15, stage)[0].conv2.stride == (2, 2)


# --- gradient checkpointing -------------------------------------------------------------------


def train_step(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], int]:
    """Loss, gradients, and how often the units checkpointing wraps (ResNet blocks, VGG stages)
    started a forward: pre-hooks, because the non-reentrant checkpoint stops recomputing a unit as
    soon as it has what backward needs, so a unit's later layers may legitimately not run again."""
    calls: list[int] = []
    units = model.blocks or [stage[0] for stage in model.stages]
    hooks = [u.register_forward_pre_hook(lambda *_: calls.append(1)) for u in units]
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the same drop-path / dropout masks in both runs
    loss = model(x).square().mean()
    loss.backward()
    for h in hooks:
        h.remove()
    return loss.detach(), [p.grad for p in model.parameters()], len(calls)


@pytest.mark.parametrize(
    "make",
    [
        lambda: create_model("resnet20", drop_path_rate=0.2),
        lambda: create_model("resnet18", shortcut="C"),
        # The builders behind preact_resnet164 and vgg19, small: the same code paths, fast.
        lambda: cifar_resnet(11, block="preact_bottleneck", shortcut="B"),
        lambda: VGG((8, 8, "M", 16, "M", 16), num_classes=10),
    ],
    ids=["resnet20-drop-path", "resnet18-C", "preact_bottleneck11", "vgg"],
)
def test_grad_checkpointing_gives_the_same_loss_and_gradients(
    make: Callable[[], nn.Module],
) -> None:
    # Checkpointing acts in train mode only (there is nothing to save in eval); BN then uses batch
    # statistics, which are the same when the forward is recomputed, so results must agree.
    torch.manual_seed(0)
    model = make().train()
    checkpointed = copy.deepcopy(model)
    checkpointed.set_grad_checkpointing(True)
    x = torch.randn(2, 3, 32, 32)
    loss, grads, n_units = train_step(model, x)
    loss_ckpt, grads_ckpt, n_units_ckpt = train_step(checkpointed, x)
    assert n_units_ckpt == 2 * n_units  # every unit recomputed in backward
    assert torch.equal(loss, loss_ckpt)
    for g, gc in zip(grads, grads_ckpt, strict=True):
        torch.testing.assert_close(gc, g, rtol=1e-5, atol=1e-7)
    # The recomputation must not update BN's running statistics a second time.
    for (name, b), (_, bc) in zip(model.named_buffers(), checkpointed.named_buffers(), strict=True):
        assert torch.equal(b, bc), name


def test_vgg_stages_are_views_between_pools() -> None:
    model = VGG((8, 8, "M", 16, "M", 16), num_classes=10)
    stages = model.stages
    assert [len(s) for s in stages] == [5, 3, 2]
    assert stages[0][0] is model.features[0] and stages[-1][-1] is model.features[-1]
    assert len(meta("vgg19").stages) == 5
    assert model.num_features == 16 * 7 * 7
