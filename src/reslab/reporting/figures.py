"""Matplotlib helpers: figures made without pyplot, one style, one colour code for all reports.

Figures are `matplotlib.figure.Figure` objects rendered by the Agg canvas directly, so nothing
is registered in pyplot's global figure list (no leaks across a long sweep, no GUI backend).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
}

# One hue family per architecture so every report reads alike: plain nets warm, residual cool,
# pre-activation (He et al. 2016b, "Identity Mappings in Deep Residual Networks") green.
KIND_CMAPS: dict[str, str] = {"plain": "Reds", "residual": "Blues", "preact": "Greens"}
KIND_COLORS: dict[str, str] = {"plain": "#d62728", "residual": "#1f77b4", "preact": "#2ca02c"}
_KIND_ALIASES = {"pre-activation": "preact", "preactivation": "preact", "resnet": "residual"}

# He et al. 2016, Fig. 4 convention: thin curves are training error, bold ones test error.
THIN_WIDTH, BOLD_WIDTH = 1.0, 2.2
BAND_ALPHA = 0.2


@contextmanager
def styled() -> Iterator[None]:
    """The report style for artists created inside the block (rcParams restored after)."""
    with mpl.rc_context(STYLE):
        yield


def new_figure(
    nrows: int = 1, ncols: int = 1, *, size: tuple[float, float] = (6.0, 4.0), **subplot_kw: Any
) -> tuple[Figure, Any]:
    """A styled Figure and its axes (an Axes, or an array of them), outside pyplot."""
    with styled():
        fig = Figure(figsize=size, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=True, subplot_kw=subplot_kw or None)
    return fig, axes


def fig_to_png(fig: Figure, *, dpi: int | None = None) -> bytes:
    """Render with the Agg canvas (never the pyplot backend) and return PNG bytes."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig_to_png got {type(fig).__name__}; accepted: matplotlib Figure")
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    with styled():
        fig.savefig(buf, format="png", dpi=dpi or STYLE["savefig.dpi"])
    return buf.getvalue()


def canonical_kind(kind: str) -> str:
    key = _KIND_ALIASES.get(kind.lower(), kind.lower())
    if key not in KIND_CMAPS:
        accepted = sorted([*KIND_CMAPS, *_KIND_ALIASES])
        raise ValueError(f"kind={kind!r} is unknown; accepted: {', '.join(accepted)}")
    return key


def kind_color(kind: str) -> str:
    return KIND_COLORS[canonical_kind(kind)]


def depth_colors(depths: Sequence[int], kind: str = "residual") -> dict[int, tuple[float, ...]]:
    """Shallow light, deep dark, within the hue family of `kind` (ordered by depth, not input)."""
    cmap = mpl.colormaps[KIND_CMAPS[canonical_kind(kind)]]
    ordered = sorted(set(depths))
    # 0.35..0.95 of the map: the lightest end is nearly white and vanishes on a white page.
    shades = np.linspace(0.35, 0.95, len(ordered)) if len(ordered) > 1 else [0.75]
    return {
        d: tuple(float(c) for c in cmap(float(s))) for d, s in zip(ordered, shades, strict=True)
    }


def plot_curves(
    ax: Axes,
    x: Sequence[float] | np.ndarray,
    curves_by_label: Mapping[str, np.ndarray],
    *,
    bold: bool = False,
    colors: Mapping[str, Any] | None = None,
    linestyle: str = "-",
    band: bool = True,
) -> dict[str, Line2D]:
    """Mean line and ±1 std band (sample std over seeds) for each (seeds x steps) array.

    A 1-D array is a single seed (no band). Returns the mean line of each label.
    """
    x = np.asarray(x, dtype=np.float64)
    lines: dict[str, Line2D] = {}
    for i, (label, curves) in enumerate(curves_by_label.items()):
        runs = _as_runs(label, curves, len(x))
        color = (colors or {}).get(label, f"C{i % 10}")
        mean = runs.mean(axis=0)
        width = BOLD_WIDTH if bold else THIN_WIDTH
        (line,) = ax.plot(x, mean, color=color, linestyle=linestyle, label=label, linewidth=width)
        if band and runs.shape[0] > 1:
            std = runs.std(axis=0, ddof=1)
            ax.fill_between(x, mean - std, mean + std, color=color, alpha=BAND_ALPHA, lw=0)
        lines[label] = line
    return lines


def _as_runs(label: str, curves: np.ndarray, steps: int) -> np.ndarray:
    runs = np.asarray(curves, dtype=np.float64)
    if runs.ndim == 1:
        runs = runs[None, :]
    if runs.ndim != 2 or runs.shape[1] != steps:
        raise ValueError(
            f"curves[{label!r}] has shape {np.shape(curves)}; accepted: (seeds, {steps}) or "
            f"({steps},) to match len(x)={steps}"
        )
    return runs
