"""Reports of the block ablations (shortcut variants and activation placement)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from reslab.experiments.driver import execute
from reslab.experiments.placement import EXPERIMENT as PLACEMENT
from reslab.experiments.placement import PlacementConfig
from reslab.experiments.shortcuts import EXPERIMENT as SHORTCUTS
from reslab.experiments.shortcuts import ShortcutsConfig
from reslab.reporting import build_report
from reslab.reporting.ablation import gradient_profile

from .browser import is_blank, load_and_check

TINY = {"data": "synthetic1d", "depth": 8, "seeds": 2, "epochs": None, "steps": 3,
        "batch_size": 32, "batches": 1, "workers": 1, "device": "cpu"}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: extra threads only contend on a shared machine
    out = {}
    for spec, config in (
        (SHORTCUTS, ShortcutsConfig(**TINY, variants=("identity", "plain", "dropout"))),
        (PLACEMENT, PlacementConfig(**TINY, variants=("original", "full_preact"))),
    ):
        out[spec.name] = tmp_path_factory.mktemp(spec.name) / "run"
        execute(spec, config, out=out[spec.name])
    torch.set_num_threads(threads)
    yield out


@pytest.mark.parametrize("name", ["shortcuts", "placement"])
def test_report_renders_with_the_figure_and_table(
    runs: dict[str, Path], name: str, browser
) -> None:
    run_dir = runs[name]
    html = build_report(run_dir).read_text()
    assert (run_dir / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert "He et al. 2016" in html and "Variants" in html
    assert "(paper)" in html  # the paper's column sits beside ours
    errors, screenshot, images, _ = load_and_check(run_dir / "report.html", browser)
    assert errors == [] and images == 1 and not is_blank(screenshot)


def test_gradient_profile_is_the_geometric_mean_over_seeds() -> None:
    arrays = {
        "a_seed0_grad": np.array([[1.0, 100.0], [1.0, 1.0], [0.0, 0.0]]),
        "a_seed1_grad": np.array([[4.0, 1.0], [1.0, 1.0], [0.0, 0.0]]),
        "ab_seed0_grad": np.array([[9.0, 9.0], [9.0, 9.0], [9.0, 9.0]]),  # another variant
    }
    np.testing.assert_allclose(gradient_profile(arrays, "a", 0), [2.0, 10.0])
    np.testing.assert_array_equal(gradient_profile(arrays, "a", 2), [0.0, 0.0])
