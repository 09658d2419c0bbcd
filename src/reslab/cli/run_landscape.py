"""`reslab run landscape`: loss surfaces of plain vs residual nets (Li et al. 2018, Figure 5)."""

from __future__ import annotations

import os
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
    fail,
    run_app,
    shared_changes,
    with_budget,
)


def parse_span(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lo, hi = (float(t) for t in text.split(","))
    except ValueError:
        fail(f"--span={text!r} must be two comma-separated numbers, e.g. -1,1")
    return lo, hi


@run_app.command()
def landscape(
    data: Data = None,
    preset: Preset = "quick",
    seeds: Seeds = None,
    out: Out = None,
    data_dir: DataDir = None,
    device: Device = "auto",
    quiet: Quiet = False,
    depth: Annotated[int | None, typer.Option("--depth", help="Depth of both nets (6n+2).")] = None,
    resolution: Annotated[
        int | None, typer.Option("--resolution", help="Grid points per axis (odd).")
    ] = None,
    span: Annotated[
        str | None, typer.Option("--span", help="Range of both grid axes, e.g. -1,1.")
    ] = None,
    interp_points: Annotated[
        int | None,
        typer.Option("--interp-points", help="Points on the init-to-trained line (-0.5..1.5)."),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option("--samples", min=0, help="Training samples the loss is measured on (0: all)."),
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Epochs per net.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Iterations per net.")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Parallel nets on CPU (default: 2).")
    ] = None,
    overrides: Set = None,
) -> None:
    """Plain nets' loss surfaces turn chaotic with depth; residual nets' stay smooth.

    An existing --out directory resumes: trained nets and finished grid points are reused.
    Under torchrun the grid points are shared among the ranks (give --out).
    """
    from reslab.experiments import landscape as exp
    from reslab.training import CheckpointError

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    main_rank = int(os.environ.get("RANK", "0")) == 0
    check_budget(epochs, steps)
    if distributed and out is None:
        fail("under torchrun give --out: every rank must use the same run directory")

    def build() -> exp.LandscapeConfig:
        config = exp.LandscapeConfig.preset_config(
            preset,
            depth=depth,
            resolution=resolution,
            span=parse_span(span),
            interp_points=interp_points,
            samples=samples,
            **shared_changes(data, seeds, data_dir, device, workers, overrides),
        )
        return with_budget(config, epochs, steps)

    execute(
        "landscape",
        build,
        exp.run,
        check=exp.check_config,
        out=out,
        quiet=quiet,
        resumable=True,
        main_rank=main_rank,
        user_errors=(CheckpointError,),  # a damaged checkpoint in the --out being resumed
    )
