"""The generic report of a result: verdict banner, figures, summary tables, verdict numbers and
provenance, the same for every experiment.

Summary tables are drawn from their rows as they are: a ``<x>_mean`` / ``<x>_std`` pair of
columns becomes one ``x`` column shown as mean ± std over the row's ``seeds``, and a ``paper_<x>``
column (the paper's number, beside ours) is headed ``x (paper)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reslab.experiments.jsonable import to_jsonable
from reslab.experiments.result import Result, is_table
from reslab.experiments.stats import SYMBOL
from reslab.reporting._format import MeanStd
from reslab.reporting.html import Report


def experiment_report(result: Result[Any, Any], run_dir: Path, figures: Any) -> Report:
    spec, config = result.spec, result.config
    report = Report(
        spec.title,
        subtitle=f"{spec.paper} — {config.data}, {config.seeds} seeds, preset {config.preset}",
    )
    verdict = result.verdict
    mark = {"reproduced": True, "contradicted": False}.get(verdict.outcome)  # else None: "?"
    report.add_verdict(verdict.text, ok=mark)
    report.add_text(f"Claim: {spec.claim}.")
    if figures is not None:
        figures(result, report, run_dir)
    tables = {k: v for k, v in result.summary.items() if is_table(v)}
    if tables:
        report.add_section("Summary")
    for name, rows in tables.items():
        columns, cells = table_cells(rows)
        report.add_table(columns, cells, caption=name.replace("_", " "))
    report.add_section("Verdict")
    report.add_text(f"{verdict.symbol} {verdict.outcome}: {verdict.text}")
    if verdict.parts:
        parts = [[part, f"{SYMBOL[o]} {o}"] for part, o in verdict.parts.items()]
        report.add_table(["part of the claim", "outcome"], parts,
                         caption="each part's outcome; all reproduced is reproduced, any "
                         "contradicted is contradicted, else inconclusive")  # fmt: skip
    numbers = result.verdict.numbers
    if numbers:
        report.add_table(["number", "value"], [[k, _cell(v)] for k, v in numbers.items()])
    report.add_provenance({**result.provenance, "config": _plain(config)})
    return report


def table_cells(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Column headers and cells of a summary table, mean/std pairs merged."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    columns: list[tuple[str, str]] = []  # (header, key or the stem of a mean/std pair)
    for key in keys:
        if key.endswith("_std") and key[:-4] + "_mean" in keys:
            continue
        if key.endswith("_mean") and key[:-5] + "_std" in keys:
            columns.append((key[:-5].replace("_", " "), "pair:" + key[:-5]))
        elif key.startswith("paper_"):
            columns.append((f"{key[6:].replace('_', ' ')} (paper)", key))
        else:
            columns.append((key.replace("_", " "), key))
    cells = [[_value(row, key) for _, key in columns] for row in rows]
    return [header for header, _ in columns], cells


def _value(row: dict[str, Any], key: str) -> Any:
    if key.startswith("pair:"):
        stem = key[5:]
        mean, std = row.get(f"{stem}_mean"), row.get(f"{stem}_std")
        if mean is None:
            return None
        n = row.get("seeds") if isinstance(row.get("seeds"), int) else None
        if n == 1:
            return _number(mean)  # one seed has no spread to show
        return MeanStd(_number(mean), _number(std or 0.0), n)
    return _cell(row.get(key))


def _number(value: Any) -> Any:
    # results.json writes inf as "inf" (JSON has no infinities): show it as the number it is.
    return float(value) if value in ("inf", "-inf") else value


def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return str(value)
    return value


def _plain(config: Any) -> dict[str, Any]:
    return to_jsonable(config)
