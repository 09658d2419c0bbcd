"""`reslab report RUN_DIR` and `reslab report --index RUNS_DIR`: redraw reports from saved runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reslab.cli.app import app
from reslab.reporting import ReportError, build_report, write_index


@app.command()
def report(
    run_dir: Annotated[
        Path | None,
        typer.Argument(
            metavar="RUN_DIR", help="A run directory holding results.json; writes its report.html."
        ),
    ] = None,
    index: Annotated[
        Path | None,
        typer.Option(
            "--index",
            metavar="RUNS_DIR",
            help="Instead: write index.html listing every run below this folder.",
        ),
    ] = None,
) -> None:
    """Rebuild a run's self-contained report.html (or a runs index) from its saved results."""
    if (run_dir is None) == (index is None):
        raise typer.BadParameter("give exactly one of RUN_DIR or --index RUNS_DIR")
    try:
        written = write_index(index) if index is not None else build_report(run_dir)
    except ReportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(str(written))
