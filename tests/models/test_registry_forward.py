"""Every registered model builds, runs and trains (timm's registry-wide test)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reslab import create_model, list_models
from reslab.models import get_entry

HUGE = ("resnet1202", "preact_resnet1001")
INTERFACE = (
    "blocks", "stages", "forward_features", "forward_head", "check_input",
    "set_grad_checkpointing", "default_input_size", "dims", "in_channels", "num_features",
)  # fmt: skip

# Families whose natural input is not 3x32x32 / 224x224: (input size, minimum stages).
NATURAL = {"highway-mlp": ((1, 28, 28), 1)}


def family(name: str) -> str:
    return get_entry(name).family


def num_classes(name: str) -> int:
    kind = family(name)
    return 1000 if kind.startswith("imagenet") else 2 if kind == "unet" else 10


def small_batch(name: str) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:
    """(inputs, targets, the shape of the predictions' non-class axes) for one small batch."""
    if family(name) == "transformer":  # (N, T) token ids; a prediction per position
        x = torch.randint(0, 65, (2, 16))
        return x, x, (2, 16)
    # 32x32 also runs the ImageNet nets (their last stage is then 1x1) and VGG (its adaptive
    # pool upsamples to 7x7), which keeps this test fast.
    x = torch.randn(2, *NATURAL.get(family(name), ((3, 32, 32), 0))[0])
    if family(name) == "unet":  # a label per pixel
        return x, torch.tensor([0, 1]).view(2, 1, 1).expand(2, 32, 32), (2, 32, 32)
    return x, torch.tensor([0, 1]), (2,)


def test_registry_is_populated() -> None:
    assert len(list_models()) == 46
    assert set(HUGE) <= set(list_models())


@pytest.mark.parametrize("name", [n for n in list_models() if n not in HUGE])
def test_forward_backward_on_a_small_batch(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).train()
    x, targets, lead = small_batch(name)
    features = model.forward_features(x)
    pre_logits = model.forward_head(features, pre_logits=True)
    out = model.forward_head(features)
    if family(name) == "transformer":  # the class axis is last: (N, T, vocab)
        assert pre_logits.shape == (*lead, model.num_features) and out.shape == (*lead, 65)
        out = out.movedim(-1, 1)
    else:
        assert pre_logits.shape == (2, model.num_features, *lead[1:])
        assert out.shape == (2, num_classes(name), *lead[1:])
    assert torch.isfinite(out).all()
    F.cross_entropy(out, targets).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"{name}: parameters without a gradient: {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert sum(p.grad.abs().sum() for p in model.parameters()) > 0


@pytest.mark.parametrize("name", list_models())
def test_uniform_interface(name: str) -> None:
    with torch.device("meta"):  # attributes only: nothing is allocated
        model = create_model(name)
    missing = [a for a in INTERFACE if not hasattr(model, a)]
    assert not missing, f"{name} lacks {missing}"
    assert model.reslab_name == name
    if family(name) == "transformer":
        assert model.dims == 0 and model.class_dim == -1
        assert tuple(model.default_input_size) == (model.block_size,) and model.blocks
        return
    side = 224 if family(name).startswith("imagenet") else 32
    size, stages = NATURAL.get(family(name), ((3, side, side), 3))
    assert model.dims == 2 and model.in_channels == size[0]
    assert tuple(model.default_input_size) == size
    assert len(model.stages) >= stages
    assert (len(model.blocks) == 0) == (name == "vgg19")


@pytest.mark.parametrize("name", HUGE)
def test_thousand_layer_nets_run_one_forward(name: str) -> None:
    torch.manual_seed(0)
    # Train mode: with fresh BN running statistics (mean 0, var 1) an eval-mode forward through
    # hundreds of un-normalised residual additions overflows to inf/NaN at initialisation.
    model = create_model(name).train()
    assert len(model.blocks) == {"resnet1202": 3 * 200, "preact_resnet1001": 3 * 111}[name]
    with torch.no_grad():
        out = model(torch.randn(2, 3, 8, 8))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["resnet20", "plain20", "preact_resnet110"])
def test_one_dimensional_versions(name: str) -> None:
    # MNIST-1D (Greydanus & Kobak 2020): sequences of shape (N, 1, 40).
    torch.manual_seed(0)
    model = create_model(name, dims=1, in_channels=1).train()
    assert model.default_input_size == (1, 40)
    out = model(torch.randn(4, 1, 40))
    assert out.shape == (4, 10)
    assert torch.isfinite(out).all()
    F.cross_entropy(out, torch.arange(4)).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    convs = [m for m in model.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
    assert convs and all(isinstance(m, torch.nn.Conv1d) for m in convs)
