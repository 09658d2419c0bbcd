"""The mnist1d recipe's promise: ResNet-20 (1-D) reaches >= 98% test accuracy on MNIST-1D."""

from __future__ import annotations

import pytest

from reslab.training import train


@pytest.mark.slow
def test_mnist1d_recipe_reaches_98_percent() -> None:
    # About a minute on 2 CPU cores (the MNIST-1D paper's CNN baseline is ~94%).
    result = train("resnet20", "mnist1d", "mnist1d", seed=0, device="cpu", quiet=True)
    assert result.status == "completed" and result.steps == 310  # 10 epochs of 31 batches
    assert result.final["test_err"] <= 0.02
