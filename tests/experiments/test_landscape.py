"""Landscape experiment: filter normalisation, exact and drift-free grids, resume (records and
grid points), torchrun split, surface measures, raw.npz rebuilt from the records, and the
invariant that the grid's centre is the trained net's own loss."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from tests.experiments.tiny import LANDSCAPE as TINY

from reslab.data import load_data, make_loader
from reslab.experiments import landscape as ls
from reslab.experiments.driver import check, execute
from reslab.experiments.jsonable import from_jsonable, to_jsonable
from reslab.experiments.landscape import nets
from reslab.experiments.landscape.path import PathRecorder, snapshot_steps
from reslab.experiments.registry import load_result
from reslab.experiments.result import Result, load_arrays
from reslab.models import cifar_resnet
from reslab.probes.landscape import directions, surface
from reslab.probes.landscape.directions import param_vector, random_direction
from reslab.probes.landscape.measures import measure_surface
from reslab.probes.landscape.surface import (
    FlatProbe,
    SurfaceStore,
    axis,
    evaluate_points,
    plane,
    surface_key,
)
from reslab.probes.trajectory import path_pca, weight_mask
from reslab.training import evaluate, read_checkpoint
from reslab.training.distributed import DistContext

SPEC = ls.EXPERIMENT

# One thread: a second intra-op thread only adds spin-waiting on tiny nets (measured: 20x slower
# per grid point under load), and the gloo ranks use one thread too.
pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_net() -> torch.nn.Module:
    return cifar_resnet(8, dims=1, in_channels=1, num_classes=10).eval()


def tiny_setup(samples: int = 48) -> tuple[torch.nn.Module, list, torch.Tensor, list]:
    torch.manual_seed(0)
    model = tiny_net()
    bundle, _ = ls.subset_bundle(load_data("synthetic1d"), samples)
    batches = ls.surface_batches(bundle, 32, torch.device("cpu"))
    dirs = [random_direction(model, 0), random_direction(model, 1)]
    return model, batches, param_vector(model), dirs


@pytest.fixture
def landscape_run(tiny_run) -> tuple[Result, Path]:
    """The tiny run's result as ``execute`` returned it, and its run directory."""
    return tiny_run.result("landscape"), tiny_run("landscape")


# -- directions ---------------------------------------------------------------------------------


def test_filter_normalised_direction_has_the_weights_filter_norms() -> None:
    model = tiny_net()
    d = directions.split_like(random_direction(model, seed=3), model)
    checked = 0
    for (name, w), dp in zip(model.named_parameters(), d, strict=True):
        if w.dim() <= 1:
            assert torch.count_nonzero(dp) == 0, f"{name}: bias/BN entries must be zero"
            continue
        w_norms = w.detach().flatten(1).norm(dim=1)
        torch.testing.assert_close(dp.flatten(1).norm(dim=1), w_norms, rtol=1e-5, atol=1e-7)
        checked += len(w_norms)
    assert checked > 100  # every conv filter and every fc row was checked


def test_filter_normalisation_of_2d_conv_filters() -> None:
    # A 2-D conv's filters span three axes (in, kh, kw); Tensor.norm sends a 3-tuple of dims to a
    # matrix norm and failed there, which the 1-D nets above never reached.
    w, d = torch.randn(8, 3, 3, 3), torch.randn(8, 3, 3, 3)
    (scaled,) = directions.filter_normalize([d], [w])
    torch.testing.assert_close(scaled.flatten(1).norm(dim=1), w.flatten(1).norm(dim=1))


def test_directions_are_seeded_and_distinct() -> None:
    model = tiny_net()
    a, b = random_direction(model, 0), random_direction(model, 0)
    assert torch.equal(a, b)
    c = random_direction(model, 1)
    cosine = float(a @ c / (a.norm() * c.norm()))
    assert abs(cosine) < 0.2  # two Gaussian directions in ~25k dimensions are nearly orthogonal


def test_filter_normalize_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"direction tensor \(3, 2\)"):
        directions.filter_normalize([torch.ones(3, 2)], [torch.ones(2, 3)])


# -- grid construction and exact evaluation -----------------------------------------------------


def test_axis_contains_exact_anchor_points() -> None:
    xs = axis(-1.0, 1.0, 21)
    assert xs[10] == 0.0 and xs[0] == -1.0 and xs[-1] == 1.0
    alphas = axis(-0.5, 1.5, 21, exact=(0.0, 1.0))
    assert 0.0 in alphas and 1.0 in alphas
    with pytest.raises(ValueError, match=r"misses 0\.0"):
        axis(-1.0, 1.0, 20)
    coords = plane(np.array([-1.0, 0.0, 1.0]), np.array([-2.0, 0.0, 2.0]))
    assert coords.shape == (9, 2) and tuple(coords[3]) == (-1.0, 0.0)  # row-major, y outer


def test_probe_points_are_fresh_from_base_without_drift() -> None:
    model, _, base, dirs = tiny_setup()
    probe = FlatProbe(model)
    rng = np.random.default_rng(0)
    for a, b in rng.uniform(-1, 1, size=(50, 2)):
        probe.move_to(base, dirs, (a, b))
    expected = torch.add(base, dirs[0], alpha=0.3).add_(dirs[1], alpha=-0.7)
    probe.move_to(base, dirs, (0.3, -0.7))
    assert torch.equal(param_vector(probe.model), expected)
    probe.move_to(base, dirs, (0.0, 0.0))
    assert torch.equal(param_vector(probe.model), base)  # bit-exact after 52 moves
    assert torch.equal(param_vector(model), base)  # the original model is untouched


def test_grid_centre_equals_evaluate_of_the_trained_net(landscape_run) -> None:
    """The required invariant, end to end: train, probe, and compare with reslab's evaluate."""
    result, out = landscape_run
    bundle = load_data("synthetic1d")
    subset, _ = ls.subset_bundle(bundle, TINY.samples)
    loader = make_loader(subset, "train", batch_size=TINY.eval_batch, train=False)
    grids = result.arrays()
    for net in result.records:
        model = nets.build_net(TINY.depth, ls.SHORTCUT[net.kind], net.seed, bundle)
        tensors, _ = read_checkpoint(out / f"net-{net.kind}8-seed0.safetensors")
        model.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("trained/")})
        reference = evaluate(model, loader)
        grid = grids[f"{net.kind}_seed0_loss"]
        assert reference["n"] == TINY.samples
        assert grid[2, 2] == pytest.approx(reference["loss"], rel=1e-6)
        assert net.center_loss == pytest.approx(reference["loss"], rel=1e-6)
        assert net.center_acc == pytest.approx(reference["acc"], abs=1e-9)
        # alpha = 1 of the interpolation is the trained net too (index 3 of -0.5..1.5, 5 points)
        interp = grids[f"{net.kind}_seed0_interp_loss"]
        assert interp[3] == pytest.approx(reference["loss"], rel=1e-6)


def test_run_numbers_are_consistent(landscape_run) -> None:
    result, _ = landscape_run
    grids = result.arrays()
    assert [n.kind for n in result.records] == ["plain", "residual"]
    for net in result.records:
        loss = grids[f"{net.kind}_seed0_loss"]
        assert loss.shape == (5, 5) and np.isfinite(loss).all()
        assert net.surface_evaluated == 25 and net.surface_resumed == 0 and net.points_per_s > 0
        # Moving a full filter-norm away changes the loss: the surface is not flat.
        assert loss.max() - loss.min() > 0.05
        assert net.measures == measure_surface(loss, grids["xs"], grids["ys"])
        assert net.train.status == "completed" and not net.train.reused
    assert (
        "plain-8" in result.verdict.text
        and "5x5 grid over [-1, 1]^2, 1 seed)" in result.verdict.text
    )
    rows = {r["kind"]: r for r in result.summary["nets"]}
    assert rows["plain"]["center_loss_mean"] == result.records[0].center_loss
    assert [r["points_computed"] for r in result.summary["runs"]] == [25, 25]


def test_tasks_are_one_per_net_and_seed_in_run_order(tmp_path) -> None:
    tasks = ls.tasks(dataclasses.replace(TINY, seeds=2), tmp_path)
    keys = [t.key for t in tasks]
    assert keys == ["plain_seed0", "residual_seed0", "plain_seed1", "residual_seed1"]
    assert all(t.workdir == str(tmp_path) for t in tasks)  # where checkpoints and grids go
    assert all(t.workdir is None for t in ls.tasks(TINY, None))


def test_raw_npz_holds_the_grids_of_the_records(landscape_run) -> None:
    result, out = landscape_run
    saved = load_arrays(out)
    kinds = ("loss", "acc", "interp_loss", "interp_acc", "traj_loss", "traj_acc", "traj_xs",
             "traj_ys", "traj_path", "traj_steps", "traj_explained")  # fmt: skip
    names = [f"{k}_seed0_{a}" for k in ls.KINDS for a in kinds]
    assert sorted(saved) == sorted(["xs", "ys", "alphas", *names])
    assert saved["xs"].tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert saved["alphas"].tolist() == [-0.5, 0.0, 0.5, 1.0, 1.5]
    for net in result.records:
        prefix = f"{net.kind}_seed0"
        assert saved[f"{prefix}_loss"].shape == (5, 5)
        assert saved[f"{prefix}_loss"].ravel().tolist() == net.surface_loss
        assert saved[f"{prefix}_interp_acc"].tolist() == net.interp_acc
    # The surface files of the run directory hold the same grid as the record.
    with np.load(out / "surface-plain8-seed0.npz") as npz:
        assert npz["done"].all() and npz["loss"].tolist() == result.records[0].surface_loss


def test_result_round_trips_through_save_and_load(landscape_run) -> None:
    result, out = landscape_run
    loaded = load_result(out)
    assert loaded == result  # config, verdict, summary, records (nested train and measures)
    assert isinstance(loaded.records[0], ls.NetRecord)
    assert isinstance(loaded.records[0].train, nets.TrainSummary)
    for key, value in result.arrays().items():
        assert np.array_equal(loaded.arrays()[key], value), key


def test_overflowed_grid_points_survive_json(landscape_run) -> None:
    # Deep plain nets overflow to inf far from the trained weights; JSON has no inf or nan.
    net = dataclasses.replace(landscape_run[0].records[0])
    net.surface_loss = [float("inf"), float("nan"), *net.surface_loss[2:]]
    back = from_jsonable(ls.NetRecord, to_jsonable(net))
    grid = ls.arrays(TINY, [back])["plain_seed0_loss"]
    assert grid[0, 0] == np.inf and np.isnan(grid[0, 1]) and grid[2, 2] == net.center_loss


def test_resume_restores_records_then_reuses_nets_and_grid_points(landscape_run, tmp_path) -> None:
    result, first = landscape_run
    out = tmp_path / "run"
    shutil.copytree(first, out)
    again = execute(SPEC, TINY, out=out, resume=True)  # every record is there: nothing runs
    assert again.records == result.records
    for record in (out / "records").glob("*.json"):
        record.unlink()  # as if killed after the grids were written, before the records
    redone = execute(SPEC, TINY, out=out, resume=True)
    for before, after in zip(result.records, redone.records, strict=True):
        assert after.train.reused and after.surface_evaluated == 0
        assert after.surface_resumed == 25
        assert after.train.train_err == before.train.train_err
        assert after.surface_loss == before.surface_loss and after.interp_acc == before.interp_acc
        # The path came back with the net's checkpoint, the trajectory grid from its own file.
        assert after.trajectory.evaluated == 0 and after.trajectory.resumed == 25
        assert after.trajectory.loss == before.trajectory.loss
        assert after.trajectory.x == before.trajectory.x
    assert [r["weights"] for r in redone.summary["runs"]] == ["reused", "reused"]


def test_changed_configuration_does_not_resume(landscape_run) -> None:
    _, out = landscape_run
    changed = dataclasses.replace(TINY, span=(-2.0, 2.0))
    with pytest.raises(ValueError, match="the config differs: span"):
        execute(SPEC, changed, out=out, resume=True)
    # A grid file of another configuration is refused by the task too, not silently mixed.
    with pytest.raises(ValueError, match="another configuration"):
        ls.landscape_one(ls.NetTask(changed, "plain", str(out), seed=0))


# -- resume and torchrun split ------------------------------------------------------------------


class Interrupted(Exception):
    pass


def test_resuming_a_partial_surface_gives_the_uninterrupted_grid(tmp_path, monkeypatch) -> None:
    model, batches, base, dirs = tiny_setup()
    coords = plane(axis(-1, 1, 5), axis(-1, 1, 5))
    probe = FlatProbe(model)
    full = evaluate_points(probe, batches, base, dirs, coords)
    key = surface_key(model, dirs, coords, "synthetic1d:48")
    store = SurfaceStore(tmp_path / "surface.npz", key)
    real, calls = surface.evaluate, []

    def dies_after_11(*args, **kwargs):
        if len(calls) == 11:
            raise Interrupted
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(surface, "evaluate", dies_after_11)
    with pytest.raises(Interrupted):
        evaluate_points(probe, batches, base, dirs, coords, store=store, save_every=4)
    monkeypatch.setattr(surface, "evaluate", real)
    with np.load(store.path) as npz:
        assert npz["done"].sum() == 8  # two complete chunks of 4 were saved before the crash
    resumed = evaluate_points(probe, batches, base, dirs, coords, store=store, save_every=4)
    assert resumed.resumed == 8 and resumed.evaluated == 17
    assert np.array_equal(resumed.loss, full.loss) and np.array_equal(resumed.acc, full.acc)
    with pytest.raises(ValueError, match="another configuration"):
        evaluate_points(
            probe, batches, base, dirs, coords, store=SurfaceStore(store.path, "0" * 64)
        )


def _rank_main(rank: int, world: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        model, batches, base, dirs = tiny_setup()
        coords = plane(axis(-1, 1, 5), axis(-1, 1, 5))
        store = SurfaceStore(Path(out) / "surface.npz", "k")
        values = evaluate_points(
            FlatProbe(model), batches, base, dirs, coords, store=store, save_every=3,
            ctx=DistContext(rank, world),
        )  # fmt: skip
        np.save(Path(out) / f"rank{rank}.npy", np.stack([values.loss, values.acc]))
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_give_the_one_process_grid(tmp_path) -> None:
    mp.spawn(_rank_main, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    model, batches, base, dirs = tiny_setup()
    coords = plane(axis(-1, 1, 5), axis(-1, 1, 5))
    single = evaluate_points(FlatProbe(model), batches, base, dirs, coords)
    for rank in (0, 1):
        loss, acc = np.load(tmp_path / f"rank{rank}.npy")
        np.testing.assert_allclose(loss, single.loss, rtol=1e-6)
        np.testing.assert_array_equal(acc, single.acc)
    with np.load(tmp_path / "surface.npz") as npz:  # rank 0's file holds the merged grid
        assert npz["done"].all()
        np.testing.assert_allclose(npz["loss"], single.loss, rtol=1e-6)


# -- measures, verdict, config ------------------------------------------------------------------


def grid(fn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs = axis(-1, 1, 21)
    gx, gy = np.meshgrid(xs, xs)
    return fn(gx, gy), xs, xs


def test_measures_of_analytic_surfaces() -> None:
    bowl = measure_surface(*grid(lambda x, y: x**2 + 2 * y**2))
    assert bowl.nonconvex_frac == 0 and bowl.neg_laplacian_frac == 0 and bowl.local_minima == 1
    assert bowl.center_loss == 0 and bowl.loss_range == pytest.approx(3.0)
    assert bowl.neg_curvature_ratio == 0
    saddle = measure_surface(*grid(lambda x, y: x**2 - y**2))
    assert saddle.nonconvex_frac == 1 and saddle.local_minima == 0
    assert saddle.neg_curvature_ratio == pytest.approx(1.0)
    cap = measure_surface(*grid(lambda x, y: -(x**2) - y**2))
    assert cap.neg_laplacian_frac == 1
    egg = measure_surface(*grid(lambda x, y: np.cos(6 * x) + np.cos(6 * y)))
    assert egg.local_minima >= 4 and 0.3 < egg.nonconvex_frac < 1
    z, xs, ys = grid(lambda x, y: x**2 + y**2)
    z[0, 0] = np.inf
    assert measure_surface(z, xs, ys).nonfinite == 1


def _row(kind: str, nonconvex: float, minima: float) -> dict:
    return {
        "kind": kind, "depth": 56, "seeds": 1, "nonconvex_frac_mean": nonconvex,
        "local_minima_mean": minima, "loss_range_mean": 3.0,
    }  # fmt: skip


def test_verdict_is_computed_from_the_measures() -> None:
    config = ls.PRESETS["quick"]

    def judge(plain: dict, residual: dict):
        return ls.judge(config, {"nets": [plain, residual]})

    smooth = judge(_row("plain", 0.6, 9), _row("residual", 0.2, 1))
    assert smooth.ok is True
    assert smooth.text.startswith("residual-56 surface is smoother than plain-56: 20% vs 60%")
    assert smooth.text.endswith("(residual vs plain; 21x21 grid over [-1, 1]^2, 1 seed)")
    assert smooth.numbers == {
        "smoother": True, "plain_nonconvex": 0.6, "residual_nonconvex": 0.2,
        "plain_minima": 9, "residual_minima": 1,
    }  # fmt: skip
    rough = judge(_row("plain", 0.1, 1), _row("residual", 0.5, 4))
    assert rough.ok is False and rough.text.startswith("plain-56 surface")
    assert rough.numbers["smoother"] is False
    close = judge(_row("plain", 0.30, 2), _row("residual", 0.28, 1))
    assert close.ok is False and close.text.startswith("no clear difference")  # inconclusive
    assert close.numbers["smoother"] is None
    fewer_points_more_minima = judge(_row("plain", 0.6, 1), _row("residual", 0.2, 3))
    assert fewer_points_more_minima.numbers["smoother"] is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"depth": 9}, "6n\\+2"),
        ({"samples": -1}, "samples=-1"),
        ({"resolution": 4}, r"misses 0\.0"),
        ({"resolution": 1}, "resolution=1 must be >= 3"),
        ({"interp_span": (0.5, 1.5)}, r"misses 0\.0"),
        ({"seeds": 0}, "seeds=0"),
        ({"save_every": 0}, "save_every=0"),
        ({"epochs": 2}, "not both"),
        ({"overrides": ("optim.lr=fast",)}, "optim.lr='fast'"),
        ({"trajectory_points": 2}, "trajectory_points=2 must be 0"),
        ({"trajectory_resolution": 4}, "trajectory_resolution=4 must be odd"),
        ({"steps": 2}, "steps=2 gives fewer than 3 snapshots"),
    ],
)
def test_bad_config_fails_before_any_work(tmp_path, changes: dict, message: str) -> None:
    config = dataclasses.replace(TINY, **changes)
    with pytest.raises(ValueError, match=message):
        check(SPEC, config)
    with pytest.raises(ValueError, match=message):
        execute(SPEC, config, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_presets() -> None:
    with pytest.raises(ValueError, match="accepted: quick, paper"):
        SPEC.preset("fast")
    quick = SPEC.preset("quick")
    assert (quick.data, quick.depth, quick.seeds, quick.epochs, quick.steps) == (
        "mnist1d",
        56,
        1,
        8,
        None,
    )
    assert (quick.resolution, quick.samples, quick.span, quick.eval_batch) == (
        21,
        1000,
        (-1, 1),
        1000,
    )
    assert (quick.trajectory_points, quick.trajectory_resolution) == (16, 11)


def test_paper_preset_is_li_et_al_protocol() -> None:
    paper = SPEC.preset("paper")
    assert (paper.data, paper.depth, paper.resolution, paper.samples) == ("cifar10", 56, 51, 0)
    assert paper.trajectory_points == paper.epochs == 300  # a snapshot every epoch, as Li et al.
    cfg = nets.make_train_config(
        paper.recipe, paper.data, paper.epochs, paper.steps, 0, paper.overrides
    )
    assert cfg.train.epochs == 300 and cfg.optim.weight_decay == 5e-4
    assert [round(300 * m) for m in cfg.schedule.milestones] == [150, 225, 275]


# -- training trajectory (Li et al. 2018, section 7) ---------------------------------------------


def _train_tiny(recorder: PathRecorder | None) -> tuple[torch.nn.Module, dict]:
    bundle = load_data("synthetic1d")
    model = nets.build_net(8, "A", 0, bundle)
    cfg = nets.make_train_config("mnist1d", "synthetic1d", None, 8, 0, ())
    init, _ = nets.train_or_reuse(
        model, bundle, cfg, "k", device=torch.device("cpu"), ctx=DistContext(), checkpoint=None,
        recorder=recorder,
    )  # fmt: skip
    return model, init


def test_snapshot_steps_are_evenly_spaced_from_init_to_the_end() -> None:
    assert snapshot_steps(8, 4) == [0, 2, 4, 6, 8]
    assert snapshot_steps(10, 3) == [0, 3, 6, 10]
    assert snapshot_steps(2, 5) == [0, 1, 2]  # more points than steps: every step
    with pytest.raises(ValueError, match="points=0"):
        snapshot_steps(8, 0)


def test_recording_the_path_leaves_the_trained_net_bit_identical() -> None:
    plain_model, _ = _train_tiny(None)
    recorder = PathRecorder(4)
    model, init = _train_tiny(recorder)
    for (name, a), b in zip(plain_model.state_dict().items(), model.state_dict().values(),
                            strict=True):  # fmt: skip
        assert torch.equal(a, b), name
    assert recorder.steps == [0, 2, 4, 6, 8]
    assert torch.equal(recorder.params[-1], param_vector(model))  # the last snapshot: trained
    first = torch.cat([init[n].reshape(-1) for n, _ in model.named_parameters()])
    assert torch.equal(recorder.params[0], first)  # the first: the initial weights
    assert not torch.equal(recorder.params[1], recorder.params[2])


def test_trajectory_record_and_its_surface(landscape_run) -> None:
    result, out = landscape_run
    grids = result.arrays()
    for net in result.records:
        t, prefix = net.trajectory, f"{net.kind}_seed0"
        assert t.steps == [0, 2, 4, 6, 8] and len(t.x) == len(t.y) == 5
        assert (t.x[-1], t.y[-1]) == (0.0, 0.0)  # the trained net at the origin
        assert t.x[0] > 0 and t.y[0] > 0  # the sign convention: the start at positive coords
        assert 0 < t.explained_variance[1] <= t.explained_variance[0]
        assert sum(t.explained_variance) <= 1 + 1e-12
        # The grid holds the path and has the trained net at (0, 0): its loss, bit for bit.
        assert min(t.xs) < min(t.x) and max(t.xs) > max(t.x)
        assert min(t.ys) < min(t.y) and max(t.ys) > max(t.y)
        loss = grids[f"{prefix}_traj_loss"]
        assert loss.shape == (5, 5) and np.isfinite(loss).all()
        assert loss[t.ys.index(0.0), t.xs.index(0.0)] == net.center_loss
        assert t.evaluated == 25 and t.resumed == 0 and t.wall_s > 0
        assert grids[f"{prefix}_traj_path"].tolist() == np.stack([t.x, t.y], axis=1).tolist()
        # The same PCA, recomputed from the snapshots the checkpoint keeps.
        tensors, _ = read_checkpoint(out / f"net-{net.kind}8-seed0.safetensors")
        model = nets.build_net(8, ls.SHORTCUT[net.kind], 0, load_data("synthetic1d"))
        model.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("trained/")})
        again = path_pca(tensors["path/params"], param_vector(model), weight_mask(model))
        assert list(again.explained_variance_ratio) == t.explained_variance
        assert again.coords[:, 0].tolist() == t.x
        with np.load(out / f"trajectory-{net.kind}8-seed0.npz") as npz:
            assert npz["done"].all() and npz["loss"].tolist() == t.loss
    rows = result.summary["trajectory"]
    assert [r["kind"] for r in rows] == ["plain", "residual"]
    assert rows[0]["pc1_explained"] == result.records[0].trajectory.explained_variance[0]


def test_trajectory_off_gives_the_same_numbers_and_no_trajectory(landscape_run) -> None:
    result, _ = landscape_run
    off = execute(SPEC, dataclasses.replace(TINY, trajectory_points=0))
    assert "trajectory" not in off.summary
    assert not any(k.endswith(("_traj_loss", "_traj_path")) for k in off.arrays())
    for on, net in zip(result.records, off.records, strict=True):
        assert net.trajectory is None
        assert net.train.train_err == on.train.train_err
        assert net.surface_loss == on.surface_loss and net.interp_loss == on.interp_loss
        assert net.measures == on.measures


def test_records_without_a_trajectory_field_still_load(landscape_run) -> None:
    data = to_jsonable(landscape_run[0].records[0])
    del data["trajectory"]  # a record written before the field existed
    assert from_jsonable(ls.NetRecord, data).trajectory is None


# -- the Hessian measures (--curvature) ---------------------------------------------------------

CURVED = dataclasses.replace(
    TINY, curvature=True, curvature_resolution=3, curvature_iters=4, curvature_samples=32,
    hessian_probes=3, density_iters=5,
)  # fmt: skip


@pytest.fixture(scope="module")
def curved_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    out = tmp_path_factory.mktemp("landscape-curvature") / "run"
    return execute(SPEC, CURVED, out=out), out


def _trained(out: Path, kind: str) -> torch.nn.Module:
    model = nets.build_net(TINY.depth, ls.SHORTCUT[kind], 0, load_data("synthetic1d"))
    tensors, _ = read_checkpoint(out / f"net-{kind}8-seed0.safetensors")
    model.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("trained/")})
    return model


def test_hessian_map_centre_and_sharpness_are_the_trained_nets(curved_run) -> None:
    from reslab.experiments.landscape.curvature import POWER_ITERS
    from reslab.probes.hessian import Hessian
    from reslab.probes.landscape.curvature import eigen_ratio

    result, out = curved_run
    subset, _ = ls.subset_bundle(load_data("synthetic1d"), CURVED.curvature_samples)
    batches = ls.surface_batches(subset, CURVED.eval_batch, torch.device("cpu"))
    arrays = result.arrays()
    for net in result.records:
        c, model = net.curvature, _trained(out, net.kind)
        assert c is not None and c.samples == 32 and c.resolution == 3
        # The map's centre is the trained net: the same Lanczos run on its weights' Hessian.
        lo, hi = Hessian(model, batches, weights_only=True).extremes(CURVED.curvature_iters, 0)
        lam_min = arrays[f"{net.kind}_seed0_hessian_lam_min"]
        lam_max = arrays[f"{net.kind}_seed0_hessian_lam_max"]
        assert lam_min.shape == (3, 3)
        assert lam_min[1, 1] == pytest.approx(lo, rel=1e-5)
        assert lam_max[1, 1] == pytest.approx(hi, rel=1e-5)
        assert (lam_min <= lam_max).all() and (lam_max > 0).all()
        ratio = eigen_ratio(lam_min, lam_max)
        assert c.ratio_center == pytest.approx(ratio[1, 1])
        assert c.ratio_mean == pytest.approx(ratio.mean()) and c.ratio_max == ratio.max()
        flagged = (lam_min < 0) & (ratio > 0.1)
        assert c.nonconvex_frac == pytest.approx(flagged.mean())
        assert c.map_hvps == 9 * CURVED.curvature_iters  # one Lanczos run per grid point
        # Sharpness: every parameter's Hessian at the trained weights.
        h = Hessian(model, batches)
        assert c.lam_max == pytest.approx(h.eigenvalues(1, POWER_ITERS, seed=0)[0], rel=1e-5)
        assert c.trace_probes == 3 and c.trace_se > 0
        assert np.allclose(np.sum(c.density_weights, axis=1), 1.0)
        assert c.grad_s > 0 and c.hvp_per_grad == pytest.approx(c.hvp_s / c.grad_s)
        assert c.map_wall_s > 0
    assert arrays["hessian_xs"].tolist() == [-1.0, 0.0, 1.0]
    assert arrays["plain_seed0_density_nodes"].shape == (1, 5)


def test_hessian_tables_and_the_verdict_state_agreement(curved_run) -> None:
    result, out = curved_run
    rows = {r["kind"]: r for r in result.summary["sharpness"]}
    assert rows["plain"]["lam_max_mean"] == result.records[0].curvature.lam_max
    assert "paper_lam_max" in rows["plain"]  # the paper's column, empty: nothing verified
    maps = {r["kind"]: r for r in result.summary["hessian_map"]}
    assert maps["residual"]["grid"] == "3x3"
    numbers = result.verdict.numbers
    assert numbers["measures_agree"] == (numbers["hessian_convexer"] == numbers["smoother"])
    assert numbers["plain_hessian_nonconvex"] == maps["plain"]["nonconvex_frac_mean"]
    word = "agrees" if numbers["measures_agree"] else "disagrees"
    assert f"Li et al.'s Hessian map {word}" in result.verdict.text
    assert "of a 3x3 grid" in result.verdict.text
    # The surface half of the verdict is the one a run without the map gives.
    plain = ls.judge(TINY, {k: v for k, v in result.summary.items() if k == "nets"})
    assert result.verdict.text.startswith(plain.text) and result.verdict.ok == plain.ok
    assert load_result(out) == result


def test_records_without_curvature_still_load(landscape_run) -> None:
    result, _ = landscape_run
    data = to_jsonable(result.records[0])
    assert data.pop("curvature") is None
    assert from_jsonable(ls.NetRecord, data) == result.records[0]  # a run saved before it
    assert "sharpness" not in result.summary and "hessian_xs" not in result.arrays()


def _map_row(kind: str, nonconvex: float) -> dict:
    return {"kind": kind, "nonconvex_frac_mean": nonconvex, "ratio_mean_mean": 0.1}


@pytest.mark.parametrize(
    ("plain", "residual", "convexer", "agree"),
    [(0.6, 0.1, True, True), (0.1, 0.6, False, False), (0.3, 0.28, None, False)],
)
def test_hessian_verdict_says_whether_the_measures_agree(plain, residual, convexer, agree) -> None:
    summary = {
        "nets": [_row("plain", 0.6, 9), _row("residual", 0.2, 1)],  # the surface: residual
        "hessian_map": [_map_row("plain", plain), _map_row("residual", residual)],
    }
    verdict = ls.judge(dataclasses.replace(CURVED, curvature_resolution=11), summary)
    # The surface says "residual smoother"; the outcome stands only where the map agrees.
    assert verdict.outcome == ("reproduced" if agree else "inconclusive")
    assert verdict.parts["surface_smoother"] == "reproduced"
    assert verdict.numbers["hessian_convexer"] is convexer
    assert verdict.numbers["measures_agree"] is agree
    assert ("agrees" if agree else "disagrees") in verdict.text and "11x11 grid" in verdict.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"curvature_resolution": 4}, r"misses 0\.0"),
        ({"curvature_resolution": 1}, "curvature_resolution=1 must be >= 3"),
        ({"curvature_iters": 1}, "curvature_iters=1"),
        ({"curvature_samples": 65}, "curvature_samples=65 must be <= samples=64"),
        ({"hessian_probes": 1}, "hessian_probes=1"),
    ],
)
def test_bad_curvature_config_fails_before_any_work(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check(SPEC, dataclasses.replace(CURVED, **changes))
    check(SPEC, dataclasses.replace(TINY, **changes))  # checked only with --curvature


def test_curvature_is_on_in_the_paper_preset_only() -> None:
    from reslab.experiments.landscape.curvature import check_curvature

    assert SPEC.preset("quick").curvature is False
    paper = SPEC.preset("paper")
    assert paper.curvature and paper.curvature_resolution == 11
    check_curvature(paper)  # an 11x11 grid over [-1, 1]^2 holds (0, 0)
