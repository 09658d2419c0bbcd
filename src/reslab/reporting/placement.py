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
    threshold_table(report, result.summary.get("thresholds", {}))


def threshold_table(report: Report, sizes: dict[str, Any]) -> None:
    """The calibration runs the quick preset's thresholds were sized on, apart from the
    confirmation runs above, and the sizes this run used."""
    if not sizes:
        return
    seeds = sizes["calibration_seeds"]
    rows = [
        [v, ", ".join(f"{x:.1f}" for x in c["test_err"]), ", ".join(f"{x:.3f}" for x in
                                                                   c["early_loss"])]
        for v, c in sizes["calibration"].items()
    ]  # fmt: skip
    report.add_section("Thresholds, sized on calibration seeds")
    report.add_text(
        f"The quick preset's thresholds come from one calibration run of it on seeds "
        f"{', '.join(map(str, seeds))}, apart from the confirmation seeds above: a gap between "
        "two placements counts only beyond the widest spread between two seeds of one of the "
        f"placements it compares. Sized: {sizes['sized']['min_test_gap']:.1f} points of test "
        f"error (BN after the addition against the original, besides 5% of the original's), a "
        f"factor {sizes['sized']['min_early_ratio']:.3f} of early training loss (the original "
        f"against full pre-activation). This run used {sizes['min_test_gap']:.1f} points and a "
        f"factor {sizes['min_early_ratio']:.3f}."
    )
    report.add_table(
        ["placement", "test error % per calibration seed", "early training loss per seed"], rows
    )
