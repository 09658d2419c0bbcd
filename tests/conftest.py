from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny nets: on a shared 2-core machine extra OpenMP threads only contend (a 0.2 s run took
    tens of seconds under load). Module scope, so that a module's tiny runs are covered too:
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    with single_thread():
        yield


class TinyRuns:
    """``tiny_run(name, **changes)``: the run directory of experiment ``name`` at its tiny
    configuration (tests/experiments/tiny.py) with ``changes``, run once per session on one
    thread. Shared: a test that writes into it (other than a report) works on a copy."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._done: dict[str, tuple[Any, Path]] = {}

    def config(self, name: str, **changes: Any) -> Any:
        from tests.experiments.tiny import tiny_config

        folder = self.root / "inputs"
        folder.mkdir(exist_ok=True)
        return dataclasses.replace(tiny_config(name, folder), **changes)

    def _run(self, name: str, changes: dict[str, Any]) -> tuple[Any, Path]:
        key = f"{name}{sorted(changes.items())}"
        if key not in self._done:
            from reslab.experiments.driver import execute
            from reslab.experiments.registry import get_experiment

            config = self.config(name, **changes)
            run_dir = self.root / f"{name}-{len(self._done)}"
            with single_thread():
                result = execute(get_experiment(name), config, out=run_dir)
            self._done[key] = (result, run_dir)
        return self._done[key]

    def result(self, name: str, **changes: Any) -> Any:
        """The result ``execute`` returned, before any saving and loading."""
        return self._run(name, changes)[0]

    def __call__(self, name: str, **changes: Any) -> Path:
        return self._run(name, changes)[1]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> TinyRuns:
    return TinyRuns(tmp_path_factory.mktemp("tiny-runs"))
