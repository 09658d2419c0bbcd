from __future__ import annotations

from pathlib import Path

import numpy as np
import platformdirs
import pytest

from reslab.data.paths import cache_dir, data_root, save_npz_atomic


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESLAB_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("RESLAB_CACHE_DIR")
    assert cache_dir() == Path(platformdirs.user_cache_dir("reslab"))


def test_data_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESLAB_DATA_DIR", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root(None) == tmp_path / "env"
    monkeypatch.delenv("RESLAB_DATA_DIR")
    assert data_root(None) == Path(platformdirs.user_data_dir("reslab")) / "datasets"


def test_save_npz_atomic_replaces_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "sub" / "a.npz"
    save_npz_atomic(target, x=np.arange(3))
    save_npz_atomic(target, x=np.arange(5))
    with np.load(target) as npz:
        assert npz["x"].tolist() == [0, 1, 2, 3, 4]
    assert [p.name for p in target.parent.iterdir()] == ["a.npz"]

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full (test)")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        save_npz_atomic(target, x=np.arange(1))
    assert [p.name for p in target.parent.iterdir()] == ["a.npz"]  # old file kept, no temp left
