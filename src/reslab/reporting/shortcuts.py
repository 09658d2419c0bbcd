"""Report figure of the shortcut-variants experiment (He et al. 2016, Table 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reslab.experiments.result import Result
from reslab.reporting.ablation import add_ablation_figure
from reslab.reporting.html import Report
from reslab.reporting.registry import register_figures


@register_figures("shortcuts")
def figures(result: Result[Any, Any], report: Report, run_dir: Path) -> None:
    add_ablation_figure(
        result,
        report,
        run_dir,
        "paper_test_err",
        caption="Left: test error per shortcut variant, mean ± std over seeds; diamonds: He et "
        "al. 2016, Table 1 (ResNet-110 on CIFAR-10: the reference, on its own data). Middle and "
        "right: per-block norm of the loss gradient w.r.t. the block's input. A scaled or gated "
        "shortcut multiplies the gradient reaching block l by a factor per later block (eq. 7 "
        "of the paper). Top right: the same backward pass through the shortcuts alone (every "
        "branch's output detached): the term that eq. 7 is about, prod(lambda) for a scaled "
        "shortcut; bottom right: after training.",
    )
    report.add_text(
        "shortcut_path_first_over_last_init in the table is the first block's input-gradient "
        "norm over the last block's at initialisation, through the shortcuts alone: the "
        "identity's is below 1 only by the ReLU masks after each addition, a scaled shortcut's "
        "adds a factor lambda per block in between. grad_first_over_last_init is the same ratio "
        "for the whole gradient: at initialisation the branches dominate it, since BN rescales "
        "each branch's Jacobian by 1/std(x_l), which a scaled shortcut keeps small. The "
        "'vs_identity' column compares test error "
        "with the identity net's: a gap counts when it exceeds 1 point and twice its standard "
        "error over seeds."
    )
