"""Atomic file writes: a reader sees the previous file or the new one, never a torn mix.

The bottom of the dependency graph: imports nothing from reslab, so every layer can use it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from io import BytesIO
from pathlib import Path

import numpy as np

# Temp files are ".<name>.<random>.tmp" beside their target; one a killed writer left behind
# matches TEMP_GLOB (and is never read: it can be deleted).
TEMP_GLOB = ".*.tmp"


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same directory: write, fsync, then
    ``os.replace`` and fsync the directory, so even a SIGKILL or a power cut leaves either the old
    file or the new one. The temp file is removed if anything fails (the old file is kept).

    Missing parent directories are created. The file gets the permissions ``open()`` would give
    it (0666 less the umask), not the 0600 of ``tempfile.mkstemp``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)  # make the rename itself durable
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """``atomic_write`` of ``text`` encoded as ``encoding`` (no newline translation)."""
    return atomic_write(path, text.encode(encoding))


def save_npz_atomic(
    path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], *, compressed: bool = False
) -> Path:
    """``np.savez`` (``savez_compressed`` with ``compressed``) of ``arrays``, built in memory and
    written with ``atomic_write``: two processes writing at once both leave a complete file."""
    buffer = BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return atomic_write(path, buffer.getvalue())


def _create_temp(path: Path) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp  # 0o666 & ~umask, like open()
        except FileExistsError:  # another writer's temp file: draw another name
            continue


def _fsync_dir(directory: Path) -> None:
    if os.name == "nt":  # directories cannot be opened (nor need fsync) there
        return
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
