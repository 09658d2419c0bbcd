from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
import pytest

from reslab.reporting import MeanStd, Report
from reslab.reporting.figures import new_figure, plot_curves

from .browser import chromium

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from selenium.webdriver.remote.webdriver import WebDriver


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the whole session (starting it costs ~1-2 s on 2 cores)."""
    with chromium() as driver:
        yield driver


def bowl_surface(n: int = 25) -> go.Figure:
    """A 3-D surface like the loss-landscape experiment draws (Li et al. 2018, Fig. 1)."""
    axis = np.linspace(-1.0, 1.0, n)
    z = np.log1p(np.add.outer(axis**2, 2 * axis**2))
    return go.Figure(go.Surface(x=axis, y=axis, z=z, colorscale="Viridis"))


def curves_png() -> Figure:
    fig, ax = new_figure()
    rng = np.random.default_rng(0)
    steps = np.arange(40)
    curves = {
        "plain-56": 0.3 + 0.01 * rng.standard_normal((3, 40)) + 0.5 * np.exp(-steps / 15),
        "resnet-56": 0.1 + 0.01 * rng.standard_normal((3, 40)) + 0.5 * np.exp(-steps / 10),
    }
    plot_curves(ax, steps, curves, bold=True)
    ax.set(xlabel="epoch", ylabel="test error")
    ax.legend()
    return fig


def demo_report(title: str = "Demo report") -> Report:
    """A table, a matplotlib PNG and a Plotly 3-D surface: what the experiments' reports hold."""
    report = Report(title, subtitle="Plain vs residual networks (He et al. 2016, Table 6)")
    report.add_section("Summary")
    report.add_verdict("Residual nets beat plain nets at depth 56.", ok=True)
    report.add_table(
        ["network", "depth", "test error (%)"],
        [["plain", 56, MeanStd(8.74, 0.21)], ["resnet", 56, MeanStd(6.97, 0.15)]],
        caption="mean ± std over 3 seeds",
        highlight={"test error (%)": "min"},
    )
    report.add_section("Curves").add_figure(curves_png(), caption="bold: test error")
    report.add_section("Landscape").add_plotly(bowl_surface(), caption="loss surface")
    report.add_provenance({"seed": [0, 1, 2], "device": "cpu", "config": {"depth": 56}})
    return report


@pytest.fixture
def demo_html(tmp_path: Path) -> Path:
    return demo_report().write(tmp_path / "report.html")
