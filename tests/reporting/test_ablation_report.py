"""Reports of the block ablations (shortcut variants and activation placement)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reslab.reporting.ablation import gradient_profile

from .browser import rendered_report


@pytest.fixture(scope="module")
def runs(tiny_run) -> dict[str, Path]:
    return {
        "shortcuts": tiny_run("shortcuts", steps=3, variants=("identity", "plain", "dropout")),
        "placement": tiny_run("placement", seeds=2, variants=("original", "full_preact")),
    }


@pytest.mark.parametrize("name", ["shortcuts", "placement"])
def test_report_renders_with_the_figure_and_table(
    runs: dict[str, Path], name: str, browser
) -> None:
    html = rendered_report(runs[name], browser, (f"{name}.png",), 1)
    assert "He et al. 2016" in html and "Variants" in html
    assert "(paper)" in html  # the paper's column sits beside ours


def test_gradient_profile_is_the_geometric_mean_over_seeds() -> None:
    arrays = {
        "a_seed0_grad": np.array([[1.0, 100.0], [1.0, 1.0], [0.0, 0.0]]),
        "a_seed1_grad": np.array([[4.0, 1.0], [1.0, 1.0], [0.0, 0.0]]),
        "ab_seed0_grad": np.array([[9.0, 9.0], [9.0, 9.0], [9.0, 9.0]]),  # another variant
    }
    np.testing.assert_allclose(gradient_profile(arrays, "a", 0), [2.0, 10.0])
    np.testing.assert_array_equal(gradient_profile(arrays, "a", 2), [0.0, 0.0])


def test_placement_report_shows_the_calibration_apart_from_the_confirmation(
    runs: dict[str, Path],
) -> None:
    html = (runs["placement"] / "report.html").read_text()
    assert "Thresholds, sized on calibration seeds" in html
    assert "1000, 1001, 1002" in html and "18.0, 53.6, 36.1" in html  # the original's errors
    assert "35.6 points" in html  # what the quick preset's rule sized
