"""`reslab run <experiment>`: shared options and the check-run-save-report sequence."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from reslab.cli.app import app

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

run_app = typer.Typer(
    help="Run an experiment: it measures, saves results as data, and writes report.html.",
    no_args_is_help=True,
)
app.add_typer(run_app, name="run")

ConfigT = TypeVar("ConfigT", bound="DataclassInstance")  # an experiment's settings

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
# Worded per run; commands whose unit is a net or a seed word their own.
Epochs = Annotated[int | None, typer.Option("--epochs", min=1, help="Epochs per run.")]
Steps = Annotated[int | None, typer.Option("--steps", min=1, help="Iterations per run.")]
Workers = Annotated[
    int | None, typer.Option("--workers", min=1, help="Parallel runs on CPU (default: 2).")
]


def parse_ints(text: str | None, option: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(t) for t in text.replace(" ", "").split(",") if t)
    except ValueError:
        fail(f"{option}={text!r} must be comma-separated integers, e.g. 20,32,44,56")


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def shared_changes(
    data: str | None,
    seeds: int | None,
    data_dir: Path | None,
    device: str,
    workers: int | None,
    overrides: list[str] | None,
) -> dict[str, Any]:
    """The options every experiment takes, as keywords of its ``preset_config``."""
    return {
        "data": data,
        "seeds": seeds,
        "data_dir": str(data_dir) if data_dir else None,
        "device": device,
        "workers": workers,
        "overrides": tuple(overrides or ()),
    }


def check_budget(epochs: int | None, steps: int | None) -> None:
    if epochs and steps:
        fail("give --epochs or --steps, not both")


def with_budget(config: ConfigT, epochs: int | None, steps: int | None) -> ConfigT:
    # Either option replaces the preset's whole budget, so the other one is cleared.
    return replace(config, epochs=epochs, steps=steps) if epochs or steps else config


def execute(
    experiment: str,
    build: Callable[[], ConfigT],
    run: Callable[..., object],
    *,
    out: Path | None,
    quiet: bool,
    check: Callable[[ConfigT], None] | None = None,
    resumable: bool = False,
    main_rank: bool = True,
    user_errors: tuple[type[Exception], ...] = (),
) -> None:
    """Build, check and run one experiment, then save and report it.

    A mistake in what was asked for (``ValueError``, ``DataError``, ``ConfigError`` or one of
    ``user_errors``) becomes one ``error:`` line and exit code 2. A ``resumable`` run gets the
    run directory as ``out_dir`` and keeps its progress there, so a rerun into it resumes.
    Under torchrun only the main rank prepares the directory, shows progress and reports.
    """
    from reslab.data import DataError
    from reslab.training import ConfigError

    try:
        config = build()
        if check is not None:
            check(config)
        run_dir = _prepare_out(experiment, out) if main_rank else None
        where = {"out_dir": run_dir or out} if resumable else {}
        result = run(config, progress=_show_progress(quiet) and main_rank, **where)
    except (ValueError, DataError, ConfigError, *user_errors) as err:
        fail(str(err))
    if run_dir is not None:
        _finish(result, run_dir)


def _show_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def _prepare_out(experiment: str, out: Path | None) -> Path:
    from reslab.experiments.common import check_writable, default_run_dir

    return check_writable(out or default_run_dir(experiment))


def _finish(result: Any, run_dir: Path) -> None:
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
