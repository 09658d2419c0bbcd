"""Landscape experiment: filter normalisation, exact and drift-free grids, resume, torchrun split,
surface measures, and the invariant that the grid's centre is the trained net's own loss."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from reslab.data import load_data, make_loader
from reslab.experiments import landscape as ls
from reslab.experiments.landscape import directions, nets, surface
from reslab.models import cifar_resnet
from reslab.training import evaluate, read_checkpoint
from reslab.training.distributed import DistContext

TINY = ls.LandscapeConfig(
    data="synthetic1d", depth=8, epochs=None, steps=8, samples=64, resolution=5,
    interp_span=(-0.5, 1.5), interp_points=5, eval_batch=64, save_every=4, device="cpu",
    workers=1,
)  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    # Tiny nets on a shared 2-core machine: a second intra-op thread only adds spin-waiting
    # (measured: 20x slower per grid point under load), and the gloo ranks use one thread too.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_net() -> torch.nn.Module:
    return cifar_resnet(8, dims=1, in_channels=1, num_classes=10).eval()


def tiny_setup(samples: int = 48) -> tuple[torch.nn.Module, list, torch.Tensor, list]:
    torch.manual_seed(0)
    model = tiny_net()
    bundle, _ = ls.subset_bundle(load_data("synthetic1d"), samples)
    batches = ls.surface_batches(bundle, 32, torch.device("cpu"))
    dirs = [ls.random_direction(model, 0), ls.random_direction(model, 1)]
    return model, batches, ls.param_vector(model), dirs


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[ls.LandscapeResult, Path]:
    out = tmp_path_factory.mktemp("landscape")
    return ls.run(TINY, out_dir=out), out


# -- directions ---------------------------------------------------------------------------------


def test_filter_normalised_direction_has_the_weights_filter_norms() -> None:
    model = tiny_net()
    d = directions.split_like(ls.random_direction(model, seed=3), model)
    checked = 0
    for (name, w), dp in zip(model.named_parameters(), d, strict=True):
        if w.dim() <= 1:
            assert torch.count_nonzero(dp) == 0, f"{name}: bias/BN entries must be zero"
            continue
        w_norms = w.detach().flatten(1).norm(dim=1)
        torch.testing.assert_close(dp.flatten(1).norm(dim=1), w_norms, rtol=1e-5, atol=1e-7)
        checked += len(w_norms)
    assert checked > 100  # every conv filter and every fc row was checked


def test_directions_are_seeded_and_distinct() -> None:
    model = tiny_net()
    a, b = ls.random_direction(model, 0), ls.random_direction(model, 0)
    assert torch.equal(a, b)
    c = ls.random_direction(model, 1)
    cosine = float(a @ c / (a.norm() * c.norm()))
    assert abs(cosine) < 0.2  # two Gaussian directions in ~25k dimensions are nearly orthogonal


def test_filter_normalize_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"direction tensor \(3, 2\)"):
        ls.filter_normalize([torch.ones(3, 2)], [torch.ones(2, 3)])


# -- grid construction and exact evaluation -----------------------------------------------------


def test_axis_contains_exact_anchor_points() -> None:
    xs = ls.axis(-1.0, 1.0, 21)
    assert xs[10] == 0.0 and xs[0] == -1.0 and xs[-1] == 1.0
    alphas = ls.axis(-0.5, 1.5, 21, exact=(0.0, 1.0))
    assert 0.0 in alphas and 1.0 in alphas
    with pytest.raises(ValueError, match=r"misses 0\.0"):
        ls.axis(-1.0, 1.0, 20)
    coords = ls.plane(np.array([-1.0, 0.0, 1.0]), np.array([-2.0, 0.0, 2.0]))
    assert coords.shape == (9, 2) and tuple(coords[3]) == (-1.0, 0.0)  # row-major, y outer


def test_probe_points_are_fresh_from_base_without_drift() -> None:
    model, _, base, dirs = tiny_setup()
    probe = ls.FlatProbe(model)
    rng = np.random.default_rng(0)
    for a, b in rng.uniform(-1, 1, size=(50, 2)):
        probe.move_to(base, dirs, (a, b))
    expected = torch.add(base, dirs[0], alpha=0.3).add_(dirs[1], alpha=-0.7)
    probe.move_to(base, dirs, (0.3, -0.7))
    assert torch.equal(ls.param_vector(probe.model), expected)
    probe.move_to(base, dirs, (0.0, 0.0))
    assert torch.equal(ls.param_vector(probe.model), base)  # bit-exact after 52 moves
    assert torch.equal(ls.param_vector(model), base)  # the original model is untouched


def test_grid_centre_equals_evaluate_of_the_trained_net(tiny_run) -> None:
    """The required invariant, end to end: train, probe, and compare with reslab's evaluate."""
    result, out = tiny_run
    bundle = load_data("synthetic1d")
    subset, _ = ls.subset_bundle(bundle, TINY.samples)
    loader = make_loader(subset, "train", batch_size=TINY.eval_batch, train=False)
    for net in result.nets:
        model = nets.build_net(TINY.depth, ls.SHORTCUT[net.kind], net.seed, bundle)
        tensors, _ = read_checkpoint(out / f"net-{net.kind}8-seed0.safetensors")
        model.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("trained/")})
        reference = evaluate(model, loader)
        grid = result.grids[f"{net.kind}_seed0_loss"]
        assert reference["n"] == TINY.samples
        assert grid[2, 2] == pytest.approx(reference["loss"], rel=1e-6)
        assert net.center_loss == pytest.approx(reference["loss"], rel=1e-6)
        assert net.center_acc == pytest.approx(reference["acc"], abs=1e-9)
        # alpha = 1 of the interpolation is the trained net too (index 3 of -0.5..1.5, 5 points)
        interp = result.grids[f"{net.kind}_seed0_interp_loss"]
        assert interp[3] == pytest.approx(reference["loss"], rel=1e-6)


def test_run_numbers_are_consistent(tiny_run) -> None:
    result, _ = tiny_run
    assert [n.kind for n in result.nets] == ["plain", "residual"]
    for net in result.nets:
        loss = result.grids[f"{net.kind}_seed0_loss"]
        assert loss.shape == (5, 5) and np.isfinite(loss).all()
        assert net.surface_evaluated == 25 and net.surface_resumed == 0 and net.points_per_s > 0
        # Moving a full filter-norm away changes the loss: the surface is not flat.
        assert loss.max() - loss.min() > 0.05
        assert net.measures == ls.measure_surface(loss, result.grids["xs"], result.grids["ys"])
        assert net.train.status == "completed" and not net.train.reused
    assert result.verdict is not None and "plain-8" in result.verdict.text
    rows = {r["kind"]: r for r in result.summary}
    assert rows["plain"]["center_loss_mean"] == result.nets[0].center_loss


def test_result_round_trips_through_save_and_load(tiny_run, tmp_path) -> None:
    result, _ = tiny_run
    loaded = ls.LandscapeResult.load(result.save(tmp_path))
    assert loaded == result  # the dataclass fields: config, nets (nested records), verdict
    assert loaded.grids.keys() == result.grids.keys()
    for key, value in result.grids.items():
        assert np.array_equal(loaded.grids[key], value), key


def test_rerun_into_the_same_directory_reuses_everything(tiny_run) -> None:
    result, out = tiny_run
    again = ls.run(TINY, out_dir=out)
    for first, second in zip(result.nets, again.nets, strict=True):
        assert second.train.reused and second.surface_evaluated == 0
        assert second.surface_resumed == 25
        assert second.train.train_err == first.train.train_err
    for key, value in result.grids.items():
        assert np.array_equal(again.grids[key], value), key


def test_changed_configuration_does_not_resume_a_stale_grid(tiny_run) -> None:
    _, out = tiny_run
    with pytest.raises(ValueError, match="another configuration"):
        ls.run(dataclasses.replace(TINY, span=(-2.0, 2.0)), out_dir=out)


# -- resume and torchrun split ------------------------------------------------------------------


class Interrupted(Exception):
    pass


def test_resuming_a_partial_surface_gives_the_uninterrupted_grid(tmp_path, monkeypatch) -> None:
    model, batches, base, dirs = tiny_setup()
    coords = ls.plane(ls.axis(-1, 1, 5), ls.axis(-1, 1, 5))
    probe = ls.FlatProbe(model)
    full = ls.evaluate_points(probe, batches, base, dirs, coords)
    key = ls.surface_key(model, dirs, coords, "synthetic1d:48")
    store = ls.SurfaceStore(tmp_path / "surface.npz", key)
    real, calls = surface.evaluate, []

    def dies_after_11(*args, **kwargs):
        if len(calls) == 11:
            raise Interrupted
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(surface, "evaluate", dies_after_11)
    with pytest.raises(Interrupted):
        ls.evaluate_points(probe, batches, base, dirs, coords, store=store, save_every=4)
    monkeypatch.setattr(surface, "evaluate", real)
    with np.load(store.path) as npz:
        assert npz["done"].sum() == 8  # two complete chunks of 4 were saved before the crash
    resumed = ls.evaluate_points(probe, batches, base, dirs, coords, store=store, save_every=4)
    assert resumed.resumed == 8 and resumed.evaluated == 17
    assert np.array_equal(resumed.loss, full.loss) and np.array_equal(resumed.acc, full.acc)
    with pytest.raises(ValueError, match="another configuration"):
        ls.evaluate_points(
            probe, batches, base, dirs, coords, store=ls.SurfaceStore(store.path, "0" * 64)
        )


def _rank_main(rank: int, world: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        model, batches, base, dirs = tiny_setup()
        coords = ls.plane(ls.axis(-1, 1, 5), ls.axis(-1, 1, 5))
        store = ls.SurfaceStore(Path(out) / "surface.npz", "k")
        values = ls.evaluate_points(
            ls.FlatProbe(model), batches, base, dirs, coords, store=store, save_every=3,
            ctx=DistContext(rank, world, 0),
        )  # fmt: skip
        np.save(Path(out) / f"rank{rank}.npy", np.stack([values.loss, values.acc]))
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_give_the_one_process_grid(tmp_path) -> None:
    mp.spawn(_rank_main, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    model, batches, base, dirs = tiny_setup()
    coords = ls.plane(ls.axis(-1, 1, 5), ls.axis(-1, 1, 5))
    single = ls.evaluate_points(ls.FlatProbe(model), batches, base, dirs, coords)
    for rank in (0, 1):
        loss, acc = np.load(tmp_path / f"rank{rank}.npy")
        np.testing.assert_allclose(loss, single.loss, rtol=1e-6)
        np.testing.assert_array_equal(acc, single.acc)
    with np.load(tmp_path / "surface.npz") as npz:  # rank 0's file holds the merged grid
        assert npz["done"].all()
        np.testing.assert_allclose(npz["loss"], single.loss, rtol=1e-6)


# -- measures, verdict, config ------------------------------------------------------------------


def grid(fn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs = ls.axis(-1, 1, 21)
    gx, gy = np.meshgrid(xs, xs)
    return fn(gx, gy), xs, xs


def test_measures_of_analytic_surfaces() -> None:
    bowl = ls.measure_surface(*grid(lambda x, y: x**2 + 2 * y**2))
    assert bowl.nonconvex_frac == 0 and bowl.neg_laplacian_frac == 0 and bowl.local_minima == 1
    assert bowl.center_loss == 0 and bowl.loss_range == pytest.approx(3.0)
    assert bowl.neg_curvature_ratio == 0
    saddle = ls.measure_surface(*grid(lambda x, y: x**2 - y**2))
    assert saddle.nonconvex_frac == 1 and saddle.local_minima == 0
    assert saddle.neg_curvature_ratio == pytest.approx(1.0)
    cap = ls.measure_surface(*grid(lambda x, y: -(x**2) - y**2))
    assert cap.neg_laplacian_frac == 1
    egg = ls.measure_surface(*grid(lambda x, y: np.cos(6 * x) + np.cos(6 * y)))
    assert egg.local_minima >= 4 and 0.3 < egg.nonconvex_frac < 1
    z, xs, ys = grid(lambda x, y: x**2 + y**2)
    z[0, 0] = np.inf
    assert ls.measure_surface(z, xs, ys).nonfinite == 1


def _row(kind: str, nonconvex: float, minima: float) -> dict:
    return {
        "kind": kind, "depth": 56, "seeds": 1, "nonconvex_frac_mean": nonconvex,
        "local_minima_mean": minima, "loss_range_mean": 3.0,
    }  # fmt: skip


def test_verdict_is_computed_from_the_measures() -> None:
    smooth = ls.judge([_row("plain", 0.6, 9), _row("residual", 0.2, 1)], 21, (-1.0, 1.0))
    assert smooth.ok is True
    assert smooth.text.startswith("residual-56 surface is smoother than plain-56: 20% vs 60%")
    rough = ls.judge([_row("plain", 0.1, 1), _row("residual", 0.5, 4)], 21, (-1.0, 1.0))
    assert rough.ok is False and rough.text.startswith("plain-56 surface")
    close = ls.judge([_row("plain", 0.30, 2), _row("residual", 0.28, 1)], 21, (-1.0, 1.0))
    assert close.ok is None and close.text.startswith("no clear difference")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"depth": 9}, "6n\\+2"),
        ({"samples": -1}, "samples=-1"),
        ({"resolution": 4}, r"misses 0\.0"),
        ({"interp_span": (0.5, 1.5)}, r"misses 0\.0"),
        ({"seeds": 0}, "seeds=0"),
    ],
)
def test_bad_config_fails_before_any_work(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ls.check_config(dataclasses.replace(TINY, **changes))
    with pytest.raises(ValueError, match="accepted: quick, paper"):
        ls.LandscapeConfig.preset_config("fast")


def test_paper_preset_is_li_et_al_protocol() -> None:
    paper = ls.LandscapeConfig.preset_config("paper")
    assert (paper.data, paper.depth, paper.resolution, paper.samples) == ("cifar10", 56, 51, 0)
    cfg = nets.make_train_config(
        paper.recipe, paper.data, paper.epochs, paper.steps, 0, paper.overrides
    )
    assert cfg.train.epochs == 300 and cfg.optim.weight_decay == 5e-4
    assert [round(300 * m) for m in cfg.schedule.milestones] == [150, 225, 275]
