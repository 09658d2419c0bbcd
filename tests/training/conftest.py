from __future__ import annotations

from pathlib import Path

import pytest

from reslab.data import DataBundle, load_data


@pytest.fixture(scope="session")
def seq_data() -> DataBundle:
    return load_data("synthetic1d")  # 512/256 generated sequences (1, 40), 10 classes


@pytest.fixture(scope="session")
def image_data() -> DataBundle:
    return load_data("synthetic")  # 512/256 generated uint8 images (3, 32, 32), crop+flip


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reslab-cache")  # MNIST-1D is generated once per session


@pytest.fixture(autouse=True)
def _isolated_dirs(session_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never read or write the user's real cache or dataset folders.
    monkeypatch.setenv("RESLAB_CACHE_DIR", str(session_cache))
    monkeypatch.setenv("RESLAB_DATA_DIR", str(tmp_path / "no-datasets-here"))


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every training module on one thread: these runs are tiny (a 40-step run takes 2 s on one
    thread and over 15 s on two under load)."""
