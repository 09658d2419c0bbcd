"""`reslab run depth`: 1000-layer ResNets, post- vs pre-activation (He et al. 2016, Table 3)."""

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
)  # fmt: skip

Depths = Annotated[
    str | None,
    typer.Option("--depths", help="Comma-separated depths: 9n+2 for bottleneck (20,164,1001), "
                 "6n+2 for basic (20,110,1202)."),
]  # fmt: skip
Block = Annotated[str | None, typer.Option("--block", help="bottleneck (default) or basic.")]
Width = Annotated[
    int | None, typer.Option("--width", min=1, help="First-stage channels (papers: 16).")
]
DeepestSeeds = Annotated[
    int | None, typer.Option("--deepest-seeds", min=1, help="Seeds of the deepest net only.")
]
CheckpointFrom = Annotated[
    int | None,
    typer.Option("--checkpoint-from", min=0, help="Gradient checkpointing for depths >= this "
                 "(default 500; 0: every net)."),
]  # fmt: skip
NoCheckpoint = Annotated[
    bool, typer.Option("--no-checkpoint", help="No gradient checkpointing at any depth.")
]
InProcess = Annotated[
    bool,
    typer.Option("--in-process", help="Reuse worker processes (faster start; peak memory is "
                 "then reset per run instead of measured in a fresh process)."),
]  # fmt: skip


@run_app.command()
def depth(
    data: Data = None,
    preset: Preset = "quick",
    seeds: Seeds = None,
    out: Out = None,
    data_dir: DataDir = None,
    device: Device = "auto",
    quiet: Quiet = False,
    depths: Depths = None,
    block: Block = None,
    width: Width = None,
    deepest_seeds: DeepestSeeds = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Epochs per run.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Iterations per run.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
    checkpoint_from: CheckpointFrom = None,
    no_checkpoint: NoCheckpoint = False,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Parallel runs on CPU (default: 2).")
    ] = None,
    in_process: InProcess = False,
    overrides: Set = None,
) -> None:
    """Post- vs pre-activation ResNets up to 1001 layers: error, memory and time per depth."""
    from reslab.data import DataError
    from reslab.experiments import depth as exp
    from reslab.training import ConfigError

    if epochs and steps:
        fail("give --epochs or --steps, not both")
    if no_checkpoint and checkpoint_from is not None:
        fail("give --checkpoint-from or --no-checkpoint, not both")
    try:
        config = exp.DepthConfig.preset_config(
            preset, data=data, seeds=seeds, depths=parse_ints(depths, "--depths"), block=block,
            width=width, deepest_seeds=deepest_seeds, batch_size=batch_size,
            checkpoint_from=checkpoint_from, data_dir=str(data_dir) if data_dir else None,
            device=device, workers=workers, overrides=tuple(overrides or ()),
        )  # fmt: skip
        if epochs or steps:
            config = replace(config, epochs=epochs, steps=steps)
        if no_checkpoint:
            config = replace(config, checkpoint_from=None)
        if in_process:
            config = replace(config, isolate=False)
        exp.check(config)
        run_dir = prepare_out("depth", out)
        result = exp.run(config, progress=show_progress(quiet))
    except (ValueError, DataError, ConfigError) as err:
        fail(str(err))
        return
    finish(result, run_dir)
