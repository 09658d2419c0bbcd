"""Where datasets and caches live, and how cache files are written safely."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import platformdirs

from reslab.io import atomic_write

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


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    """Write to a temporary file in the same folder, then rename (``reslab.io.atomic_write``):
    readers never see half a file, and two processes generating at once both end with a complete
    one."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(path, buffer.getvalue())
