"""The gradient highway (He et al. 2016, "Identity Mappings in Deep Residual Networks", eq. 4-5).

With identity shortcuts and nothing after the addition, x_L = x_l + sum_{i=l}^{L-1} F(x_i), so
dL/dx_l = dL/dx_L (1 + d/dx_l sum F): every block's input gradient contains the top gradient
unchanged and cannot vanish through depth. A plain net has no such term: its gradient is a
product of L Jacobians and may shrink or grow exponentially. The post-activation nets of He et
al. 2015 put a ReLU after the addition, so their highway crosses one ReLU per block (He et al.
2016, 3 and 4.1); pre-activation nets are the pure identity. We measure, per block, the L2 norm
of the loss gradient w.r.t. the block's input and w.r.t. its parameters, for plain, residual
(post-activation) and pre-activation nets, at initialisation and after N training steps with one
recipe, and compare the first block with the last one. ``norms.py`` takes the measurement.
"""

from __future__ import annotations

from reslab.experiments.gradients.config import (
    ARCHS,
    FLAT,
    KINDS,
    PARTS,
    PHASES,
    PRESETS,
    GradientsConfig,
    Kind,
    check,
    train_config,
)
from reslab.experiments.gradients.experiment import run
from reslab.experiments.gradients.measure import build_net, measure_one
from reslab.experiments.gradients.norms import block_gradient_norms, measurement_batches
from reslab.experiments.gradients.records import GradientRecord, GradientsResult, Verdict
from reslab.experiments.gradients.verdict import first_last_ratio, growth_law, judge, summarize

__all__ = [
    "ARCHS",
    "FLAT",
    "KINDS",
    "PARTS",
    "PHASES",
    "PRESETS",
    "GradientRecord",
    "GradientsConfig",
    "GradientsResult",
    "Kind",
    "Verdict",
    "block_gradient_norms",
    "build_net",
    "check",
    "first_last_ratio",
    "growth_law",
    "judge",
    "measure_one",
    "measurement_batches",
    "run",
    "summarize",
    "train_config",
]
