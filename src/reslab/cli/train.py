"""`reslab train MODEL --data DATA ...` and `reslab eval RUN_DIR_OR_CHECKPOINT`: thin layers over
``reslab.training.train`` and ``reslab.training.restore.evaluate_checkpoint``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from reslab.cli.app import app
from reslab.experiments.store import default_run_dir
from reslab.training import CheckpointError, TrainResult
from reslab.training import train as train_model
from reslab.training.distributed import launched
from reslab.training.recipes import RECIPES
from reslab.training.restore import evaluate_checkpoint

# Setup problems (unknown names, bad overrides, incompatible model/data, unwritable or occupied
# run directories, bad checkpoints) all surface as one of these, before any training.
_USER_ERRORS = (ValueError, CheckpointError)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where datasets live (torchvision's; tinyshakespeare/)."),
]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _default_out(model: str, data: str | None, recipe: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{model}-{data or 'default'}-{Path(recipe).stem}")
    return default_run_dir(slug)


def _flag(value: bool) -> bool | None:
    # An absent flag leaves the recipe's choice; a given one turns the option on.
    return True if value else None


@app.command()
def train(
    model: Annotated[str, typer.Argument(help="A registered model, e.g. resnet20.")],
    data: Annotated[
        str | None, typer.Option("--data", help="Dataset (default: the recipe's), e.g. mnist1d.")
    ] = None,
    recipe: Annotated[
        str, typer.Option("--recipe", help=f"{', '.join(RECIPES)}, or a YAML file.")
    ] = "paper",
    epochs: Annotated[int | None, typer.Option("--epochs", help="Train this many epochs.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Train this many steps.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default: runs/MODEL-DATA-...).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config field, e.g. --set optim.lr=0.05."),
    ] = None,
    device: Device = "auto",
    precision: Annotated[
        str | None, typer.Option("--precision", help="fp32, bf16 or fp16.")
    ] = None,
    channels_last: Annotated[bool, typer.Option("--channels-last")] = False,
    compile_: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    deterministic: Annotated[bool, typer.Option("--deterministic")] = False,
    checkpoint_blocks: Annotated[
        bool, typer.Option("--checkpoint-blocks", help="Gradient checkpointing per block.")
    ] = False,
    data_dir: DataDir = None,
    download: Annotated[bool, typer.Option("--download", help="Let torchvision fetch.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train MODEL on DATA with a recipe; writes a run directory (see docs/training.md)."""
    if epochs is not None and steps is not None:
        raise _fail("give --epochs or --steps, not both")
    if resume and out is None:
        raise _fail("--resume needs --out RUN_DIR, the run to continue")
    out = out or _default_out(model, data, recipe)
    try:
        result = train_model(
            model, data, recipe, overrides=set_ or (), epochs=epochs, steps=steps, out_dir=out,
            resume=resume, seed=seed, device=device, precision=precision,
            channels_last=_flag(channels_last), compile=_flag(compile_),
            deterministic=_flag(deterministic), checkpoint_blocks=_flag(checkpoint_blocks),
            quiet=quiet, data_dir=data_dir, download=download,
        )  # fmt: skip
    except _USER_ERRORS as err:
        raise _fail(str(err)) from None
    except KeyboardInterrupt:
        raise _fail(f"interrupted; continue with --resume --out {out}", code=130) from None
    if launched().is_main:
        typer.echo(_summary(result, out))


def _summary(result: TrainResult, out: Path) -> str:
    lines = [f"run: {out}", f"status: {result.status}"]
    if result.status == "diverged":
        lines.append(f"diverged at step {result.diverged_step}: the training loss was not finite")
    for key in ("test_err", "val_err", "train_err"):
        if key in result.final:
            split = key.split("_")[0]
            lines.append(f"{split} accuracy: {100 * (1 - result.final[key]):.2f}%")
    lines.append(f"steps: {result.steps}, wall time: {result.wall_s:.1f} s")
    return "\n".join(lines)


@app.command("eval")
def eval_(
    target: Annotated[
        Path, typer.Argument(metavar="RUN_DIR_OR_CHECKPOINT", help="A run directory or a file.")
    ],
    data: Annotated[
        str | None, typer.Option("--data", help="Dataset (default: the one it trained on).")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="test, val or train.")] = "test",
    data_dir: DataDir = None,
    device: Device = "auto",
    precision: Annotated[str, typer.Option("--precision")] = "fp32",
) -> None:
    """Evaluate a saved model: loss, accuracy and error on a split."""
    try:
        m = evaluate_checkpoint(
            target, data, split=split, data_dir=data_dir, device=device, precision=precision
        )
    except _USER_ERRORS as err:
        raise _fail(str(err)) from None
    typer.echo(
        f"{split}: loss {m['loss']:.4f}, accuracy {100 * m['acc']:.2f}%, "
        f"error {100 * m['err']:.2f}% over {m['n']} samples"
    )
