"""Report of the DenseNet experiment (Huang et al. 2017, Table 2 and Figure 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reslab.reporting import build_report
from reslab.reporting.densenet import reuse_png
from reslab.reporting.registry import get_figures

from .browser import rendered_report


@pytest.fixture(scope="module")
def densenet_run(tiny_run) -> Path:
    return tiny_run("densenet")


def test_densenet_report_renders_both_figures(densenet_run: Path, browser) -> None:
    assert get_figures("densenet") is not None
    html = rendered_report(densenet_run, browser, ("densenet.png", "densenet_reuse.png"), 2)
    assert "Huang et al. 2017" in html and "Feature reuse (Figure 5)" in html


def test_report_tables_put_the_paper_beside_ours(densenet_run: Path) -> None:
    html = build_report(densenet_run).read_text()
    assert "c10 plus (paper)" in html and "4.51" in html and "6.41" in html
    nets = html[html.index("<caption>nets") :]
    nets = nets[: nets.index("</table>")]
    assert nets.count("<tr>") == 1 + 3 and "±" in nets  # DenseNet, ResNet, plain
    assert "<caption>memory" in html and "mb per sample" in html


def test_reuse_figure_draws_one_panel_per_block() -> None:
    grid = np.full((3, 3), np.nan)
    grid[np.tril_indices(3)] = [1.0, 0.5, 1.0, 0.2, 0.4, 0.8]
    png = reuse_png([grid.tolist(), grid.tolist()])
    assert png.startswith(b"\x89PNG")
