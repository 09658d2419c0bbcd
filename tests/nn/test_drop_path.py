from __future__ import annotations

import pytest
import torch

from reslab.nn import DropPath, drop_path_rates


def test_rates_increase_linearly_to_the_final_rate() -> None:
    # Huang et al. 2016, eq. 4: p_l = l / L * p_L.
    assert drop_path_rates(0.5, 5) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert drop_path_rates(0.0, 3) == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_rate_out_of_range_names_the_argument(rate: float) -> None:
    with pytest.raises(ValueError, match=rf"drop_path_rate={rate!r}.*0 <= rate < 1"):
        drop_path_rates(rate, 4)


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_block_probability_out_of_range(p: float) -> None:
    with pytest.raises(ValueError, match=rf"p={p!r}"):
        DropPath(p)


def test_inactive_in_eval_mode() -> None:
    x = torch.randn(64, 4, 3)
    assert torch.equal(DropPath(0.9).eval()(x), x)


def test_train_mode_drops_whole_samples_and_rescales_the_rest() -> None:
    torch.manual_seed(0)
    x = torch.rand(512, 4, 3, 3) + 0.1  # strictly positive, so a zero means "dropped"
    y = DropPath(0.25).train()(x)
    dropped = (y == 0).flatten(1).all(1)
    kept = ~dropped
    assert ((y == 0).flatten(1).any(1) == dropped).all()  # all or nothing per sample
    assert torch.allclose(y[kept], x[kept] / 0.75)
    assert abs(dropped.float().mean().item() - 0.25) < 0.06  # 512 draws, ~3 sigma


def test_zero_probability_is_identity_in_train_mode() -> None:
    x = torch.randn(8, 3)
    assert torch.equal(DropPath(0.0).train()(x), x)
