"""`reslab run depth`: 1000-layer ResNets, post- vs pre-activation (He et al. 2016, Table 3)."""

from __future__ import annotations

from dataclasses import replace
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
    fail,
    parse_ints,
    run_app,
    shared_changes,
    with_budget,
)

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
    epochs: Epochs = None,
    steps: Steps = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
    checkpoint_from: CheckpointFrom = None,
    no_checkpoint: NoCheckpoint = False,
    workers: Workers = None,
    in_process: InProcess = False,
    overrides: Set = None,
) -> None:
    """Post- vs pre-activation ResNets up to 1001 layers: error, memory and time per depth."""
    from reslab.experiments import depth as exp

    check_budget(epochs, steps)
    if no_checkpoint and checkpoint_from is not None:
        fail("give --checkpoint-from or --no-checkpoint, not both")

    def build() -> exp.DepthConfig:
        config = exp.DepthConfig.preset_config(
            preset,
            depths=parse_ints(depths, "--depths"),
            block=block,
            width=width,
            deepest_seeds=deepest_seeds,
            batch_size=batch_size,
            checkpoint_from=checkpoint_from,
            **shared_changes(data, seeds, data_dir, device, workers, overrides),
        )
        config = with_budget(config, epochs, steps)
        if no_checkpoint:
            config = replace(config, checkpoint_from=None)
        if in_process:
            config = replace(config, isolate=False)
        return config

    execute("depth", build, exp.run, check=exp.check, out=out, quiet=quiet)
