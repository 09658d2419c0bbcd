"""Command-line front door. Each module below registers its commands on the shared app."""

from __future__ import annotations

# Command modules register themselves on import.
from reslab.cli import (  # noqa: F401
    models,
    report,
    run_degradation,
    run_depth,
    run_gradients,
    run_identity,
    run_landscape,
    run_lesion,
    train,
)
from reslab.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
