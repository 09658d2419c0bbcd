"""Figures of the gradient-highway experiment (He et al. 2016, eq. 5): per-block gradient norms."""

from __future__ import annotations

import math
import re
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import to_rgb

from reslab.experiments.result import Result
from reslab.reporting.figures import (
    KIND_COLORS,
    depth_colors,
    fig_to_png,
    kind_color,
    new_figure,
    plot_curves,
)
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


# -- the interactive highway (He et al. 2016, eq. 5) ----------------------------------------------
# The reader picks a net, a depth and a moment and sees that net's input-gradient norm per block:
# the fade through a plain stack, then the skip connection, then the full residual stream.

MOMENTS = ("init", "trained")  # button order; phases a later measurement adds follow, sorted
OTHER_COLOR = "#7f7f7f"  # kinds without a colour of their own (shortcut variants added later)
MENUS = ("net", "depth", "moment")  # the button rows, top to bottom: the keys of the views
# px: the figure, its title, a row of buttons, the space between the buttons and the plot
HIGHWAY_HEIGHT, TITLE_PX, ROW_PX, GAP_PX = 600, 44, 36, 10
Key = tuple[int, int, int]  # a view: indices into the kinds, depths and moments
MARKED_BLOCKS = 60
# Plotly's updatemenus cannot combine independent menus: a button applies a fixed restyle, never
# one that depends on what the other menus show. So the buttons "skip" (Plotly still draws them
# and records which one is active), and this listener joins the active indices into a key of
# layout.meta.views (every combination, precomputed in Python) and applies that view. The
# figure stays one Plotly spec that the tests read without a browser.
HIGHWAY_JS = (
    'gd.on("plotly_buttonclicked",function(){'
    'var key=gd.layout.updatemenus.map(function(m){return m.active;}).join(",");'
    "var view=gd.layout.meta.views[key];"
    "Plotly.update(gd,{visible:view.visible},view.layout);});"
)


def net_choices(rows: list[dict[str, Any]]) -> tuple[list[str], list[int]]:
    """The kinds (the paper's order, then any others as they come) and depths of the summary's
    nets: shortcut variants added to the measurement get their buttons with no change here."""
    found = list(dict.fromkeys(str(row["kind"]) for row in rows))
    kinds = [k for k in KINDS if k in found] + [k for k in found if k not in KINDS]
    return kinds, sorted({int(row["depth"]) for row in rows})


def measured_moments(arrays: dict[str, np.ndarray]) -> list[str]:
    """The phases of the arrays' input-gradient profiles ("<net>_seed<s>_input_<phase>")."""
    found = {m.group(1) for key in arrays if (m := re.fullmatch(r".+_seed\d+_input_(\w+)", key))}
    return [m for m in MOMENTS if m in found] + sorted(found - set(MOMENTS))


def moment_label(moment: str, steps: int) -> str:
    return {"init": "at initialisation", "trained": f"after {steps} steps"}.get(moment, moment)


def seed_stats(norms: np.ndarray) -> dict[str, list[float | None]]:
    """Per block of a (seeds, blocks) array: the geometric mean, min and max over seeds; None (a
    gap) where a seed's norm is not finite or not positive, as in the static figure."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(norms.astype(float))
    logs[~np.isfinite(logs)] = np.nan
    stats = {"mean": logs.mean(axis=0), "min": logs.min(axis=0), "max": logs.max(axis=0)}
    return {k: [None if np.isnan(v) else float(10**v) for v in a] for k, a in stats.items()}


def highway_plotly(
    arrays: dict[str, np.ndarray],
    kinds: list[str],
    depths: list[int],
    moments: dict[str, str],
    notes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One (kind, depth, moment) at a time, picked with three rows of buttons (MENUS).

    `moments` maps each phase to its label, `notes` a phase to why a net may lack it. Per
    measured combination: a min-max band over seeds (two traces, with more than one seed), then
    the geometric mean. layout.meta.views["i,j,k"] (indices into kinds, depths, moments) holds
    each combination's trace visibility, title and y range; an unmeasured one shows no trace and
    an annotation that says so. The y axis is logarithmic with one range per depth, so a fade and
    a flat highway at one depth look as different as they are.
    """
    combos: dict[Key, tuple[str, int, str]] = {
        (i, j, k): (kind, depth, phase)
        for (i, kind), (j, depth), (k, phase) in product(
            enumerate(kinds), enumerate(depths), enumerate(moments)
        )
    }
    traces: list[dict[str, Any]] = []
    owned: dict[Key, list[int]] = {}  # the traces of each measured combination
    texts: dict[Key, tuple[str, str | None]] = {}  # title and status line of each view
    for key, (kind, depth, phase) in combos.items():
        net = f"{_net(kind, depth)}, {moments[phase]}"
        norms = _input_norms(arrays, kind, depth, phase)
        if norms is not None:
            drawn = _net_traces(norms, kind, net)
            owned[key] = list(range(len(traces), len(traces) + len(drawn)))
            traces += drawn
        mean = traces[owned[key][-1]]["y"] if key in owned else None
        texts[key] = _view_text(net, mean, (notes or {}).get(phase))
    # One y range per depth, for every net and moment: switching the net compares like with
    # like, while a 1202-layer plain net that overflows (dozens of decades) does not flatten
    # the 20-layer nets' profiles.
    y_ranges = [
        _y_range([traces[i] for key, drawn in owned.items() if key[1] == j for i in drawn])
        for j in range(len(depths))
    ]
    views = {
        ",".join(map(str, key)): {
            "visible": [i in owned.get(key, ()) for i in range(len(traces))],
            "layout": _relayout(*texts[key], y_ranges[key[1]]),
        }
        for key in combos
    }
    active = _start(owned, traces, len(moments))
    for i, trace in enumerate(traces):
        trace["visible"] = i in owned.get(active, ())
    labels = [[NAMES.get(k, k) for k in kinds], [str(d) for d in depths], list(moments.values())]
    layout = _highway_layout(labels, active)
    _apply(layout, views[",".join(map(str, active))]["layout"])
    layout["meta"] = {"menus": list(MENUS), "views": views}
    return {"data": traces, "layout": layout}


def _net(kind: str, depth: int) -> str:
    return f"{NAMES.get(kind, kind)}-{depth}"


def _input_norms(arrays: dict[str, np.ndarray], kind: str, depth: int, moment: str
                 ) -> np.ndarray | None:  # fmt: skip
    name = rf"{re.escape(kind)}{depth}_seed\d+_input_{re.escape(moment)}"
    keys = sorted(k for k in arrays if re.fullmatch(name, k))
    return np.stack([arrays[k] for k in keys]).astype(float) if keys else None


def _net_traces(norms: np.ndarray, kind: str, name: str) -> list[dict[str, Any]]:
    stats, seeds = seed_stats(norms), norms.shape[0]
    color = KIND_COLORS.get(kind, OTHER_COLOR)
    common = {"type": "scatter", "x": list(range(1, norms.shape[1] + 1)), "meta": name}
    traces = []
    if seeds > 1:
        edge = {**common, "mode": "lines", "line": {"width": 0, "color": color},
                "hoverinfo": "skip", "legendgroup": "band"}  # fmt: skip
        fill = "rgba({:.0f},{:.0f},{:.0f},0.25)".format(*(255 * c for c in to_rgb(color)))
        traces.append({**edge, "y": stats["min"], "name": "min", "showlegend": False})
        traces.append({**edge, "y": stats["max"], "name": f"min–max over {seeds} seeds",
                       "fill": "tonexty", "fillcolor": fill})  # fmt: skip
    # A marker per block while the blocks can be told apart (ResNet-1202 has 600).
    mode = "lines+markers" if norms.shape[1] <= MARKED_BLOCKS else "lines"
    traces.append({
        **common, "y": stats["mean"], "mode": mode, "marker": {"size": 4},
        "line": {"color": color, "width": 2}, "legendgroup": "mean",
        "name": f"geometric mean over {seeds} seed{'s' if seeds > 1 else ''}",
        "hovertemplate": "block %{x}: %{y:.3g}<extra>%{meta}</extra>",
    })  # fmt: skip
    return traces


def _view_text(net: str, mean: list[float | None] | None, note: str | None
               ) -> tuple[str, str | None]:  # fmt: skip
    """A view's title and status line: "not measured", no finite norm, or None."""
    if mean is None:
        return f"{net}: not measured", f"not measured{f' ({note})' if note else ''}"
    title, gaps = f"{net}: input-gradient norm per block", sum(v is None for v in mean)
    if gaps == len(mean):
        return title, "no finite norm (overflow or divergence)"
    return title + (f" ({gaps} of {len(mean)} blocks non-finite)" if gaps else ""), None


def _relayout(title: str, status: str | None, y_range: list[float]) -> dict[str, Any]:
    # Plotly.relayout's dotted keys; the status line is annotations[0] of _highway_layout.
    # Ticks at whole decades, at most about 8 of them (a plain net may span dozens).
    return {"title.text": title, "annotations[0].text": status or "",
            "annotations[0].visible": status is not None, "yaxis.range": y_range,
            "yaxis.dtick": max(1, math.ceil((y_range[1] - y_range[0]) / 8))}  # fmt: skip


def _apply(layout: dict[str, Any], relayout: dict[str, Any]) -> None:
    """Set the first view's dotted keys in the layout, as Plotly.relayout does."""
    for dotted, value in relayout.items():
        *path, last = re.sub(r"\[(\d+)\]", r".\1", dotted).split(".")
        target = layout
        for step in path:
            target = target[int(step)] if step.isdigit() else target[step]
        target[last] = value


def _start(owned: dict[Key, list[int]], traces: list[dict[str, Any]], n_moments: int) -> Key:
    """The first view: the first kind (plain) at the last moment (after training, where a plain
    stack's gradient fades) and its deepest depth with a finite norm; else any measured view."""

    def finite(key: Key) -> bool:
        return any(v is not None for v in traces[owned[key][-1]]["y"])

    wanted = [k for k in owned if (k[0], k[2]) == (0, n_moments - 1) and finite(k)]
    if wanted:
        return max(wanted, key=lambda k: k[1])
    return min(owned, default=(0, 0, 0), key=lambda k: (not finite(k), k))


def _y_range(traces: list[dict[str, Any]]) -> list[float]:
    """log10 range of every view's values, whole decades."""
    values = [v for t in traces for v in t["y"] if v is not None]
    if not values:
        return [-1.0, 1.0]
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    return [lo, hi] if hi > lo else [lo - 1, hi + 1]


def _highway_layout(labels: list[list[str]], active: Key) -> dict[str, Any]:
    """The layout common to every view; _relayout sets a view's title, status and y range."""
    top, bottom = TITLE_PX + ROW_PX * len(MENUS) + GAP_PX, 50
    menus, names = [], []
    for row, (name, options) in enumerate(zip(MENUS, labels, strict=True)):
        # Rows in the top margin, in paper units of the plot area's height.
        above = GAP_PX + (len(MENUS) - row - 0.5) * ROW_PX
        y = 1 + above / (HIGHWAY_HEIGHT - top - bottom)
        menus.append({
            "type": "buttons", "direction": "right", "showactive": True, "active": active[row],
            "x": 0, "xanchor": "left", "y": y, "yanchor": "middle",
            "pad": {"t": 0, "b": 0, "l": 0, "r": 0},
            "buttons": [{"label": label, "method": "skip"} for label in options],
        })  # fmt: skip
        names.append({"text": f"{name}:", "xref": "paper", "yref": "paper", "x": 0, "y": y,
                      "xanchor": "right", "yanchor": "middle", "xshift": -8,
                      "showarrow": False})  # fmt: skip
    return {
        "height": HIGHWAY_HEIGHT,
        "title": {"x": 0.01, "xanchor": "left", "y": 1 - 12 / HIGHWAY_HEIGHT,
                  "yanchor": "top", "yref": "container", "font": {"size": 14}},
        "xaxis": {"title": {"text": "block l (1: first, next to the input)"}, "zeroline": False},
        "yaxis": {"title": {"text": "‖∂L/∂x_l‖ (log scale)"}, "type": "log",
                  "autorange": False, "exponentformat": "power"},
        "updatemenus": menus,
        "annotations": [
            {"xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5, "showarrow": False,
             "font": {"size": 16, "color": "#555"}},
            *names,
        ],
        "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1, "yanchor": "bottom"},
        "margin": {"l": 80, "r": 20, "t": top, "b": bottom},
    }  # fmt: skip


@register_figures("gradients")
def figures(result: Result[Any, Any], report: Report, run_dir: Path) -> None:
    config, numbers = result.config, result.verdict.numbers
    depths, steps = sorted(config.depths), config.steps
    laws: dict[str, dict[str, str]] = numbers["laws"]
    phases, flat = list(laws), float(numbers["flat"])
    arrays = result.arrays()
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
    _add_highway(report, result, arrays)
    profiles = profiles_png(arrays, depths, phases, steps)
    _add_profiles(report, profiles, config, save_as=Path(run_dir) / "gradients_profiles.png")
    ratios = ratio_png(arrays, depths, phases, steps, flat)
    _add_ratios(report, ratios, laws, steps, flat, save_as=Path(run_dir) / "gradients_ratio.png")


def _batches(config: Any) -> str:
    return f"{config.batches} batch{'es' if config.batches != 1 else ''} of {config.batch_size}"


def _trained(config: Any) -> str:
    if config.train_max_depth is None:
        return "every depth"
    return f"depths up to {config.train_max_depth}"


def _add_highway(report: Report, result: Result[Any, Any], arrays: dict[str, np.ndarray]) -> None:
    config = result.config
    kinds, depths = net_choices(result.summary["nets"])
    moments = {m: moment_label(m, config.steps) for m in measured_moments(arrays)}
    notes = {}
    if config.train_max_depth is not None:
        notes["trained"] = f"this run trains depths up to {config.train_max_depth} only"
    report.add_section("Watch the shortcut at work")
    report.add_plotly(
        highway_plotly(arrays, kinds, depths, moments, notes),
        caption="Pick a net, a depth and a moment: the loss gradient's norm w.r.t. each "
        "block's input, block 1 next to the input. Line: geometric mean over seeds, band: min "
        "to max over seeds; gaps are non-finite norms. At one depth the log axis keeps its range "
        "for every net and moment, so their slopes compare.",
        height=HIGHWAY_HEIGHT,
        script=HIGHWAY_JS,
    )
    report.add_text(
        "Start with the plain stack and watch the gradient fade (or blow up) on its way back "
        "from the last block to the first; then add the skip connection (residual: one ReLU "
        "after each addition still crosses the path); then follow the highway with "
        "pre-activation blocks, where nothing sits on the shortcut and x_L = x_l + Σ F(x_i) is a "
        "full residual stream (He et al. 2016, eq. 4-5). Deeper nets make the contrast starker."
    )


def _add_profiles(report: Report, png: bytes, config: Any, *, save_as: Path) -> None:
    report.add_section("Norms along the depth")
    report.add_figure(
        png,
        caption="Per block, log₁₀ of the L2 norm (over a whole batch) of the loss gradient "
        "w.r.t. the block's input (top) and its weights (middle), and of the block's input "
        f"itself (bottom); mean over {_batches(config)}. "
        "Line: mean of log₁₀ over seeds (a geometric mean), band ±1 std. Red: plain, blue: "
        "residual (post-activation), green: pre-activation; darker is deeper. Gaps are "
        "non-finite values (overflow, divergence).",
        save_as=save_as,
    )
    report.add_text(
        "With identity shortcuts, x_L = x_l + Σ F(x_i), so ∂L/∂x_l = ∂L/∂x_L (1 + ∂/∂x_l Σ F) "
        "(He et al. 2016, eq. 5): the gradient at the top reaches every block directly. A plain "
        "net multiplies one Jacobian per layer instead. The input gradient of a net with "
        "normalised branches also scales as 1/‖x_l‖ (a BN layer divides by its input's scale), "
        "so the bottom row shows how much of a slope comes from growing activations."
    )


def _add_ratios(
    report: Report,
    png: bytes,
    laws: dict[str, dict[str, str]],
    steps: int,
    flat: float,
    *,
    save_as: Path,
) -> None:
    report.add_section("First / last block")
    report.add_figure(
        png,
        caption="log₁₀ of the ratio of the first block's norm to the last block's; line: mean "
        "over seeds of log₁₀ (a geometric mean; the summary table gives arithmetic means), band "
        f"±1 std; grey: within a factor {flat:g} of 1. Solid: at initialisation, dashed: after "
        "training. A missing point is a non-finite ratio (see the table).",
        save_as=save_as,
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
