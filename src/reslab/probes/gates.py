"""What the transform gates do after training (Srivastava et al. 2015, Figure 2): per highway
layer, the mean output of T(x) over samples and units, how much it varies between units, and the
mean gate bias b_T."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from reslab.data import DataBundle, make_loader
from reslab.models.highway import HighwayNet
from reslab.nn.modes import eval_mode


@dataclass
class GateStats:
    t_mean: list[float]  # per layer: mean T(x) over samples and units
    t_unit_std: list[float]  # per layer: std over units of each unit's mean T(x)
    bias_mean: list[float]  # per layer: mean b_T over units


@torch.no_grad()
def gate_stats(
    model: HighwayNet, bundle: DataBundle, device: torch.device, batch_size: int = 1000
) -> GateStats:
    """Over the whole test split, eval mode. A net without gates (plain, residual) gives empty
    lists."""
    gated = [b for b in model.blocks if b.gate is not None]
    if not gated:
        return GateStats([], [], [])
    # Per unit (channel): the sum of T over samples (and positions), and how many were summed.
    sums = [torch.zeros((), dtype=torch.float64) for _ in gated]
    counts = [0] * len(gated)

    def recorder(i: int, gate: torch.nn.Module) -> Callable[..., None]:
        def hook(_module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            t = gate(args[0]).double()  # T of the unit's own input
            sums[i] = sums[i] + t.sum(dim=[0, *range(2, t.dim())]).cpu()
            counts[i] += t.numel() // t.shape[1]

        return hook

    hooks = [b.register_forward_pre_hook(recorder(i, b.gate)) for i, b in enumerate(gated)]
    try:
        loader = make_loader(bundle, "test", batch_size=batch_size, train=False, device=device)
        with eval_mode(model):
            for x, _y in loader:
                model(x)
    finally:
        for hook in hooks:
            hook.remove()
    per_unit = [s / n for s, n in zip(sums, counts, strict=True)]
    return GateStats(
        t_mean=[float(u.mean()) for u in per_unit],
        t_unit_std=[float(u.std()) if u.numel() > 1 else 0.0 for u in per_unit],
        bias_mean=[float(b.gate.affine.bias.double().mean()) for b in gated],
    )
