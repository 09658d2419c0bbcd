"""`write_index(runs_dir)`: one page listing every run below a folder, broken ones included."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from reslab.experiments.result import RESULTS_FILE
from reslab.experiments.stats import OUTCOMES, SYMBOL
from reslab.reporting._markup import Markup, escape
from reslab.reporting.html import Report
from reslab.reporting.probe import PROBE_FILE, load_probe
from reslab.reporting.registry import REPORT_FILE, ReportError, load_results

INDEX_FILE = "index.html"
# A folder holding any of these is a run directory (possibly an unfinished one).
RUN_MARKERS = frozenset(
    {RESULTS_FILE, REPORT_FILE, PROBE_FILE, "run.json", "config.json", "config.yaml"}
)
_DATE_KEYS = ("date", "finished", "created", "timestamp", "started")


@dataclass(frozen=True)
class RunSummary:
    path: Path  # relative to the runs folder
    experiment: str | None
    timestamp: float  # seconds since the epoch, for sorting and display
    verdict: str | None
    outcome: str | None  # reproduced, contradicted, inconclusive; None: no verdict
    report: Path | None  # relative to the runs folder, when report.html exists
    thumbnail: Path | None  # first PNG figure (sorted by path), relative to the runs folder
    problem: str | None  # None for a complete run; else why it is broken or partial
    status: str  # "ok", "incomplete" (no results.json yet) or "broken" (unreadable results)

    @property
    def date(self) -> str:
        return dt.datetime.fromtimestamp(self.timestamp).strftime("%Y-%m-%d %H:%M")


def find_runs(runs_dir: Path) -> list[Path]:
    """Run directories below `runs_dir`, plus top-level folders that hold no run at all."""
    runs: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(runs_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if RUN_MARKERS.intersection(filenames) and Path(dirpath) != runs_dir:
            runs.append(Path(dirpath))
            dirnames[:] = []  # a run's own sub-folders (figures/, checkpoints/) are not runs
    for child in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        holds_run = any(run == child or child in run.parents for run in runs)
        if not child.name.startswith(".") and not holds_run:
            runs.append(child)  # an empty or crashed-before-saving run: listed as such
    return runs


def summarize_run(run_dir: Path, runs_dir: Path) -> RunSummary:
    if (run_dir / PROBE_FILE).is_file() and not (run_dir / RESULTS_FILE).is_file():
        return _probe_summary(run_dir, runs_dir)
    problem, results = None, {}
    try:
        results = load_results(run_dir)
    except ReportError as exc:
        problem = str(exc).replace(repr(str(run_dir / RESULTS_FILE)), RESULTS_FILE)
    verdict, outcome = _verdict(results.get("verdict"))
    pngs = sorted(run_dir.rglob("*.png"), key=lambda p: p.relative_to(run_dir).as_posix())
    report, results_file = run_dir / REPORT_FILE, run_dir / RESULTS_FILE
    return RunSummary(
        path=run_dir.relative_to(runs_dir),
        experiment=results.get("experiment"),
        timestamp=_timestamp(results, run_dir),
        verdict=verdict,
        outcome=outcome,
        report=report.relative_to(runs_dir) if report.is_file() else None,
        thumbnail=pngs[0].relative_to(runs_dir) if pngs else None,
        problem=problem,
        status="ok" if problem is None else "broken" if results_file.is_file() else "incomplete",
    )


def _probe_summary(run_dir: Path, runs_dir: Path) -> RunSummary:
    """A ``reslab probe`` folder: a measurement, listed as done with its model, never a verdict."""
    try:
        saved, problem = load_probe(run_dir), None
    except ReportError as exc:
        saved, problem = {}, str(exc)
    pngs = sorted(run_dir.rglob("*.png"), key=lambda p: p.relative_to(run_dir).as_posix())
    report = run_dir / REPORT_FILE
    source = (saved.get("model") or {}).get("source")
    return RunSummary(
        path=run_dir.relative_to(runs_dir),
        experiment=f"probe {saved['probe']}" if "probe" in saved else "probe",
        timestamp=_timestamp(saved, run_dir),
        verdict=f"{source} (a measurement: no verdict)" if source else None,
        outcome=None,
        report=report.relative_to(runs_dir) if report.is_file() else None,
        thumbnail=pngs[0].relative_to(runs_dir) if pngs else None,
        problem=problem,
        status="ok" if problem is None else "broken",
    )


def _verdict(value: Any) -> tuple[str | None, str | None]:
    """`"verdict": "text"` or `"verdict": {"text": ..., "outcome": ..., "ok": ...}` (results
    saved before outcomes have ``ok`` alone: true is reproduced, false contradicted)."""
    if isinstance(value, dict):
        outcome, ok = value.get("outcome"), value.get("ok")
        if outcome not in OUTCOMES:
            by_ok = {True: "reproduced", False: "contradicted"}
            outcome = by_ok.get(ok) if isinstance(ok, bool) else None
        return _text_or_none(value.get("text")), outcome
    return _text_or_none(value), None


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _timestamp(results: dict[str, Any], run_dir: Path) -> float:
    """The run's own date if results.json records one, else the results/folder mtime."""
    sources = [results, results.get("provenance") or {}]
    for source in sources:
        for key in _DATE_KEYS:
            parsed = _parse_date(source.get(key)) if isinstance(source, dict) else None
            if parsed is not None:
                return parsed
    results_file = run_dir / RESULTS_FILE
    return (results_file if results_file.is_file() else run_dir).stat().st_mtime


def _parse_date(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def write_index(runs_dir: str | Path, *, title: str | None = None) -> Path:
    """Write `runs_dir/index.html` (newest run first) and return its path."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise ReportError(f"runs directory {str(runs_dir)!r} does not exist or is not a directory")
    runs = sorted(
        (summarize_run(d, runs_dir) for d in find_runs(runs_dir)),
        key=lambda r: (-r.timestamp, r.path.as_posix()),
    )
    broken = sum(r.status != "ok" for r in runs)
    report = Report(
        title or f"reslab runs: {runs_dir.resolve().name}",
        subtitle=f"{len(runs)} run(s) in {runs_dir.resolve()}, {broken} broken or incomplete",
    )
    columns = ["Run", "Experiment", "Date", "Status", "Report", "Figure"]
    report.add_table(columns, [_row(r) for r in runs])
    return report.write(runs_dir / INDEX_FILE)


def _href(rel: Path) -> str:
    return escape(quote(rel.as_posix()))


def _row(run: RunSummary) -> list[Any]:
    report: Markup | None = None
    if run.report:
        report = Markup(f'<a href="{_href(run.report)}">report</a>')
    elif run.problem is None:  # finished but never drawn: say how to draw it
        report = Markup(f"<code>reslab report {escape(run.path.as_posix())}</code>")
    thumb = (
        Markup(f'<img class="thumb" src="{_href(run.thumbnail)}" alt="first figure">')
        if run.thumbnail
        else None
    )
    return [run.path.as_posix(), run.experiment, run.date, _status(run), report, thumb]


def _status(run: RunSummary) -> Markup:
    if run.problem is not None:
        cls = "fail" if run.status == "broken" else "neutral"
        return Markup(
            f'<span class="badge {cls}">{escape(run.status)}</span> {escape(run.problem)}'
        )
    cls = {"reproduced": "ok", "contradicted": "fail"}.get(run.outcome or "", "neutral")
    word = f"{SYMBOL[run.outcome]} {run.outcome}" if run.outcome else "done"
    text = f" {escape(run.verdict)}" if run.verdict else ""
    return Markup(f'<span class="badge {cls}">{word}</span>{text}')
