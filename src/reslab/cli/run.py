"""`reslab run <experiment>`: shared options and the save-report-print epilogue."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from reslab.cli.app import app

run_app = typer.Typer(
    help="Run an experiment: it measures, saves results as data, and writes report.html.",
    no_args_is_help=True,
)
app.add_typer(run_app, name="run")

Data = Annotated[
    str | None, typer.Option("--data", help="Dataset (default: the preset's; mnist1d for quick).")
]
Preset = Annotated[str, typer.Option("--preset", help="quick (minutes on a CPU) or paper.")]
Seeds = Annotated[int | None, typer.Option("--seeds", min=1, help="Number of seeds (0..N-1).")]
Out = Annotated[
    Path | None, typer.Option("--out", help="Run directory (default: runs/<experiment>-<time>).")
]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Existing dataset copy.")]
Device = Annotated[str, typer.Option("--device", help="auto (cuda if present), cpu, cuda, cuda:N.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
Set = Annotated[
    list[str] | None,
    typer.Option("--set", help="Training override section.field=value (repeatable)."),
]


def parse_ints(text: str | None, option: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(t) for t in text.replace(" ", "").split(",") if t)
    except ValueError:
        fail(f"{option}={text!r} must be comma-separated integers, e.g. 20,32,44,56")
        raise  # unreachable: fail() exits


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def show_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def prepare_out(experiment: str, out: Path | None) -> Path:
    from reslab.experiments.common import check_writable, default_run_dir

    try:
        return check_writable(out or default_run_dir(experiment))
    except ValueError as err:
        fail(str(err))
        raise


def finish(result: Any, run_dir: Path) -> None:
    """Save the result, draw its report, print the verdict and where everything is."""
    from reslab.reporting import build_report

    result.save(run_dir)
    report = build_report(run_dir)
    verdict = getattr(result, "verdict", None)
    text = getattr(verdict, "text", verdict)
    if text:
        typer.echo(text)
    typer.echo(f"results: {run_dir / 'results.json'}")
    typer.echo(f"report:  {report}")
