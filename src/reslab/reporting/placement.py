"""Report figure of the activation-placement experiment (He et al. 2016, Fig. 4 and Table 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reslab.experiments.result import Result
from reslab.reporting.ablation import add_ablation_figure
from reslab.reporting.html import Report
from reslab.reporting.registry import register_figures


@register_figures("placement")
def figures(result: Result[Any, Any], report: Report, run_dir: Path) -> None:
    column = "paper_test_err_164" if result.config.block == "bottleneck" else "paper_test_err_110"
    add_ablation_figure(
        result,
        report,
        run_dir,
        column,
        caption="Left: test error per placement of BN and ReLU (Fig. 4), mean ± std over seeds; "
        "diamonds: He et al. 2016, Table 2 (CIFAR-10: the reference, on its own data). "
        "Middle and right: per-block norm of the loss gradient w.r.t. the block's input. A BN "
        "or ReLU after the addition sits on the shortcut path, so each block rescales or masks "
        "the gradient passing through it; the pre-activation placements leave the path a pure "
        "identity.",
    )
