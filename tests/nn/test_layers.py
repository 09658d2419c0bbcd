from __future__ import annotations

import pytest
import torch
from torch import nn

from reslab.nn.layers import check_dims, conv1, conv3, global_avg_pool, is_norm, max_pool, norm


@pytest.mark.parametrize("dims", [1, 2])
def test_factories_match_the_dimension(dims: int) -> None:
    x = torch.randn((2, 4) + (8,) * dims)
    c = conv3(dims, 4, 6, stride=2)
    assert c.bias is None  # a BN follows every conv
    assert c(x).shape == (2, 6) + (4,) * dims  # "same" padding, then the stride
    assert conv1(dims, 4, 6)(x).shape == (2, 6) + (8,) * dims
    assert max_pool(dims)(x).shape == (2, 4) + (4,) * dims
    assert global_avg_pool(dims)(x).shape == (2, 4) + (1,) * dims
    assert is_norm(norm(dims, 4)) and not is_norm(c)


def test_grouped_conv() -> None:
    c = conv3(2, 8, 8, groups=4)
    assert isinstance(c, nn.Conv2d) and c.weight.shape == (8, 2, 3, 3)


@pytest.mark.parametrize("dims", [0, 3, "2"])
def test_unsupported_dims(dims: object) -> None:
    with pytest.raises(ValueError, match=r"dims=.*accepted values: 1 \(sequences\), 2 \(images\)"):
        check_dims(dims)  # type: ignore[arg-type]
