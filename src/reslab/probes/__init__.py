"""Measurements any model can use: each takes a model and data and returns plain numbers.

Experiments import these; a user calls them on their own model too, as long as it exposes
``model.blocks``, its residual units in order, each with ``branch`` (F), ``shortcut`` and ``act``
(``y = act(shortcut(x) + branch(x))``); see README, "Measure your own model".

    import reslab.probes as probes
    norms = probes.gradient_norms(model, (x, y))       # per block: input, weight, activation
    with probes.lesioned(model, [3]):                  # block 3 deleted for the length of a block
        ...
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from reslab.nn.modes import eval_mode, train_mode
from reslab.probes.cost import interleaved_step_ms, shortcut_additions
from reslab.probes.deepen import deepen, max_output_change
from reslab.probes.gates import gate_stats
from reslab.probes.gradients import (
    block_gradient_norms,
    ffn_grad_norms,
    measurement_batches,
    shortcut_path_norms,
    unit_grad_rms,
)
from reslab.probes.hessian import Hessian
from reslab.probes.landscape.directions import filter_normalize, random_direction
from reslab.probes.landscape.measures import measure_surface
from reslab.probes.lesions import lesioned, random_lesions, skips_cut, swapped, zeroed_blocks
from reslab.probes.memory import memory_peak, memory_start
from reslab.probes.paths import path_gradient, path_gradients, single_path
from reslab.probes.responses import layer_responses
from reslab.probes.reuse import old_source_weight, reuse_maps
from reslab.probes.segmentation import boundary_f1_per_image, confusion, mean_iou
from reslab.probes.surgery import forwards_replaced

Batch = tuple[torch.Tensor, torch.Tensor]


def gradient_norms(model: nn.Module, batches: Batch | Sequence[Batch]) -> dict[str, np.ndarray]:
    """Per block of ``model.blocks``: "input" ||dLoss/dx_l||, "weight" ||dLoss/dtheta_l|| and
    "activation" ||x_l||, averaged over ``batches`` (one ``(x, y)`` batch or a list of them); the
    model's mode and BN statistics are left as they were (``gradients.block_gradient_norms``)."""
    if isinstance(batches, tuple) and len(batches) == 2 and isinstance(batches[0], torch.Tensor):
        batches = [batches]  # type: ignore[list-item]
    return block_gradient_norms(model, batches)  # type: ignore[arg-type]


__all__ = [
    "Hessian", "block_gradient_norms", "boundary_f1_per_image", "confusion", "deepen", "eval_mode",
    "ffn_grad_norms", "filter_normalize", "forwards_replaced", "gate_stats", "gradient_norms",
    "interleaved_step_ms", "layer_responses", "lesioned", "max_output_change", "mean_iou",
    "measure_surface", "measurement_batches", "memory_peak", "memory_start", "old_source_weight",
    "path_gradient", "path_gradients", "random_direction", "random_lesions", "reuse_maps",
    "shortcut_additions", "shortcut_path_norms", "single_path", "skips_cut", "swapped",
    "train_mode", "unit_grad_rms", "zeroed_blocks",
]  # fmt: skip
