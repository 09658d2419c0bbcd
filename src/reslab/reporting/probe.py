"""The report of one probe on one model (``reslab probe``), drawn from its saved ``probe.json``:
a figure per block, the table of every number, and the provenance. A measurement, so no verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from reslab.reporting.figures import fig_to_png, new_figure
from reslab.reporting.html import Report
from reslab.reporting.registry import ReportError

PROBE_FILE, REPORT_FILE, FIGURE_FILE = "probe.json", "report.html", "probe.png"

TITLES = {
    "gradients": "Per-block gradient norms",
    "lesion": "Deleting one block at a time",
    "responses": "Layer responses",
}
MEANINGS = {
    "gradients": "Per residual block, the norm of the loss gradient with respect to the block's "
    "input (||dL/dx_l||) and to its parameters (||dL/dtheta_l||), and the norm of the input "
    "itself, averaged over the batches; measured in train mode (BN with batch statistics), the "
    "mode training takes its gradients in. How well the signal flows back through the stack.",
    "lesion": "Each block deleted on its own at test time, keeping only its shortcut (y = "
    "act(shortcut(x)), the block with F(x) = 0), as Veit et al. 2016 (section 4.1, Fig. 3) do; "
    "for a GPT each attention and MLP sub-layer is a block. A net that behaves like an ensemble "
    "of shallow paths loses little from any one deletion. A plain block that changes shape has "
    "no identity to fall back to and is skipped.",
    "responses": "The standard deviation of each 3x3 conv's BN output over the samples (per "
    "channel, then averaged), as He et al. 2015 (section 4.2, Fig. 7) measure it: how much each "
    "residual function changes the signal.",
}
_LABELS = {"input": "||dL/dx_l|| (block input)", "weight": "||dL/dθ_l|| (block parameters)",
           "activation": "||x_l||", "err": "error (%)", "loss": "loss (nats)",
           "std": "std of BN output"}  # fmt: skip


def load_probe(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / PROBE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ReportError(f"cannot read {path}: {err}") from None


def probe_figure(saved: dict[str, Any]) -> bytes:
    result = saved["result"]
    rows, probe = result["rows"], result["probe"]
    fig, ax = new_figure(size=(9, 4.2))
    x = np.arange(len(rows))
    for i, row in enumerate(rows):
        if row.get("changes_shape"):
            ax.axvspan(i - 0.5, i + 0.5, color="0.88", lw=0)
    for col in result["plot"]:
        y = np.array([np.nan if r[col] is None else r[col] for r in rows], dtype=float)
        ax.plot(x, y, marker="o", ms=3.5, lw=1.4, label=_LABELS.get(col, col))
        if col in result["intact"]:
            base = result["intact"][col]
            ax.axhline(base, color="0.3", ls="--", lw=1, label=f"intact ({base:.4g})")
    if probe == "gradients":
        ax.set_yscale("log")
    index = "layer" if probe == "responses" else "block"
    ax.set_xlabel(f"{index} (0 = nearest the input)"
                  + ("; grey: changes shape" if any(r.get("changes_shape") for r in rows) else ""))
    ax.set_ylabel(_LABELS.get(result["plot"][0], result["plot"][0]))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    return fig_to_png(fig)


def probe_report(saved: dict[str, Any], run_dir: Path) -> Report:
    """The report of a saved probe; its figure is also kept as ``probe.png`` in ``run_dir``."""
    result, model, data = saved["result"], saved["model"], saved["data"]
    probe = result["probe"]
    report = Report(
        f"{TITLES[probe]}: {model['source']}",
        subtitle=f"reslab probe {probe} — {data['spec']} ({data['split']}), "
        f"{result['samples']} samples",
    )
    report.add_text(f"{MEANINGS[probe]} A measurement on a given model, not a claim: no verdict.")
    if result["intact"]:
        intact = result["intact"]
        report.add_text(f"Intact model: loss {intact['loss']:.4g} nats, error "
                        f"{intact['err']:.4g}% on these samples.")  # fmt: skip
    report.add_section("Per block" if probe != "responses" else "Per 3x3 layer")
    report.add_figure(
        probe_figure(saved),
        caption=_caption(result),
        save_as=Path(run_dir) / FIGURE_FILE,
    )
    columns = [c.replace("_", " ") for c in result["columns"]]
    rows = [[r[c] for c in result["columns"]] for r in result["rows"]]
    highlight = {"err rise": "max"} if probe == "lesion" else {}
    report.add_table(columns, rows, caption=_table_caption(probe), highlight=highlight)
    report.add_section("Model")
    report.add_table(["field", "value"], [[k, _plain(v)] for k, v in model.items()])
    report.add_provenance({**saved["provenance"], "data": data})
    return report


def write_probe_report(run_dir: Path) -> Path:
    """Draw ``run_dir/report.html`` from ``run_dir/probe.json``."""
    run_dir = Path(run_dir)
    return probe_report(load_probe(run_dir), run_dir).write(run_dir / REPORT_FILE)


def _caption(result: dict[str, Any]) -> str:
    if result["probe"] == "lesion":
        return ("Loss or error with one block deleted (dashed: the intact model); a gap in the "
                "line is a block that cannot be deleted.")  # fmt: skip
    if result["probe"] == "gradients":
        return "Gradient norms per block, log scale, mean over the full batches."
    return "Std of each 3x3 conv's BN output, in forward order (the stem's first where it is 3x3)."


def _table_caption(probe: str) -> str:
    if probe == "lesion":
        return ("err in %, loss in nats; rise: over the intact model; bold: the deletion that "
                "hurts most; skipped: cannot be deleted.")  # fmt: skip
    return "Every number measured, one row per " + ("layer" if probe == "responses" else "block")


def _plain(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (dict, list)) else value
