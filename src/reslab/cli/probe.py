"""`reslab probe gradients|lesion|responses --pretrained SOURCE | --model-file PATH --data DATA`:
a thin layer over ``reslab.probe_api.run_probe``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from reslab.cli.app import app
from reslab.experiments.store import default_run_dir
from reslab.probes.run import PROBES


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command()
def probe(
    kind: Annotated[str, typer.Argument(metavar="PROBE", help=f"{', '.join(PROBES)}.")],
    pretrained: Annotated[
        str | None,
        typer.Option(
            "--pretrained",
            help="nanogpt:PATH, gpt2:PATH, timm:ARCH or NAME:WEIGHTS (torchvision, e.g. "
            "resnet50:IMAGENET1K_V2).",
        ),
    ] = None,
    model_file: Annotated[
        Path | None,
        typer.Option(
            "--model-file",
            help="A nanoGPT ckpt.pt, a GPT-2 folder or a ResNet state dict (with --pretrained "
            "timm:ARCH: that model's weights).",
        ),
    ] = None,
    data: Annotated[
        str, typer.Option("--data", help="imagefolder:PATH, cifar10, shakespeare_char, text:PATH.")
    ] = "cifar10",
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where datasets live.")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="test, val or train.")] = "test",
    samples: Annotated[int, typer.Option("--samples", help="Samples, evenly spread.")] = 256,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 64,
    out: Annotated[
        Path | None, typer.Option("--out", help="A new folder (default: runs/probe-...).")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Measure a trained model's blocks: gradient norms, single-block lesions or layer responses;
    writes probe.json and report.html (a measurement: no verdict)."""
    from reslab.probe_api import run_probe  # torch and the models load only for this command

    if kind not in PROBES:
        raise _fail(f"probe {kind!r} is unknown; accepted: {', '.join(PROBES)}")
    name = pretrained or (model_file.name if model_file else "model")
    out = out or default_run_dir(re.sub(r"[^A-Za-z0-9_.-]+", "_", f"probe-{kind}-{name}"))
    try:
        saved = run_probe(
            kind, source=pretrained, model_file=model_file, data=data, data_dir=data_dir,
            split=split, samples=samples, batch_size=batch_size, device=device, out=out,
        )  # fmt: skip
    except ValueError as err:  # PretrainedError, DataError and ConfigError are ValueErrors
        raise _fail(str(err)) from None
    result = saved["result"]
    typer.echo(f"{kind} on {saved['model']['source']}: {len(result['rows'])} rows, "
               f"{result['samples']} samples")  # fmt: skip
    if result["intact"]:
        typer.echo(f"intact: loss {result['intact']['loss']:.4f}, error "
                   f"{result['intact']['err']:.2f}%")  # fmt: skip
    typer.echo(f"report: {out / 'report.html'}")
