"""The landscape report: drawn from a saved run only, figures written and embedded, the 3-D
surfaces drawn by Plotly in a real browser, and the measurement conditions stated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.reporting.browser import chromium, is_blank, load_and_check

from reslab.experiments import landscape as ls
from reslab.experiments.common import provenance
from reslab.experiments.landscape.nets import TrainSummary
from reslab.experiments.landscape.path import Trajectory
from reslab.experiments.registry import get_experiment, load_result
from reslab.experiments.result import Result
from reslab.probes.landscape.measures import measure_surface
from reslab.reporting import build_report

SURFACES = {
    # A bumpy surface for the plain net, a bowl for the residual one: the contrast of Figure 5.
    "plain": lambda x, y: 2.0 + np.cos(5 * x) * np.cos(4 * y) + 1.5 * (x**2 + y**2),
    "residual": lambda x, y: 0.2 + 3.0 * (x**2 + y**2),
}


def trajectory(fn) -> Trajectory:
    # A path spiralling into the minimum of ``fn`` on a 9x9 grid of the PCA plane.
    xs, ys = np.linspace(-1.0, 4.0, 9), np.linspace(-0.5, 1.5, 9)
    xs[1], ys[2] = 0.0, 0.0
    gx, gy = np.meshgrid(xs, ys)
    t = np.linspace(1, 0, 11)
    x, y = 3.5 * t**2, 1.2 * t * np.cos(6 * t)
    x[-1] = y[-1] = 0.0
    return Trajectory(
        steps=list(range(0, 110, 10)), x=x.tolist(), y=y.tolist(),
        explained_variance=[0.873, 0.091], xs=xs.tolist(), ys=ys.tolist(),
        loss=fn(gx, gy).ravel().tolist(), acc=np.exp(-fn(gx, gy)).ravel().tolist(),
        evaluated=81, resumed=0, wall_s=9.0,
    )  # fmt: skip


def saved_run(tmp_path: Path, with_trajectory: bool = True) -> tuple[Path, Result]:
    config = ls.LandscapeConfig(depth=56, resolution=11, interp_points=9, interp_span=(-0.5, 1.5))
    xs, ys, alphas = ls.grid_axes(config)
    gx, gy = np.meshgrid(xs, ys)
    records = []
    for i, (kind, fn) in enumerate(SURFACES.items()):
        loss = fn(gx, gy)
        records.append(
            ls.NetRecord(
                kind=kind,
                depth=56,
                seed=0,
                params=287386,
                train=TrainSummary("completed", 12.0 - 5 * i, 14.0 - 5 * i, 60.0),
                center_loss=float(loss[5, 5]),
                center_acc=float(np.exp(-loss[5, 5])),
                surface_evaluated=121,
                surface_resumed=0,
                surface_wall_s=30.0,
                points_per_s=4.0,
                interp_wall_s=2.0,
                measures=measure_surface(loss, xs, ys),
                surface_loss=loss.ravel().tolist(),
                surface_acc=np.exp(-loss).ravel().tolist(),
                interp_loss=(0.3 + (alphas - 1) ** 2 + i).tolist(),
                interp_acc=(np.clip(alphas, 0, 1) * 0.9).tolist(),
                trajectory=trajectory(fn) if with_trajectory else None,
            )
        )
    summary = ls.summarize(config, records)
    verdict = ls.judge(config, summary)
    result = Result("landscape", config, provenance("cpu", [0]), verdict, summary, records,
                    spec=get_experiment("landscape"))  # fmt: skip
    return result.save(tmp_path / "run"), result


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Result]:
    run_dir, result = saved_run(tmp_path_factory.mktemp("landscape-report"))
    return run_dir, build_report(run_dir), result


def test_report_states_the_verdict_numbers_and_conditions(built) -> None:
    run_dir, path, result = built
    assert result.verdict.ok is True
    html = path.read_text()
    assert result.verdict.text.split(":")[0] in html  # the computed verdict, not a fixed one
    assert "eval mode, using the trained running statistics" in html
    assert "1000" in html and "training samples" in html  # the subset size is stated
    assert "ignore=&#x27;biasbn&#x27;" in html or "ignore='biasbn'" in html
    assert "11x11 grid" in html and "a, b in [-1, 1]" in html
    assert html.count('class="plotly-graph') >= 1
    plain = next(r for r in result.summary["nets"] if r["kind"] == "plain")
    assert f"{plain['loss_range_mean']:.3g}" in html  # the summary table shows the measures
    assert "nonconvex frac" in html and "points resumed" in html  # both tables, as explained
    assert "Training trajectories" in html and "not filter-normalised" in html
    assert "pc1 explained" in html  # the trajectory table
    pngs = ("landscape_contours.png", "landscape_interpolation.png", "landscape_trajectory.png")
    for png in pngs:
        data = (run_dir / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000


def test_raw_npz_has_the_grids_the_report_draws(built) -> None:
    run_dir, _, result = built
    with np.load(run_dir / "raw.npz") as npz:
        assert npz["plain_seed0_loss"].shape == (11, 11) and npz["alphas"].shape == (9,)
        np.testing.assert_array_equal(
            npz["residual_seed0_loss"], result.arrays()["residual_seed0_loss"]
        )


def test_an_inconclusive_verdict_is_shown_as_such(tmp_path: Path) -> None:
    run_dir, result = saved_run(tmp_path)
    result.verdict = ls.judge(result.config, {"nets": [
        {**row, "nonconvex_frac_mean": 0.3} for row in result.summary["nets"]
    ]})  # fmt: skip
    assert result.verdict.ok is False and result.verdict.numbers["smoother"] is None
    result.save(run_dir)
    assert load_result(run_dir).verdict.numbers["smoother"] is None  # through results.json
    html = build_report(run_dir).read_text()
    assert 'data-ok="contradicted"' in html and "no clear difference" in html


def test_report_renders_in_a_real_browser(built) -> None:
    _, path, _ = built
    with chromium() as driver:
        errors, png, images, plotly_drawn = load_and_check(path, driver)
    assert errors == []
    assert images == 3 and plotly_drawn == 1
    assert not is_blank(png)


def test_a_run_without_trajectories_has_no_trajectory_section(tmp_path: Path) -> None:
    run_dir, result = saved_run(tmp_path, with_trajectory=False)
    assert "trajectory" not in result.summary
    html = build_report(run_dir).read_text()
    assert "Training trajectories" not in html
    assert not (run_dir / "landscape_trajectory.png").exists()


def test_raw_npz_has_the_trajectory_the_report_draws(built) -> None:
    run_dir, _, result = built
    t = result.records[0].trajectory
    with np.load(run_dir / "raw.npz") as npz:
        assert npz["plain_seed0_traj_loss"].shape == (9, 9)
        assert npz["plain_seed0_traj_loss"].ravel().tolist() == t.loss
        assert npz["plain_seed0_traj_path"][:, 1].tolist() == t.y
        assert npz["plain_seed0_traj_explained"].tolist() == [0.873, 0.091]


# -- the Hessian figures and tables (runs with --curvature) -------------------------------------


def curvature_record(kind: str, config: ls.LandscapeConfig) -> ls.CurvatureRecord:
    """A map whose plain net bends down strongly away from the centre, the residual one not."""
    from reslab.experiments.landscape.curvature import map_stats

    hx = np.linspace(-1, 1, config.curvature_resolution)
    gx, gy = np.meshgrid(hx, hx)
    lam_max = 50 + 20 * (gx**2 + gy**2)
    depth = 0.6 if kind == "plain" else 0.02
    lam_min = -depth * lam_max * (gx**2 + gy**2) - 0.01
    nodes = np.array([[-1.0, -0.1, 0.0, 0.2, 5.0, 40.0 if kind == "plain" else 12.0]])
    weights = np.array([[0.05, 0.2, 0.5, 0.2, 0.04, 0.01]])
    center = config.curvature_resolution**2 // 2
    return ls.CurvatureRecord(
        samples=250, lam_max=float(nodes.max()), trace=31.5, trace_se=2.5, trace_probes=10,
        density_nodes=nodes.tolist(), density_weights=weights.tolist(), grad_s=0.3, hvp_s=1.2,
        hvp_per_grad=4.0, resolution=config.curvature_resolution,
        map_lam_min=lam_min.ravel().tolist(), map_lam_max=lam_max.ravel().tolist(), map_hvps=250,
        map_wall_s=90.0, **map_stats(lam_min.ravel(), lam_max.ravel(), center),
    )  # fmt: skip


@pytest.fixture(scope="module")
def curved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Result]:
    import dataclasses

    run_dir, result = saved_run(tmp_path_factory.mktemp("landscape-hessian-report"))
    config = dataclasses.replace(result.config, curvature=True, curvature_resolution=5)
    records = [
        dataclasses.replace(r, curvature=curvature_record(r.kind, config)) for r in result.records
    ]
    summary = ls.summarize(config, records)
    result = Result("landscape", config, result.provenance, ls.judge(config, summary), summary,
                    records, spec=get_experiment("landscape"))  # fmt: skip
    result.save(run_dir)
    return run_dir, build_report(run_dir), result


def test_hessian_map_density_and_tables_are_in_the_report(curved) -> None:
    run_dir, path, result = curved
    html = path.read_text()
    assert "Li et al.&#x27;s Hessian map agrees" in html or "Li et al.'s Hessian map agrees" in html
    assert result.verdict.numbers["measures_agree"] is True
    assert "Hessian curvature" in html and "5x5 points of the same plane" in html
    assert "lambda_min &lt; 0 and |lambda_min / lambda_max| &gt; 0.1" in html
    assert "sharpness" in html and "hessian map" in html and "hvp per grad" in html
    assert "lam max (paper)" in html  # the paper's column, left empty
    plain = next(r for r in result.summary["hessian_map"] if r["kind"] == "plain")
    assert f"{plain['nonconvex_frac_mean']:.3g}" in html
    for png in ("landscape_hessian_map.png", "landscape_hessian_density.png"):
        data = (run_dir / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
    with np.load(run_dir / "raw.npz") as npz:
        assert npz["plain_seed0_hessian_lam_min"].shape == (5, 5)
        assert npz["residual_seed0_density_nodes"].shape == (1, 6)
    assert load_result(run_dir) == result


def test_a_run_without_curvature_has_no_hessian_section(built) -> None:
    _, path, _ = built
    assert "Hessian curvature" not in path.read_text()


def test_hessian_report_renders_in_a_real_browser(curved) -> None:
    _, path, _ = curved
    with chromium() as driver:
        errors, png, images, plotly_drawn = load_and_check(path, driver)
    assert errors == []
    # contours, interpolation, Hessian map, density and the trajectory plot
    assert images == 5 and plotly_drawn == 1
    assert not is_blank(png)
