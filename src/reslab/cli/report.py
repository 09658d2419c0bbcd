"""`reslab report RUN_DIR` and `reslab report --index RUNS_DIR`: redraw reports from saved runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reslab.cli.app import app
from reslab.reporting import ReportError, build_report, write_index
from reslab.reporting.export import FORMATS, ExportError, export_run, parse_formats


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
    export: Annotated[
        list[str] | None,
        typer.Option(
            "--export",
            metavar="FORMAT",
            help=f"Also write each loss surface to RUN_DIR/export/ as {' and '.join(FORMATS)} "
            "(h5: Li et al.'s loss-landscape files; vtk: a ParaView structured grid). "
            "Repeatable or a comma list; needs pip install 'reslab[export]'.",
        ),
    ] = None,
) -> None:
    """Rebuild a run's self-contained report.html (or a runs index) from its saved results."""
    if (run_dir is None) == (index is None):
        raise typer.BadParameter("give exactly one of RUN_DIR or --index RUNS_DIR")
    formats: list[str] = []
    if export:
        if run_dir is None:
            raise typer.BadParameter("--export needs RUN_DIR, not --index")
        try:
            formats = parse_formats(export)
        except ExportError as exc:
            raise typer.BadParameter(str(exc), param_hint="--export") from None
    try:
        # Exports first: a run they cannot serve fails before anything is written.
        exported = export_run(run_dir, formats) if formats and run_dir is not None else []
        written = write_index(index) if index is not None else build_report(run_dir)
    except ReportError as exc:  # ExportError too: a run without surfaces, a missing extra
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(str(written))
    for path in exported:
        typer.echo(str(path))
