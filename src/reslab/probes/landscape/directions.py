"""Directions in parameter space, as flat vectors over ``model.parameters()`` (in that order).

Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets", section 4: a random Gaussian
direction says little about a network until each of its filters is rescaled to the norm of the
matching filter of the weights, because ReLU nets are invariant to the scale of a filter's
weights (followed by BN, exactly so). Only then do plots of different nets compare.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

# Li et al.'s reference code divides by (norm + 1e-10), so an all-zero filter stays zero.
EPS = 1e-10


def flatten(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def param_vector(model: nn.Module) -> torch.Tensor:
    """The model's parameters as one flat vector (a copy; buffers are not included)."""
    return flatten(model.parameters()).clone()


def filter_normalize(
    direction: Sequence[torch.Tensor], weights: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """Rescale each filter d_i (a slice along dim 0) to ||w_i|| (Li et al. 2018, eq. 1 and 4).

    Tensors of one dimension or less (biases, BN scales and shifts) are ZEROED, as the reference
    code does with ``ignore='biasbn'``: the plot then moves only the weights whose scale the
    normalisation is about. Linear layers count their rows as filters, like the reference code.
    """
    if len(direction) != len(weights):
        raise ValueError(f"direction has {len(direction)} tensors but weights {len(weights)}")
    out = []
    for d, w in zip(direction, weights, strict=True):
        if d.shape != w.shape:
            raise ValueError(f"direction tensor {tuple(d.shape)} != weight {tuple(w.shape)}")
        if d.dim() <= 1:
            out.append(torch.zeros_like(d))
            continue
        dims = tuple(range(1, d.dim()))
        # vector_norm, not Tensor.norm: the latter routes a 3-tuple of dims (a 2-D conv's
        # filters) to a matrix norm and fails on recent PyTorch.
        norm_w = torch.linalg.vector_norm(w, dim=dims, keepdim=True)
        scale = norm_w / (torch.linalg.vector_norm(d, dim=dims, keepdim=True) + EPS)
        out.append(d * scale)
    return out


def random_direction(model: nn.Module, seed: int) -> torch.Tensor:
    """A seeded Gaussian direction, filter-normalised to ``model``'s weights, as a flat vector
    on the model's device. Drawn on the CPU, so a seed gives the same direction on any device."""
    generator = torch.Generator().manual_seed(seed)
    weights = [p.detach().float().cpu() for p in model.parameters()]
    raw = [torch.randn(w.shape, generator=generator) for w in weights]
    device = next(model.parameters()).device
    return flatten(filter_normalize(raw, weights)).to(device)


def split_like(flat: torch.Tensor, model: nn.Module) -> list[torch.Tensor]:
    """Views of a flat vector shaped like each of ``model``'s parameters (inverse of flatten)."""
    shapes = [p.shape for p in model.parameters()]
    sizes = [s.numel() for s in shapes]
    if flat.numel() != sum(sizes):
        raise ValueError(f"flat vector has {flat.numel()} entries; the model has {sum(sizes)}")
    return [part.view(shape) for part, shape in zip(flat.split(sizes), shapes, strict=True)]
