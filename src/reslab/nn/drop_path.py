"""Stochastic depth (Huang et al. 2016): drop a block's residual branch per sample in training."""

from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"DropPath p={p!r} is out of range; accepted values: 0 <= p < 1")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        # Rescale so the expected output equals the eval-time output (timm / Huang et al. 2016, 3).
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


def drop_path_rates(rate: float, n_blocks: int) -> list[float]:
    if not 0.0 <= rate < 1.0:
        # Checked here, on the model's argument: a negative rate would otherwise silently disable
        # stochastic depth, and a rate >= 1 would be reported under a per-block value.
        raise ValueError(f"drop_path_rate={rate!r} is out of range; accepted values: 0 <= rate < 1")
    # Linear decay rule (Huang et al. 2016, eq. 4): p_l = l / L * p_L, so the first block is almost
    # never dropped and the last is dropped with probability p_L.
    return [rate * (i + 1) / n_blocks for i in range(n_blocks)]
