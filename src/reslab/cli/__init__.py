"""Command-line front door. Each module below registers its commands on the shared app; the
`reslab run NAME` commands are generated from the experiment registry."""

from __future__ import annotations

# Command modules register themselves on import.
from reslab.cli import models, probe, report, run, train  # noqa: F401
from reslab.cli.app import app

run.register_all()


def main() -> None:
    app()


__all__ = ["app", "main"]
