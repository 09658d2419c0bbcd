"""`reslab run degradation`: the main job (He et al. 2015, Figure 6)."""

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
    parse_ints,
    run_app,
    shared_changes,
    with_budget,
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
    epochs: Epochs = None,
    steps: Steps = None,
    workers: Workers = None,
    overrides: Set = None,
) -> None:
    """Plain nets train worse as they get deeper; residual nets do not."""
    from reslab.experiments import degradation as exp

    check_budget(epochs, steps)

    def build() -> exp.DegradationConfig:
        config = exp.DegradationConfig.preset_config(
            preset,
            depths=parse_ints(depths, "--depths"),
            **shared_changes(data, seeds, data_dir, device, workers, overrides),
        )
        return with_budget(config, epochs, steps)

    execute("degradation", build, exp.run, check=exp.check_config, out=out, quiet=quiet)
