"""Command-line front door. Each module below registers its commands on the shared app."""

from __future__ import annotations

from reslab.cli.app import app

# Command modules register themselves on import (one line each).
from reslab.cli import models as _models  # noqa: E402, F401
from reslab.cli import train as _train  # noqa: E402, F401
from reslab.cli import report as _report  # noqa: E402, F401
from reslab.cli import run_degradation as _run_degradation  # noqa: E402, F401
from reslab.cli import run_lesion as _run_lesion  # noqa: E402, F401
from reslab.cli import run_identity as _run_identity  # noqa: E402, F401
from reslab.cli import run_depth as _run_depth  # noqa: E402, F401
from reslab.cli import run_gradients as _run_gradients  # noqa: E402, F401
from reslab.cli import run_landscape as _run_landscape  # noqa: E402, F401


def main() -> None:
    app()


__all__ = ["app", "main"]
