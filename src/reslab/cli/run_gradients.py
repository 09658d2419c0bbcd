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
    execute,
    parse_ints,
    run_app,
    shared_changes,
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
    from reslab.experiments import gradients as exp

    def build() -> exp.GradientsConfig:
        config = exp.GradientsConfig.preset_config(
            preset,
            depths=parse_ints(depths, "--depths"),
            block=block,
            steps=steps,
            batches=batches,
            **shared_changes(data, seeds, data_dir, device, workers, overrides),
        )
        if train_max_depth is not None:
            config = replace(config, train_max_depth=train_max_depth or None)
        return config

    execute("gradients", build, exp.run, out=out, quiet=quiet, check=exp.check)
