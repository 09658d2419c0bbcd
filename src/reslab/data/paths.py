"""Where datasets and caches live, and how cache files are written safely."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

CACHE_ENV = "RESLAB_CACHE_DIR"
DATA_ENV = "RESLAB_DATA_DIR"


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path(platformdirs.user_cache_dir("reslab"))


def data_root(data_dir: str | Path | None) -> Path:
    """The folder torchvision datasets live under: argument, then $RESLAB_DATA_DIR, then the user
    data dir."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("reslab")) / "datasets"
