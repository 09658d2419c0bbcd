"""`reslab run lesion`: delete residual blocks at test time (Veit et al. 2016, Figures 3 and 5)."""

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
    prepare_out,
    run_app,
    show_progress,
)


@run_app.command()
def lesion(
    data: Data = None,
    preset: Preset = "quick",
    seeds: Seeds = None,
    out: Out = None,
    data_dir: DataDir = None,
    device: Device = "auto",
    quiet: Quiet = False,
    depth: Annotated[
        int | None, typer.Option("--depth", help="Depth of both nets (6n+2 or 9n+2), e.g. 56.")
    ] = None,
    draws: Annotated[
        int | None, typer.Option("--draws", min=1, help="Random block sets per k (and seed).")
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Epochs per run.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Iterations per run.")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Parallel runs on CPU (default: 2).")
    ] = None,
    overrides: Set = None,
) -> None:
    """Delete blocks at test time: test error of a residual net vs its plain twin (Veit et al.)."""
    from reslab.data import DataError
    from reslab.experiments import lesion as exp
    from reslab.training import ConfigError

    if epochs and steps:
        fail("give --epochs or --steps, not both")
    try:
        config = exp.LesionConfig.preset_config(
            preset, data=data, seeds=seeds, depth=depth, draws=draws, device=device,
            data_dir=str(data_dir) if data_dir else None, workers=workers,
            overrides=tuple(overrides or ()),
        )  # fmt: skip
        if epochs or steps:
            config = replace(config, epochs=epochs, steps=steps)
        exp.check(config)
        run_dir = prepare_out("lesion", out)
        result = exp.run(config, progress=show_progress(quiet))
    except (ValueError, DataError, ConfigError) as err:
        fail(str(err))
        return
    finish(result, run_dir)
