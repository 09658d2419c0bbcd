"""Command-line front door. Each module below registers its commands on the shared app."""

from __future__ import annotations

from reslab.cli.app import app

# Command modules register themselves on import (one line each).
from reslab.cli import models as _models  # noqa: E402, F401


def main() -> None:
    app()


__all__ = ["app", "main"]
