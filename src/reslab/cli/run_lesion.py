"""`reslab run lesion`: delete residual blocks at test time (Veit et al. 2016, Figures 3 and 5)."""

from __future__ import annotations

from typing import Annotated

import typer

from reslab.cli.run import (
    Data,
    DataDir,
    Device,
    Epochs,
    Out,
    Preset,
    Quiet,
    Seeds,
    Set,
    Steps,
    Workers,
    check_budget,
    execute,
    run_app,
    shared_changes,
    with_budget,
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
    epochs: Epochs = None,
    steps: Steps = None,
    workers: Workers = None,
    overrides: Set = None,
) -> None:
    """Delete blocks at test time: test error of a residual net vs its plain twin (Veit et al.)."""
    from reslab.experiments import lesion as exp

    check_budget(epochs, steps)

    def build() -> exp.LesionConfig:
        config = exp.LesionConfig.preset_config(
            preset,
            depth=depth,
            draws=draws,
            **shared_changes(data, seeds, data_dir, device, workers, overrides),
        )
        return with_budget(config, epochs, steps)

    execute("lesion", build, exp.run, check=exp.check, out=out, quiet=quiet)
