"""reslab.io: atomic writes keep the old file whole and leave no temp file behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

import reslab.io as rio
from reslab.io import TEMP_GLOB, atomic_write, atomic_write_text, save_npz_atomic


def test_write_creates_parents_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "file.bin"
    assert atomic_write(path, b"old") == path
    atomic_write(path, b"new contents")
    assert path.read_bytes() == b"new contents"
    assert [p.name for p in path.parent.iterdir()] == ["file.bin"]


def test_text_is_utf8_without_newline_translation(tmp_path: Path) -> None:
    path = atomic_write_text(str(tmp_path / "t.txt"), "ε ± ∞\r\nend\n")
    assert isinstance(path, Path)
    assert path.read_bytes() == "ε ± ∞\r\nend\n".encode()
    atomic_write_text(path, "x", encoding="latin-1")
    assert path.read_text() == "x"


def test_interrupted_write_keeps_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "results.json"
    atomic_write_text(path, "old")

    def fail(src: object, dst: object) -> None:
        raise KeyboardInterrupt  # a BaseException: interruption cleans up too

    monkeypatch.setattr(rio.os, "replace", fail)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_failed_fsync_keeps_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "file.bin"
    atomic_write(path, b"old")

    def fail(fd: int) -> None:
        raise OSError("disk full (test)")

    monkeypatch.setattr(rio.os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_killed_writer_leaves_a_temp_that_temp_glob_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A SIGKILL between write and rename runs no cleanup: what is left must match TEMP_GLOB
    # (the checkpoint directory is swept with it on resume), and the target is untouched.
    path = tmp_path / "latest.safetensors"
    atomic_write(path, b"old")
    monkeypatch.setattr(rio.os, "replace", lambda src, dst: None)  # killed before the rename
    atomic_write(path, b"new")
    assert path.read_bytes() == b"old"
    left = [p for p in tmp_path.iterdir() if p != path]
    assert len(left) == 1 and left[0].read_bytes() == b"new"
    assert list(tmp_path.glob(TEMP_GLOB)) == left


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_permissions_follow_the_umask_like_open(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644


def test_concurrent_temp_names_do_not_collide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another writer's temp file under the first name drawn: a second name is drawn, the other
    # writer's file is left alone.
    names = iter(["aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr(rio.secrets, "token_hex", lambda n: next(names))
    other = tmp_path / ".f.aaaa.tmp"
    other.write_bytes(b"theirs")
    atomic_write(tmp_path / "f", b"mine")
    assert (tmp_path / "f").read_bytes() == b"mine" and other.read_bytes() == b"theirs"


def test_save_npz_atomic_replaces_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "sub" / "a.npz"
    save_npz_atomic(target, {"x": np.arange(3)})
    save_npz_atomic(target, {"x": np.arange(5)})
    with np.load(target) as npz:
        assert npz["x"].tolist() == [0, 1, 2, 3, 4]
    assert [p.name for p in target.parent.iterdir()] == ["a.npz"]

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full (test)")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        save_npz_atomic(target, {"x": np.arange(1)})
    assert [p.name for p in target.parent.iterdir()] == ["a.npz"]  # old file kept, no temp left
