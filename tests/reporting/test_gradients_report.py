from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reslab.experiments.driver import execute
from reslab.experiments.gradients import EXPERIMENT, GradientsConfig
from reslab.experiments.registry import load_result
from reslab.reporting import build_report, format_mean_std
from reslab.reporting._blocks import plotly_json
from reslab.reporting._format import format_value
from reslab.reporting.figures import KIND_COLORS
from reslab.reporting.gradients import (
    OTHER_COLOR,
    highway_plotly,
    measured_moments,
    net_choices,
)
from reslab.reporting.summary import table_cells

from .browser import is_blank, load_and_check

TINY = {"data": "synthetic1d", "seeds": 2, "batches": 1, "batch_size": 32, "workers": 1,
        "device": "cpu"}  # fmt: skip


def run_into(run_dir: Path, **changes) -> Path:
    config = GradientsConfig(**{**TINY, **changes})
    execute(EXPERIMENT, config, out=run_dir)
    return run_dir


@pytest.fixture(scope="module")
def gradients_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Depths 8 and 14, two seeds, depth 8 also trained 2 steps."""
    run_dir = tmp_path_factory.mktemp("gradients-report") / "run"
    return run_into(run_dir, depths=(8, 14), train_max_depth=8, steps=2)


def test_gradients_report_holds_figures_tables_and_laws(gradients_run) -> None:
    html = build_report(gradients_run).read_text()
    assert "gradient highway" in html and "first/last block input-gradient norm ratio" in html
    assert "<th>input ratio init</th>" in html and "<th>weight ratio trained</th>" in html
    assert "then trained 2 steps with the mnist1d recipe (depths up to 8)" in html
    results = json.loads((gradients_run / "results.json").read_text())
    row = next(r for r in results["summary"]["nets"] if (r["kind"], r["depth"]) == ("plain", 14))
    assert format_mean_std(row["input_ratio_init_mean"], row["input_ratio_init_std"]) in html
    for law in results["verdict"]["numbers"]["laws"]["init"].values():
        assert f"<td>{law}</td>" in html
    for name in ("gradients_profiles.png", "gradients_ratio.png"):
        assert (gradients_run / name).read_bytes().startswith(b"\x89PNG")
    assert html.count("<img") == 2


def test_gradients_report_renders(gradients_run, browser) -> None:
    errors, screenshot, images, _ = load_and_check(build_report(gradients_run), browser)
    assert errors == []
    assert images == 2
    assert not is_blank(screenshot)


def test_report_with_non_finite_norms(gradients_run, tmp_path, browser) -> None:
    # A plain net whose gradient overflowed: inf and nan in its profiles, an overflowed mean in
    # the summary, as to_jsonable writes them (null, "inf").
    run_dir = tmp_path / "overflow"
    shutil.copytree(gradients_run, run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    record = next(r for r in results["records"] if (r["kind"], r["depth"]) == ("plain", 14))
    record["profiles"]["input_init"][:2] = [None, "inf"]
    results["summary"]["nets"][0]["input_ratio_init_mean"] = "inf"
    (run_dir / "results.json").write_text(json.dumps(results))
    path = build_report(run_dir)
    assert "∞" in path.read_text()
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == [] and images == 2 and not is_blank(screenshot)


@pytest.fixture(scope="module")
def init_only_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("gradients-init") / "run"
    return run_into(run_dir, depths=(8,), steps=0, seeds=1)


def test_report_of_an_init_only_run(init_only_run) -> None:
    html = build_report(init_only_run).read_text()
    assert "after 0 steps" not in html and "one depth" in html and "then trained" not in html
    assert html.count("<img") == 2


def test_report_of_an_init_only_run_renders(init_only_run, browser) -> None:
    errors, screenshot, images, _ = load_and_check(build_report(init_only_run), browser)
    assert errors == [] and images == 2 and not is_blank(screenshot)


def test_ratio_cells_of_extreme_ratios_use_exponents() -> None:
    # A plain net's first/last ratio can be 1e7 or 1e-7: the summary table shows a shared
    # exponent, not 73000000.0 or 0.0000005.
    row = {"kind": "plain", "depth": 110, "blocks": 54, "seeds": 2,
           "input_ratio_init_mean": 7.3e7, "input_ratio_init_std": 2.1e5,
           "weight_ratio_init_mean": 5e-7, "weight_ratio_init_std": 5e-7,
           "input_ratio_init_nonfinite": 0, "weight_ratio_init_nonfinite": 1}  # fmt: skip
    columns, rows = table_cells([row])
    cells = dict(zip(columns, rows[0], strict=True))
    assert format_value(cells["input ratio init"]) == "(7.30 ± 0.02)e+07"
    assert format_value(cells["weight ratio init"]) == "(5 ± 5)e-07"
    assert cells["weight ratio init nonfinite"] == 1
    row["input_ratio_init_mean"] = None  # a ratio never finite: JSON null, an empty cell
    assert table_cells([row])[1][0][columns.index("input ratio init")] is None


# -- the interactive highway ----------------------------------------------------------------------

MOMENTS = {"init": "at initialisation", "trained": "after 5 steps"}


def geometric(arrays: dict[str, np.ndarray], net: str, phase: str) -> np.ndarray:
    """What the figure must plot: per block, the geometric mean over the seeds' norms."""
    seeds = [v for k, v in sorted(arrays.items()) if k.startswith(f"{net}_seed")
             and k.endswith(f"_input_{phase}")]  # fmt: skip
    return 10 ** np.log10(np.stack(seeds)).mean(axis=0)


def hand_arrays() -> dict[str, np.ndarray]:
    """Two seeds of a plain net that fades by 2 decades per stage, a flat residual one and a
    kind the report has no name or colour for; depth 14 measured at initialisation only; weight
    norms as decoys."""
    arrays = {}
    for kind, decades in (("plain", 2.0), ("residual", 0.1), ("gated", 0.0)):
        for depth, blocks in ((8, 3), (14, 6)):
            for seed in range(2):
                for phase in ("init", "trained") if depth == 8 else ("init",):
                    norms = (1 + seed) * np.logspace(-decades * blocks, 0, blocks)
                    arrays[f"{kind}{depth}_seed{seed}_input_{phase}"] = norms
                    arrays[f"{kind}{depth}_seed{seed}_weight_{phase}"] = 1e9 * norms
    return arrays


def visible(fig: dict[str, Any], key: str) -> list[dict[str, Any]]:
    flags = fig["layout"]["meta"]["views"][key]["visible"]
    return [t for t, shown in zip(fig["data"], flags, strict=True) if shown]


def test_highway_figure_has_one_view_per_combination() -> None:
    arrays = hand_arrays()
    rows = [{"kind": k, "depth": d} for k in ("gated", "residual", "plain") for d in (14, 8)]
    kinds, depths = net_choices(rows)
    assert (kinds, depths) == (["plain", "residual", "gated"], [8, 14])
    assert measured_moments(arrays) == ["init", "trained"]
    fig = highway_plotly(arrays, kinds, depths, MOMENTS, {"trained": "depths up to 8 only"})
    layout = fig["layout"]
    # 3 kinds x 3 measured (depth, moment) pairs, each a band (2 traces) and a mean.
    assert len(fig["data"]) == 3 * 3 * 3
    assert layout["yaxis"]["type"] == "log" and layout["yaxis"]["autorange"] is False
    assert [[b["label"] for b in m["buttons"]] for m in layout["updatemenus"]] == [
        ["plain", "residual", "gated"], ["8", "14"], list(MOMENTS.values())
    ]  # fmt: skip
    assert all(b["method"] == "skip" for m in layout["updatemenus"] for b in m["buttons"])
    views = layout["meta"]["views"]
    assert len(views) == 3 * 2 * 2
    for i, kind in enumerate(kinds):
        for j, depth in enumerate(depths):
            for k, phase in enumerate(MOMENTS):
                key, view = f"{i},{j},{k}", views[f"{i},{j},{k}"]["layout"]
                # One range per depth, whole decades around every net's values at that depth.
                assert view["yaxis.range"] == {8: [-6, 1], 14: [-12, 1]}[depth]
                if (depth, phase) == (14, "trained"):
                    assert visible(fig, key) == []
                    assert view["annotations[0].visible"] is True
                    assert view["annotations[0].text"] == "not measured (depths up to 8 only)"
                    assert view["title.text"].endswith(": not measured")
                    continue
                band_low, band_high, mean = visible(fig, key)
                norms = np.stack([arrays[f"{kind}{depth}_seed{s}_input_{phase}"] for s in (0, 1)])
                np.testing.assert_allclose(mean["y"], geometric(arrays, f"{kind}{depth}", phase))
                np.testing.assert_allclose(band_low["y"], norms.min(axis=0))
                np.testing.assert_allclose(band_high["y"], norms.max(axis=0))
                assert mean["x"] == list(range(1, norms.shape[1] + 1))
                assert view["annotations[0].visible"] is False
                assert view["title.text"].startswith(f"{kind}-{depth}, {MOMENTS[phase]}:")
    colors = {t["line"]["color"] for t in visible(fig, "2,0,0")}
    assert colors == {OTHER_COLOR} and KIND_COLORS["plain"] in {
        t["line"]["color"] for t in visible(fig, "0,0,0")
    }


def test_highway_figure_starts_on_the_deepest_trained_plain_net() -> None:
    fig = highway_plotly(hand_arrays(), ["plain", "residual"], [8, 14], MOMENTS)
    layout = fig["layout"]
    assert [m["active"] for m in layout["updatemenus"]] == [0, 0, 1]  # plain-8, after training
    assert [t["visible"] for t in fig["data"]] == layout["meta"]["views"]["0,0,1"]["visible"]
    assert layout["title"]["text"].startswith("plain-8, after 5 steps")
    assert layout["yaxis"]["range"] == [-6, 1] and layout["yaxis"]["dtick"] == 1
    assert layout["annotations"][0]["visible"] is False
    # The spec survives the report's JSON writer: no NaN, the views intact.
    assert json.loads(plotly_json(fig))["layout"]["meta"]["views"] == layout["meta"]["views"]


def test_highway_figure_leaves_gaps_for_non_finite_norms() -> None:
    arrays = {f"plain8_seed{s}_input_init": np.array([1.0, 0.1, 0.01]) for s in (0, 1)}
    arrays["plain8_seed1_input_init"] = np.array([np.inf, 0.1, 0.0])
    arrays |= {f"plain20_seed{s}_input_init": np.full(9, np.nan) for s in (0, 1)}
    fig = highway_plotly(arrays, ["plain"], [8, 20], {"init": "at init"})
    views = fig["layout"]["meta"]["views"]
    low, high, mean = visible(fig, "0,0,0")
    for trace in (low, high, mean):
        assert trace["y"] == [None, pytest.approx(0.1), None]
    assert views["0,0,0"]["layout"]["title.text"].endswith("(2 of 3 blocks non-finite)")
    assert views["0,1,0"]["layout"]["annotations[0].text"].startswith("no finite norm")
    assert [m["active"] for m in fig["layout"]["updatemenus"]] == [0, 0, 0]
    assert "NaN" not in plotly_json(fig)


# The page's state: the visible traces drawn by Plotly, the title and the status line.
STATE_JS = """
const gd = document.getElementById('plotly-figure-1');
const shown = gd._fullData.filter(t => t.visible === true);
const status = gd._fullLayout.annotations[0];
return {
  title: gd._fullLayout.title.text,
  status: status.visible ? status.text : null,
  status_drawn: Array.from(gd.querySelectorAll('g.annotation')).map(a => a.textContent),
  names: shown.map(t => t.name),
  mean: shown.filter(t => t.name.startsWith('geometric')).map(t => Array.from(gd.data[t.index].y)),
  drawn: gd.querySelectorAll('.scatterlayer .trace').length,
  active: gd.layout.updatemenus.map(m => m.active),
};
"""


def click(driver: Any, menu: int, label: str) -> None:
    """A real mouse click on a button that Plotly drew, in the menu'th row."""
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#plotly-figure-1 g.updatemenu-header-group")
    buttons = rows[menu].find_elements(By.CSS_SELECTOR, "g.updatemenu-button")
    next(b for b in buttons if b.text == label).click()


def test_highway_controls_switch_the_plotted_data(gradients_run, browser) -> None:
    arrays = load_result(gradients_run).arrays()
    errors, _, _, plotly = load_and_check(build_report(gradients_run), browser)
    assert errors == [] and plotly == 1
    state = browser.execute_script(STATE_JS)
    assert state["active"] == [0, 0, 1]  # plain-8 after training: the deepest trained net
    assert state["title"].startswith("plain-8, after 2 steps")
    assert state["names"] == ["min", "min–max over 2 seeds", "geometric mean over 2 seeds"]
    np.testing.assert_allclose(state["mean"][0], geometric(arrays, "plain8", "trained"))
    assert state["drawn"] == 3 and state["status"] is None

    click(browser, 0, "residual")
    state = browser.execute_script(STATE_JS)
    assert state["active"] == [1, 0, 1] and state["title"].startswith("residual-8, after 2")
    np.testing.assert_allclose(state["mean"][0], geometric(arrays, "residual8", "trained"))
    assert not np.allclose(state["mean"][0], geometric(arrays, "plain8", "trained"))

    click(browser, 1, "14")  # depth 14 is measured at initialisation only
    state = browser.execute_script(STATE_JS)
    assert state["names"] == [] and state["drawn"] == 0  # no stale curve left
    assert state["status"] == "not measured (this run trains depths up to 8 only)"
    assert state["status"] in state["status_drawn"]
    assert state["title"] == "residual-14, after 2 steps: not measured"

    click(browser, 2, "at initialisation")
    state = browser.execute_script(STATE_JS)
    assert state["active"] == [1, 1, 0] and state["status"] is None and state["drawn"] == 3
    np.testing.assert_allclose(state["mean"][0], geometric(arrays, "residual14", "init"))
    assert len(state["mean"][0]) == 6  # (14 - 2) / 6 blocks per stage x 3 stages
    assert browser.get_log("browser") == []
