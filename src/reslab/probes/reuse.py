"""Feature reuse (Huang et al. 2017, section 5, Figure 5): how strongly each layer of a dense block
weighs the feature maps of each earlier layer.

For a target layer t and a source s (0: the block's input, s >= 1: layer s's k new maps), the
cell is the average absolute weight of t's first conv on the input channels that came from s:
a mean over those channels, so it is normalised by the number of input feature maps, as in the
paper. After the block's L layers, one more target: the transition's conv, or for the last block
the classifier (the paper's rows "transition layer" and "classification layer").
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from reslab.models.densenet import DenseNet


def reuse_maps(model: DenseNet) -> list[np.ndarray]:
    """Per dense block, an (L + 1, L + 1) array: row t - 1 for target t (layers 1..L, then the
    transition or the classifier), column s for source s; NaN where s >= t (t reads no s)."""
    maps = []
    for i, stage in enumerate(model.stages):
        layers = list(stage.children())
        c0, k = layers[0].conv1.in_channels, layers[0].growth
        bounds = [0, c0, *(c0 + k * j for j in range(1, len(layers) + 1))]
        readers = [layer.conv1.weight for layer in layers] + [_reader_after(model, i)]
        grid = np.full((len(readers), len(readers)), np.nan)
        for t, weight in enumerate(readers):
            per_channel = _mean_abs_per_input(weight)
            for s in range(t + 1):
                grid[t, s] = per_channel[bounds[s] : bounds[s + 1]].mean().item()
        maps.append(grid)
    return maps


def old_source_weight(grid: np.ndarray) -> float:
    """The mean weight a target puts on sources older than its immediate predecessor, relative to
    its strongest source (1: as strong as the strongest; 0: earlier features unused). Averaged
    over the targets that have such sources: row t reads sources 0..t, its predecessor is t."""
    ratios = []
    for t in range(1, grid.shape[0]):
        row = grid[t, : t + 1]
        ratios.append(float(np.mean(row[:t] / row.max())))
    return float(np.mean(ratios)) if ratios else float("nan")


def _reader_after(model: DenseNet, block: int) -> torch.Tensor:
    name = f"transition{block + 1}"
    if hasattr(model.features, name):
        return getattr(model.features, name).conv.weight
    return model.classifier.weight


def _mean_abs_per_input(weight: nn.Parameter | torch.Tensor) -> torch.Tensor:
    w = weight.detach().abs().transpose(0, 1)  # (in, out, *kernel)
    return w.reshape(w.shape[0], -1).mean(1)
