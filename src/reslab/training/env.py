"""Where and how a run ran (``env.json``): versions, device, commit, seed, host, command line."""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch


@functools.cache  # one lookup per process: experiments call fit() many times
def git_commit() -> str | None:
    """The commit of the checkout reslab is imported from, if it is one ("-dirty" if modified)."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=here, capture_output=True, text=True, timeout=5
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def environment(device: torch.device, seed: int, world_size: int = 1) -> dict[str, Any]:
    import torchvision

    from reslab.version import __version__

    cuda = torch.version.cuda if device.type == "cuda" else None
    cudnn = torch.backends.cudnn.version() if device.type == "cuda" else None
    return {
        "reslab": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "device": device_name(device),
        "cuda": cuda,
        "cudnn": cudnn,
        "world_size": world_size,
        "git_commit": git_commit(),
        "seed": seed,
        "hostname": platform.node(),
        "command": " ".join(sys.argv),
    }
