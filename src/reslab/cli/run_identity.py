"""`reslab run identity`: zero-initialised residual blocks "do no harm" (He et al. 2015, 1)."""

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
    from reslab.data import DataError
    from reslab.experiments import identity as exp
    from reslab.training import ConfigError

    if epochs and steps:
        fail("give --epochs or --steps, not both")
    try:
        config = exp.IdentityConfig.preset_config(
            preset, data=data, seeds=seeds, depth=depth, deep_depth=deep_depth,
            continue_steps=continue_steps, device=device, workers=workers,
            data_dir=str(data_dir) if data_dir else None, overrides=tuple(overrides or ()),
        )  # fmt: skip
        if epochs or steps:
            config = replace(config, epochs=epochs, steps=steps)
        exp.check(config)
        run_dir = prepare_out("identity", out)
        result = exp.run(config, progress=show_progress(quiet))
    except (ValueError, DataError, ConfigError) as err:
        fail(str(err))
        return
    finish(result, run_dir)
