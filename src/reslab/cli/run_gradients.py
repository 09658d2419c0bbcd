"""`reslab run gradients`: the gradient highway (He et al. 2016, eq. 5)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from reslab.cli.run import (
    Data,
    DataDir,
    Device,
    Out,
    Preset,
    Quiet,
    Seeds,
    Set,
    fail,
    finish,
    parse_ints,
    prepare_out,
    run_app,
    show_progress,
)


@run_app.command()
def gradients(
    data: Data = None,
    preset: Preset = "quick",
    seeds: Seeds = None,
    out: Out = None,
    data_dir: DataDir = None,
    device: Device = "auto",
    quiet: Quiet = False,
    depths: Annotated[
        str | None,
        typer.Option("--depths", help="Comma-separated depths: 6n+2 (basic) or 9n+2 (bottleneck)."),
    ] = None,
    train_max_depth: Annotated[
        int | None,
        typer.Option(
            "--train-max-depth",
            min=0,
            help="Train and re-measure only nets up to this depth (default: the preset's; "
            "0: no limit).",
        ),
    ] = None,
    block: Annotated[
        str | None, typer.Option("--block", help="Block family: basic or bottleneck.")
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", min=0, help="Training steps before the second look.")
    ] = None,
    batches: Annotated[
        int | None, typer.Option("--batches", min=1, help="Batches each measurement averages.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Parallel nets on CPU (default: 2).")
    ] = None,
    overrides: Set = None,
) -> None:
    """Per-block gradient norms of plain, residual and pre-activation nets, at init and trained."""
    from reslab.data import DataError
    from reslab.experiments import gradients as exp
    from reslab.training import ConfigError

    try:
        config = exp.GradientsConfig.preset_config(
            preset,
            data=data,
            seeds=seeds,
            depths=parse_ints(depths, "--depths"),
            block=block,
            steps=steps,
            batches=batches,
            data_dir=str(data_dir) if data_dir else None,
            device=device,
            workers=workers,
            overrides=tuple(overrides or ()),
        )
        if train_max_depth is not None:
            config = replace(config, train_max_depth=train_max_depth or None)
        run_dir = prepare_out("gradients", out)
        result = exp.run(config, progress=show_progress(quiet))
    except (ValueError, DataError, ConfigError) as err:
        fail(str(err))
        return
    finish(result, run_dir)
