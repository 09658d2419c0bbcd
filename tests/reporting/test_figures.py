from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib._pylab_helpers import Gcf
from matplotlib.colors import to_rgb

from reslab.reporting.figures import (
    BOLD_WIDTH,
    THIN_WIDTH,
    depth_colors,
    fig_to_png,
    kind_color,
    new_figure,
    plot_curves,
)


def test_png_without_pyplot_or_rcparams_leaks():
    before = dict(mpl.rcParams)
    fig, ax = new_figure(1, 2, size=(4, 2))
    assert len(ax) == 2
    ax[0].plot([0, 1], [0, 1])
    png = fig_to_png(fig, dpi=50)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert Gcf.get_all_fig_managers() == []  # pyplot never saw the figure
    assert dict(mpl.rcParams) == before
    with pytest.raises(TypeError, match="accepted: matplotlib Figure"):
        fig_to_png(png)


def test_plot_curves_draws_mean_and_sample_std_band():
    _fig, ax = new_figure()
    x = np.arange(5.0)
    runs = np.array([[1.0, 2, 3, 4, 5], [3.0, 4, 5, 6, 7]])
    lines = plot_curves(ax, x, {"resnet": runs, "single": np.ones(5)}, bold=True)
    np.testing.assert_allclose(lines["resnet"].get_ydata(), [2, 3, 4, 5, 6])
    assert lines["resnet"].get_linewidth() == BOLD_WIDTH
    assert len(ax.collections) == 1  # a band for the 2-seed curve, none for the single run
    band = ax.collections[0].get_paths()[0].vertices
    # std with ddof=1 of two values 2 apart is sqrt(2): the band spans mean ± sqrt(2)
    np.testing.assert_allclose(band[:, 1].max() - 6.0, np.sqrt(2), rtol=1e-6)
    thin = plot_curves(ax, x, {"train": runs}, bold=False)
    assert thin["train"].get_linewidth() == THIN_WIDTH < BOLD_WIDTH


def test_plot_curves_rejects_mismatched_steps():
    _fig, ax = new_figure()
    with pytest.raises(
        ValueError, match=r"curves\['a'\] has shape \(2, 4\); accepted: \(seeds, 5\)"
    ):
        plot_curves(ax, np.arange(5), {"a": np.zeros((2, 4))})


def _luminance(rgb) -> float:
    r, g, b = rgb[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_depth_colours_darken_with_depth_within_each_family():
    for kind, channel in [("plain", 0), ("residual", 2), ("preact", 1)]:
        colors = depth_colors([110, 20, 56, 32], kind)
        assert list(colors) == [20, 32, 56, 110]
        lum = [_luminance(c) for c in colors.values()]
        assert lum == sorted(lum, reverse=True) and lum[0] > lum[-1] + 0.2
        rgb = to_rgb(kind_color(kind))
        assert int(np.argmax(rgb)) == channel  # red plain, blue residual, green pre-activation
    assert depth_colors([8], "pre-activation") == depth_colors([8], "preact")
    with pytest.raises(ValueError, match=r"kind='dense' is unknown; accepted: .*plain"):
        kind_color("dense")
