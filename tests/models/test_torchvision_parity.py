"""Every ImageNet name torchvision also has loads its weights strictly and computes the same."""

from __future__ import annotations

import pytest
import torch
import torchvision

from reslab import create_model

NAMES = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
         "wide_resnet50_2", "vgg19"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_loads_torchvision_weights_and_matches_its_outputs(name: str) -> None:
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)().eval()
    ours = create_model(name).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(ours.state_dict(), strict=True)  # and no extra keys the other way
    # 64x64 keeps this fast; VGG's adaptive pool still feeds its 7x7x512 head.
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    assert got.shape == expected.shape == (1, 1000)
    # Relative to the outputs' scale: untrained nets in eval mode reach 1e7 (resnet152), where
    # one rounding step is ~1 in absolute terms. Measured: identical outputs (difference 0) for
    # every name, seeds 0-2, under ATEN_CPU_CAPABILITY=default and =avx2; a wrong layer gives
    # differences of the order of the outputs themselves.
    scale = expected.abs().max().item()
    assert scale > 1e-3  # the comparison is not between two zero tensors
    assert (got - expected).abs().max().item() <= 1e-5 * scale
