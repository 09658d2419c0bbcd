"""`reslab run degradation`: the main job (He et al. 2015, Figure 6)."""

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
def degradation(
    data: Data = None,
    preset: Preset = "quick",
    seeds: Seeds = None,
    out: Out = None,
    data_dir: DataDir = None,
    device: Device = "auto",
    quiet: Quiet = False,
    depths: Annotated[
        str | None,
        typer.Option("--depths", help="Comma-separated depths (6n+2), e.g. 20,32,44,56."),
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Epochs per run.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Iterations per run.")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Parallel runs on CPU (default: 2).")
    ] = None,
    overrides: Set = None,
) -> None:
    """Plain nets train worse as they get deeper; residual nets do not."""
    from reslab.data import DataError
    from reslab.experiments import degradation as exp
    from reslab.training import ConfigError

    if epochs and steps:
        fail("give --epochs or --steps, not both")
    try:
        config = exp.DegradationConfig.preset_config(
            preset,
            data=data,
            seeds=seeds,
            depths=parse_ints(depths, "--depths"),
            data_dir=str(data_dir) if data_dir else None,
            device=device,
            workers=workers,
            overrides=tuple(overrides or ()),
        )
        if epochs or steps:
            config = replace(config, epochs=epochs, steps=steps)
        exp.check_config(config)
        run_dir = prepare_out("degradation", out)
        result = exp.run(config, progress=show_progress(quiet))
    except (ValueError, DataError, ConfigError) as err:
        fail(str(err))
        return
    finish(result, run_dir)
