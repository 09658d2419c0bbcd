"""Figures of the gradient-highway experiment (He et al. 2016, eq. 5): per-block gradient norms."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from reslab.experiments.result import Result
from reslab.reporting.figures import depth_colors, fig_to_png, kind_color, new_figure, plot_curves
from reslab.reporting.html import Report
from reslab.reporting.registry import register_figures

KINDS = ("plain", "residual", "preact")
NAMES = {"plain": "plain", "residual": "residual", "preact": "pre-activation"}
PARTS = {
    "input": "‖∂L/∂x_l‖ (block input)",
    "weight": "‖∂L/∂θ_l‖ (block weights)",
    "activation": "‖x_l‖ (block input)",
}


def log_profiles(
    arrays: dict[str, np.ndarray], kind: str, depth: int, name: str
) -> np.ndarray | None:
    """(seeds, blocks) of log10 norms for one net and one "<part>_<phase>"; nan where a norm is
    not finite or not positive: a gap in the line, not an infinite axis."""
    keys = sorted(k for k in arrays if k.startswith(f"{kind}{depth}_seed") and k.endswith(name))
    if not keys:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(np.stack([arrays[k] for k in keys]).astype(float))
    logs[~np.isfinite(logs)] = np.nan
    return logs


# Norms span dozens of orders of magnitude: curves are drawn as log10 values, so the mean over
# seeds is a geometric mean and the band a factor, never a negative norm on a log axis.
def profiles_png(
    arrays: dict[str, np.ndarray], depths: list[int], phases: list[str], steps: int
) -> bytes:
    fig, axes = new_figure(len(PARTS), len(phases), size=(5.5 * len(phases), 9.5))
    axes = np.asarray(axes).reshape(len(PARTS), len(phases))
    for col, phase in enumerate(phases):
        for row, part in enumerate(PARTS):
            _draw_profiles(axes[row, col], arrays, depths, f"{part}_{phase}")
            axes[row, col].set_ylabel(f"log₁₀ {PARTS[part]}")
        axes[0, col].set_title("at initialisation" if phase == "init" else f"after {steps} steps")
        axes[-1, col].set_xlabel("relative depth of the block (0: first, 1: last)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(depths), fontsize=8)
    return fig_to_png(fig)


def _draw_profiles(ax: Any, arrays: dict[str, np.ndarray], depths: list[int], name: str) -> None:
    for kind in KINDS:
        colors = depth_colors(depths, kind)
        for depth in depths:
            logs = log_profiles(arrays, kind, depth, name)
            if logs is None:
                continue
            label = f"{NAMES[kind]}-{depth}"
            x = np.linspace(0.0, 1.0, logs.shape[1]) if logs.shape[1] > 1 else np.zeros(1)
            plot_curves(ax, x, {label: logs}, colors={label: colors[depth]})


def ratio_png(
    arrays: dict[str, np.ndarray], depths: list[int], phases: list[str], steps: int, flat: float
) -> bytes:
    fig, axes = new_figure(1, 2, size=(11, 4.2))
    band = math.log10(flat)
    for ax, part in zip(axes, ("input", "weight"), strict=True):
        ax.axhspan(-band, band, color="0.5", alpha=0.12, lw=0, label=f"within ×{flat:g} of 1")
        for kind in KINDS:
            for phase in phases:
                _draw_ratio(ax, arrays, depths, kind, f"{part}_{phase}", steps)
        ax.set(xscale="log", xlabel="depth (layers)", title=PARTS[part])
        ax.set_xticks(depths, labels=[str(d) for d in depths], minor=False)
        ax.set_xticks([], minor=True)
        ax.set_ylabel("log₁₀ (first / last block norm)")
    axes[0].legend(fontsize=8)
    return fig_to_png(fig)


def _draw_ratio(ax: Any, arrays: dict[str, np.ndarray], depths: list[int], kind: str, name: str,
                steps: int) -> None:  # fmt: skip
    measured = {
        d: logs for d in depths if (logs := log_profiles(arrays, kind, d, name)) is not None
    }
    if not measured:
        return
    log_ratios = np.stack([logs[:, 0] - logs[:, -1] for logs in measured.values()], axis=1)
    init = name.endswith("_init")
    label = f"{NAMES[kind]} {'at init' if init else f'after {steps} steps'}"
    lines = plot_curves(ax, list(measured), {label: log_ratios}, colors={label: kind_color(kind)},
                        linestyle="-" if init else "--")  # fmt: skip
    lines[label].set_marker("o" if init else "s")
    if not init:
        lines[label].set_markerfacecolor("white")


def law_rows(laws: dict[str, dict[str, str]], steps: int) -> list[list[str]]:
    when = {"init": "at initialisation", "trained": f"after {steps} steps"}
    return [[when[phase], *(by_kind[k] for k in KINDS)] for phase, by_kind in laws.items()]


@register_figures("gradients")
def figures(result: Result[Any, Any], report: Report, run_dir: Path) -> None:
    config, numbers = result.config, result.verdict.numbers
    depths, steps = sorted(config.depths), config.steps
    laws: dict[str, dict[str, str]] = numbers["laws"]
    phases, flat = list(laws), float(numbers["flat"])
    arrays = result.arrays()
    profiles = profiles_png(arrays, depths, phases, steps)
    ratios = ratio_png(arrays, depths, phases, steps, flat)
    (Path(run_dir) / "gradients_profiles.png").write_bytes(profiles)
    (Path(run_dir) / "gradients_ratio.png").write_bytes(ratios)
    text = (
        f"Nets of {config.block} blocks, each measured at initialisation on the same "
        f"{_batches(config)} (the first of the train split, in order)"
    )
    if "trained" in phases:
        text += (
            f", then trained {steps} steps with the {config.recipe} recipe "
            f"({_trained(config)}) and measured again"
        )
    report.add_text(text + ".")
    _add_profiles(report, profiles, config)
    _add_ratios(report, ratios, laws, steps, flat)


def _batches(config: Any) -> str:
    return f"{config.batches} batch{'es' if config.batches != 1 else ''} of {config.batch_size}"


def _trained(config: Any) -> str:
    if config.train_max_depth is None:
        return "every depth"
    return f"depths up to {config.train_max_depth}"


def _add_profiles(report: Report, png: bytes, config: Any) -> None:
    report.add_section("Norms along the depth")
    report.add_figure(
        png,
        caption="Per block, log₁₀ of the L2 norm (over a whole batch) of the loss gradient "
        "w.r.t. the block's input (top) and its weights (middle), and of the block's input "
        f"itself (bottom); mean over {_batches(config)}. "
        "Line: mean of log₁₀ over seeds (a geometric mean), band ±1 std. Red: plain, blue: "
        "residual (post-activation), green: pre-activation; darker is deeper. Gaps are "
        "non-finite values (overflow, divergence).",
    )
    report.add_text(
        "With identity shortcuts, x_L = x_l + Σ F(x_i), so ∂L/∂x_l = ∂L/∂x_L (1 + ∂/∂x_l Σ F) "
        "(He et al. 2016, eq. 5): the gradient at the top reaches every block directly. A plain "
        "net multiplies one Jacobian per layer instead. The input gradient of a net with "
        "normalised branches also scales as 1/‖x_l‖ (a BN layer divides by its input's scale), "
        "so the bottom row shows how much of a slope comes from growing activations."
    )


def _add_ratios(
    report: Report, png: bytes, laws: dict[str, dict[str, str]], steps: int, flat: float
) -> None:
    report.add_section("First / last block")
    report.add_figure(
        png,
        caption="log₁₀ of the ratio of the first block's norm to the last block's; line: mean "
        "over seeds of log₁₀ (a geometric mean; the summary table gives arithmetic means), band "
        f"±1 std; grey: within a factor {flat:g} of 1. Solid: at initialisation, dashed: after "
        "training. A missing point is a non-finite ratio (see the table).",
    )
    report.add_table(
        ["input-gradient ratio vs depth", *(NAMES[k] for k in KINDS)],
        law_rows(laws, steps),
        caption="How the ratio grows with the number of blocks n, from the shallowest to the "
        "deepest net.",
    )
    report.add_text(
        "In the summary table, *input ratio* is the first/last block norm ratio of the input "
        "gradient and *weight ratio* that of the weight gradient, at initialisation (init) and "
        "after training (trained): mean ± std over the seeds whose ratio is finite. Non-finite "
        "ratios (overflow or divergence) are counted in the *nonfinite* columns, not averaged."
    )
    report.add_text(
        "Growth law: the deepest net's ratio r is compared, in log space, with two "
        "extrapolations from the shallowest: *exponential* (ln r ∝ n − 1, a product of per-block "
        "factors) and *power-law* (ln r ∝ ln n, the slow growth of a residual sum). *flat*: the "
        f"deepest ratio is within ×{flat:g} of 1. The verdict holds when the residual and "
        "pre-activation ratios at initialisation are flat or power-law and never vanish, and the "
        "plain one is exponential or overflows."
    )
