from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from reslab.data.paths import cache_dir, data_root


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
