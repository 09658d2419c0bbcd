"""`reslab run identity`: zero-initialised residual blocks "do no harm" (He et al. 2015, 1)."""

from __future__ import annotations

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
    check_budget,
    execute,
    run_app,
    shared_changes,
    with_budget,
)


@run_app.command()
def identity(
    data: Data = None,
    preset: Preset = "quick",
    seeds: Seeds = None,
    out: Out = None,
    data_dir: DataDir = None,
    device: Device = "auto",
    quiet: Quiet = False,
    depth: Annotated[
        int | None, typer.Option("--depth", help="Depth of the trained shallow net, e.g. 20.")
    ] = None,
    deep_depth: Annotated[
        int | None, typer.Option("--deep-depth", help="Depth it is copied into, e.g. 32.")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=1, help="Epochs of the shallow net.")
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Iterations of the shallow net.")
    ] = None,
    continue_steps: Annotated[
        int | None,
        typer.Option("--continue-steps", min=1, help="Iterations of every continued net."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Parallel seeds on CPU (default: 2).")
    ] = None,
    overrides: Set = None,
) -> None:
    """Copy a trained net into a deeper one (zero-init residual or plain blocks) and go on."""
    from reslab.experiments import identity as exp

    check_budget(epochs, steps)

    def build() -> exp.IdentityConfig:
        config = exp.IdentityConfig.preset_config(
            preset,
            depth=depth,
            deep_depth=deep_depth,
            continue_steps=continue_steps,
            **shared_changes(data, seeds, data_dir, device, workers, overrides),
        )
        return with_budget(config, epochs, steps)

    execute("identity", build, exp.run, check=exp.check, out=out, quiet=quiet)
