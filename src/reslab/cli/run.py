"""`reslab run NAME`: one command per registered experiment, generated from its config's fields.

Each field of the config dataclass becomes an option (its type, and its help text from the
field's metadata), as Hydra and Typer do it: the config is the one source of truth, so a new
experiment needs no command-line code. Options left out keep the preset's value.
"""

from __future__ import annotations

import dataclasses
import inspect
import shlex
import sys
import typing
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from reslab.cli.app import app
from reslab.cli.options import Parser, as_words, option_for

if typing.TYPE_CHECKING:
    from reslab.experiments.spec import Experiment

run_app = typer.Typer(
    help="Run an experiment: it measures, keeps every finished run, saves results as data and "
    "writes report.html. `reslab run --list` lists them.",
    invoke_without_command=True,
)
app.add_typer(run_app, name="run")


ALL_HELP = (
    "Run every experiment's quick preset into --out, then write its index.html (resumable with "
    "--resume)."
)


@run_app.callback()
def run_callback(
    ctx: typer.Context,
    list_: Annotated[
        bool, typer.Option("--list", help="List the experiments: name, claim, paper, time.")
    ] = False,
    all_: Annotated[bool, typer.Option("--all", help=ALL_HELP)] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="With --all: the folder (default runs/all-TIME).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="With --all: continue --out.")] = False,
) -> None:
    if list_:
        typer.echo(experiment_table())
        raise typer.Exit()
    if all_:
        _run_all(out, resume)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


def experiment_table() -> str:
    from reslab.experiments import list_experiments

    rows = [("name", "claim", "paper", "quick preset")]
    rows += [(e.name, e.claim, e.paper, e.quick_time) for e in list_experiments()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    )


def _run_all(out: Path | None, resume: bool) -> None:
    """Every quick preset, one progress display, the index at the end, a line per claim."""
    import time

    from reslab.api import run_all
    from reslab.data import DataError
    from reslab.experiments.stopping import Interrupted
    from reslab.experiments.store import default_run_dir
    from reslab.training import CheckpointError, ConfigError

    if resume and out is None:
        fail("--resume needs --out, the folder to continue")
    folder = out or default_run_dir("all")
    started = time.perf_counter()
    try:
        results = run_all(folder, resume=resume, progress=sys.stderr.isatty(),
                          log=lambda line: typer.echo(line, err=True))  # fmt: skip
    except (ValueError, DataError, ConfigError, CheckpointError) as err:
        fail(str(err))
    except Interrupted as stop:
        again = ["reslab", "run", "--all", "--out", str(folder), "--resume"]
        _interrupted(stop, stop.run_dir or folder, again)
    minutes = (time.perf_counter() - started) / 60
    for name, result in results.items():
        typer.echo(f"{result.verdict.symbol} {name}: {result.verdict.outcome}")
    typer.echo(f"index: {folder / 'index.html'} ({len(results)} claims, {minutes:.1f} min)")


def _interrupted(stop: Any, run_dir: Path, again: list[str], *, show: bool = True) -> NoReturn:
    """The one line after SIGTERM or Ctrl-C (``stop``: an ``Interrupted``), and its exit code."""
    if show:
        typer.echo(
            f"interrupted: {stop.finished} of {stop.total} runs finished and kept in {run_dir}; "
            f"resume with: {shlex.join(again)}", err=True,
        )  # fmt: skip
    raise typer.Exit(code=stop.exit_code) from None


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


# The options every generated command has besides its config's fields: (type, option, default).
_FIXED = {
    "preset": (str, typer.Option("--preset", help="quick (minutes on a CPU) or paper."), "quick"),
    "out": (
        Path | None,
        typer.Option("--out", help="Run directory (default: runs/<experiment>-<time>)."),
        None,
    ),
    "resume": (
        bool,
        typer.Option("--resume", help="Continue the run in --out: finished runs are kept."),
        False,
    ),
    "quiet": (bool, typer.Option("--quiet", "-q", help="No progress bars."), False),
}


def add_command(spec: Experiment[Any, Any, Any]) -> None:
    """Register ``reslab run NAME`` with one option per CLI field of the experiment's config."""
    name, config_type = spec.name, spec.config_type
    params, parsers = [], {}
    for pname, (tp, opt, default) in _FIXED.items():
        params.append(_param(pname, Annotated[tp, opt], default))
    hints = typing.get_type_hints(config_type)
    for f in dataclasses.fields(config_type):
        if not f.metadata.get("cli", True) or f.name in _FIXED:
            continue
        annotation, parser = option_for(f, hints[f.name], dict(spec.presets))
        params.append(_param(f.name, annotation, None))
        parsers[f.name] = parser

    def command(**kwargs: Any) -> None:
        fixed = {k: kwargs.pop(k) for k in _FIXED}
        changes = _parse(kwargs, parsers)
        given = [word for key, value in kwargs.items() for word in as_words(key, value)]
        _execute(name, changes, given=given, **fixed)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__name__ = name
    run_app.command(name=name, help=f"{spec.claim} ({spec.paper}).")(command)


def _param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    kind = inspect.Parameter.KEYWORD_ONLY
    return inspect.Parameter(name, kind, default=default, annotation=annotation)


def _parse(kwargs: dict[str, Any], parsers: dict[str, Parser]) -> dict[str, Any]:
    changes = {}
    for key, value in kwargs.items():
        if value is None or value == []:
            continue  # not given: the preset's value (an option's own "none" parses to None)
        try:
            changes[key] = parsers[key](value)
        except ValueError as err:
            fail(f"--{key.replace('_', '-')}={value!r}: {err}")
    return changes


def _execute(name: str, changes: dict[str, Any], *, given: list[str], preset: str,
             out: Path | None, resume: bool, quiet: bool) -> None:  # fmt: skip
    """Check, run, save and report one experiment; a mistake in what was asked for is one
    ``error:`` line and exit code 2, before any run directory is made. A run stopped by
    SIGTERM or Ctrl-C ends with one line saying how to resume it (``given``: the config
    options as typed), and exit code 143 or 130."""
    from reslab.api import run_experiment
    from reslab.data import DataError
    from reslab.experiments.stopping import Interrupted
    from reslab.experiments.store import default_run_dir
    from reslab.training import CheckpointError, ConfigError
    from reslab.training.distributed import launched

    ctx = launched()
    main_rank = ctx.is_main
    if ctx.active and out is None:
        fail("under torchrun give --out: every rank must use the same run directory")
    if resume and out is None:
        fail("--resume needs --out, the run directory to continue")
    run_dir = out or default_run_dir(name)
    try:
        result = run_experiment(
            name, preset, run_dir, resume=resume, progress=not quiet and sys.stderr.isatty(),
            log=lambda line: typer.echo(line, err=True) if main_rank else None, **changes,
        )  # fmt: skip
    except (ValueError, DataError, ConfigError, CheckpointError) as err:
        fail(str(err))
    except Interrupted as stop:
        again = ["reslab", "run", name, *(["--preset", preset] if preset != "quick" else [])]
        again += [*given, "--out", str(run_dir), "--resume"]
        _interrupted(stop, run_dir, again, show=main_rank)
    if main_rank:
        typer.echo(f"results: {run_dir / 'results.json'}")
        typer.echo(f"report:  {run_dir / 'report.html'}")
        verdict = result.verdict
        typer.echo(f"{verdict.symbol} {verdict.outcome}: {verdict.text}")  # the last line


def register_all() -> None:
    from reslab.experiments import list_experiments

    for e in list_experiments():
        add_command(e)
