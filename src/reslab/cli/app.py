"""The Typer application every command module attaches to."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="reslab",
    help="reslab: a residual-network laboratory. Build ResNets, train them, measure why they work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
