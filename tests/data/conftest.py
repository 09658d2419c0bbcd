from __future__ import annotations

import os
from pathlib import Path

import pytest

_DEFAULT_SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def shared_data_dir() -> Path:
    return Path(os.environ.get("RESLAB_SHARED_DATA", _DEFAULT_SHARED))


@pytest.fixture
def shared_data() -> Path:
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"shared datasets not found at {root} (set RESLAB_SHARED_DATA)")
    return root


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the whole session, so MNIST-1D is generated at most once (a few seconds)."""
    return tmp_path_factory.mktemp("reslab-cache")


@pytest.fixture(autouse=True)
def _isolated_dirs(session_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never read or write the user's real cache or dataset folders.
    monkeypatch.setenv("RESLAB_CACHE_DIR", str(session_cache))
    monkeypatch.setenv("RESLAB_DATA_DIR", str(tmp_path / "no-datasets-here"))
