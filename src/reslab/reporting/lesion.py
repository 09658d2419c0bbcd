"""Figures of the lesion study: Veit et al. 2016, Figures 3 and 5(a)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from reslab.experiments.result import Result
from reslab.reporting.figures import fig_to_png, kind_color, new_figure, plot_curves
from reslab.reporting.html import Report
from reslab.reporting.registry import register_figures

KINDS = ("residual", "plain")


def seed_arrays(arrays: dict[str, np.ndarray], kind: str, part: str) -> list[np.ndarray]:
    keys = sorted(k for k in arrays if k.startswith(f"{kind}_seed") and k.endswith(f"_{part}"))
    return [arrays[k] for k in keys]


def single_figure(arrays: dict[str, np.ndarray], downsampling: list[bool], chance: float) -> bytes:
    """Veit et al. Fig. 3: test error with each block deleted, residual vs plain, and baselines."""
    fig, ax = new_figure(size=(9, 4.2))
    x = np.arange(1, len(downsampling) + 1)
    for i, down in enumerate(downsampling):
        if down:
            ax.axvspan(i + 0.5, i + 1.5, color="0.85", lw=0)
    for kind in KINDS:
        color = kind_color(kind)
        errs = np.stack(seed_arrays(arrays, kind, "single"))  # (seeds, blocks); NaN: n/a
        std = errs.std(axis=0, ddof=1) if len(errs) > 1 else np.zeros(errs.shape[1])
        ax.errorbar(x, errs.mean(axis=0), yerr=std, color=color, marker="o", ms=4, capsize=2,
                    label=f"{kind}: block deleted")  # fmt: skip
        base = float(np.mean(seed_arrays(arrays, kind, "baseline")))
        ax.axhline(base, color=color, ls="--", lw=1, label=f"{kind}: intact ({base:.1f}%)")
    ax.axhline(chance, color="0.4", ls=":", lw=1, label=f"chance ({chance:.0f}%)")
    ax.set(xlabel="deleted block (grey: downsampling)", ylabel="test error (%)", ylim=(0, 102))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig_to_png(fig)


def random_figure(arrays: dict[str, np.ndarray], chance: float) -> bytes:
    """Veit et al. Fig. 5(a): test error vs number of random blocks deleted (k = 0: intact)."""
    fig, ax = new_figure(size=(7, 4.2))
    for kind in KINDS:
        curves = []
        for base, rand in zip(
            seed_arrays(arrays, kind, "baseline"), seed_arrays(arrays, kind, "random"), strict=True
        ):
            # One curve per (seed, draw): k = 0 is the intact net, shared by every draw.
            curves += [np.concatenate([base, rand[:, d]]) for d in range(rand.shape[1])]
        k = np.arange(len(curves[0]))
        plot_curves(ax, k, {kind: np.stack(curves)}, bold=True, colors={kind: kind_color(kind)})
    ax.axhline(chance, color="0.4", ls=":", lw=1, label=f"chance ({chance:.0f}%)")
    ax.set(xlabel="number of blocks deleted (k)", ylabel="test error (%)", ylim=(0, 102))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    return fig_to_png(fig)


@register_figures("lesion")
def figures(result: Result[Any, Any], report: Report, run_dir: Path) -> None:
    config, summary, arrays = result.config, result.summary, result.arrays()
    chance = summary["chance_err"]
    report.add_text(
        f"A residual net of depth {config.depth} ({config.block} blocks, shortcut "
        f"{config.shortcut}) and its plain twin (no shortcuts) train with one recipe "
        f"({config.recipe}); then blocks are deleted at test time only."
    )
    report.add_section("Deleting one block")
    report.add_figure(
        single_figure(arrays, summary["downsampling"], chance),
        caption="Test error when one block is deleted at test time (mean over seeds, bars ±1 "
        "std); dashed: the intact nets; grey bands: downsampling blocks, where a plain block "
        "cannot be deleted and a residual one keeps its shortcut (option A/B). Blocks are "
        "numbered from 1 here and in the verdict; the blocks table counts from 0.",
        save_as=Path(run_dir) / "lesion_single.png",
    )
    report.add_section("Deleting several blocks")
    report.add_figure(
        random_figure(arrays, chance),
        caption=f"Test error when k random same-shape blocks are deleted at once; mean over "
        f"{config.draws} draws per k and {config.seeds} seeds, band ±1 std. Both nets draw the "
        "same blocks.",
        save_as=Path(run_dir) / "lesion_random.png",
    )
    report.add_text(
        "A deleted block keeps only its shortcut: y = act(shortcut(x)), the block with F(x) = 0. "
        "For post-activation blocks with identity shortcuts x is a ReLU output, so this is "
        "Veit et al.'s identity exactly. The *damage* of a deletion is how far it moves the "
        "test error from the intact net's towards chance (0: no effect, 1: chance). The verdict "
        "calls the residual net *ensemble-like* when its median damage over the same-shape "
        "blocks is below 0.2 and below the plain twin's; the plain net *collapses* when its "
        "median damage is above 0.8. In the tables, the intact nets' training error is measured "
        "on the whole training split in eval mode; a blocks row has no plain error (—) where a "
        "plain block changes shape and has no identity to fall back to."
    )
