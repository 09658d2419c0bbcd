from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from tests.experiments.nets import seq_net
from tests.experiments.tiny import LESION as TINY

from reslab.data import load_data, make_loader
from reslab.experiments import get_experiment
from reslab.experiments.driver import execute
from reslab.experiments.lesion import (
    EXPERIMENT,
    PRESETS,
    LesionConfig,
    LesionRecord,
    judge,
    lesioned,
    measure_lesions,
    random_lesions,
    summarize,
    tasks,
)
from reslab.experiments.registry import load_result
from reslab.experiments.result import load_arrays
from reslab.training import evaluate

pytestmark = pytest.mark.usefixtures("one_thread")


def zero_branch(block: torch.nn.Module) -> None:
    """F(x) = 0 exactly: the last scale zeroed (``zero_init_last``) and its shift too, which
    training (here: ``seq_net``'s random shifts) moved away from 0."""
    block.zero_init_last()
    last = [m for m in block.branch if getattr(m, "weight", None) is not None][-1]
    if last.bias is not None:
        torch.nn.init.zeros_(last.bias)


def state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.mark.parametrize(
    ("block", "shortcut", "index"),
    [("basic", "A", 1), ("basic", "A", 2), ("basic", "B", 4), ("preact_basic", "B", 2)],
)
def test_deleting_a_zeroed_branch_changes_nothing(block, shortcut, index) -> None:
    # Same-shape (1) and downsampling (2, 4) blocks, option A and projection shortcuts.
    net = seq_net(block=block, shortcut=shortcut)
    zero_branch(net.blocks[index])
    x = torch.randn(32, 1, 40)
    with torch.no_grad():
        intact = net(x)
        with lesioned(net, [index]):
            deleted = net(x)
    assert torch.equal(intact, deleted)


def test_lesion_changes_a_trained_block_and_restores_bit_identically() -> None:
    net = seq_net()
    x = torch.randn(32, 1, 40)
    before, keys = state(net), list(net.state_dict())
    with torch.no_grad():
        intact = net(x)
        with lesioned(net, [0, 3]) as same:
            assert same is net
            deleted = net(x)
            assert list(net.state_dict()) == keys  # nothing replaced, nothing added
        after = net(x)
    assert not torch.allclose(intact, deleted)
    assert torch.equal(intact, after)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all("forward" not in b.__dict__ for b in net.blocks)


def test_nested_lesions_restore_the_outer_one() -> None:
    net = seq_net()
    x = torch.randn(8, 1, 40)
    with torch.no_grad():
        with lesioned(net, [1]):
            outer = net(x)
            with lesioned(net, [1, 3]):
                pass
            assert torch.equal(net(x), outer)
        assert "forward" not in net.blocks[1].__dict__


def test_a_deleted_identity_block_passes_its_input_through() -> None:
    residual, plain = seq_net(), seq_net(shortcut="none")
    x = torch.rand(4, 16, 40)  # a ReLU output, as every block's input is
    kept = x.clone()
    with torch.no_grad(), lesioned(residual, [1]), lesioned(plain, [1]):
        y_res, y_plain = residual.blocks[1](x), plain.blocks[1](x)
    assert torch.equal(y_res, x) and y_res is not x  # act(x) = x, on a copy (in-place ReLU)
    assert y_plain is x
    assert torch.equal(x, kept)


def test_plain_downsampling_block_cannot_be_deleted() -> None:
    plain = seq_net(shortcut="none")
    changes_shape = r"block 2 .*changes shape.*accepted: \[0, 1, 3, 5\]"
    with pytest.raises(ValueError, match=changes_shape), lesioned(plain, [2]):
        pass
    with pytest.raises(ValueError, match=r"out of range; accepted: 0\.\.5"), lesioned(plain, [6]):
        pass
    assert "forward" not in plain.blocks[0].__dict__


def test_random_draws_are_seeded() -> None:
    pool = list(range(0, 50, 2))
    a = random_lesions(pool, 5, draws=4, seed=3)
    assert a == random_lesions(pool, 5, draws=4, seed=3)
    assert a != random_lesions(pool, 5, draws=4, seed=4)
    assert a != random_lesions(pool, 6, draws=4, seed=3)[:4]
    for draw in a:
        assert len(set(draw)) == 5 and set(draw) <= set(pool) and draw == sorted(draw)
    assert len({tuple(d) for d in a}) > 1  # the draws differ from one another
    assert random_lesions(pool, len(pool), draws=2, seed=0) == [pool, pool]
    with pytest.raises(ValueError, match="k=26"):
        random_lesions(pool, 26, draws=1, seed=0)


def test_measure_lesions_of_zero_init_net_is_the_baseline_everywhere() -> None:
    # Every branch zeroed: the net is its shortcuts, so any deletion leaves the error unchanged.
    bundle = load_data("synthetic1d")
    net = seq_net()
    for b in net.blocks:
        zero_branch(b)
    baseline, single, random_err = measure_lesions(net, bundle, draws=3, seed=0)
    assert single == [baseline] * 6
    assert np.array(random_err).shape == (4, 3) and np.all(np.array(random_err) == baseline)


def test_measure_lesions_matches_direct_evaluation() -> None:
    bundle = load_data("synthetic1d")
    net = seq_net(shortcut="none")
    baseline, single, random_err = measure_lesions(net, bundle, draws=2, seed=5)
    loader = make_loader(bundle, "test", batch_size=100, train=False, device="cpu")
    with lesioned(net, [3]):
        assert single[3] == pytest.approx(100 * evaluate(net, loader)["err"])
    assert single[2] is None and single[4] is None  # plain downsampling: n/a
    draw = random_lesions([0, 1, 3, 5], 2, 2, seed=5)[1]
    with lesioned(net, draw):
        assert random_err[1][1] == pytest.approx(100 * evaluate(net, loader)["err"])
    assert baseline == pytest.approx(100 * evaluate(net, loader)["err"])


def test_tiny_trained_run_numbers(tiny_run) -> None:
    run_dir = tiny_run("lesion")
    r = load_result(run_dir)
    summary = r.summary
    assert summary["downsampling"] == [False, False, True, False, True, False]
    assert summary["candidates"] == [0, 1, 3, 5] and summary["stage_of"] == [1, 1, 2, 2, 3, 3]
    assert summary["chance_err"] == pytest.approx(90.0)
    res, plain = (next(x for x in r.records if x.kind == k) for k in ("residual", "plain"))
    assert isinstance(res, LesionRecord)
    assert res.status == plain.status == "completed"
    # 60 steps fit synthetic1d: both intact nets are far better than chance (measured: 3.5% and
    # 2.0%; 1.2-3.5% over three training seeds).
    assert res.baseline_err < 20 and plain.baseline_err < 40
    assert plain.single_err[2] is None and plain.single_err[4] is None
    assert all(0 <= e <= 100 for e in res.single_err)
    # Deleting all four same-shape blocks is the same set in every draw: one number.
    assert len(set(res.random_err[-1])) == 1 and len(res.random_err) == 4
    v = r.verdict.numbers
    assert v["candidates"] == 4 and r.verdict.ok == v["ensemble_like"]
    rises = [res.single_err[i] - res.baseline_err for i in summary["candidates"]]
    assert v["residual_max_rise"] == pytest.approx(max(rises))
    assert v["residual_median_rise"] == pytest.approx(np.median(rises))
    assert v["worst_block"] == summary["candidates"][int(np.argmax(rises))]
    damage = np.median(np.array(rises) / (90.0 - res.baseline_err))
    assert v["residual_median_damage"] == pytest.approx(damage)
    assert v["ensemble_like"] == (damage < 0.2 and damage < v["plain_median_damage"])
    assert f"at most {max(rises):+.1f} (block {v['worst_block'] + 1})" in r.verdict.text
    # Saved as data: the numbers survive the round trip.
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["experiment"] == "lesion" and saved["provenance"]["seeds"] == [0]
    assert saved["records"][1]["single_err"][2] is None
    arrays = load_arrays(run_dir)
    assert np.isnan(arrays["plain_seed0_single"][2])
    assert arrays["residual_seed0_random"].shape == (4, 2)
    assert arrays["residual_seed0_single"].tolist() == res.single_err
    assert (run_dir / "blocks.csv").read_text().startswith("block,stage,downsampling")
    assert (run_dir / "intact_nets.csv").read_text().startswith("kind,seeds,test_err_mean")
    intact = {row["kind"]: row for row in summary["intact_nets"]}
    assert intact["plain"]["test_err_mean"] == plain.baseline_err


def test_tasks_are_one_per_kind_and_seed_in_dispatch_order() -> None:
    keys = [t.key for t in tasks(replace(TINY, seeds=2), None)]
    assert keys == ["residual_seed0", "plain_seed0", "residual_seed1", "plain_seed1"]


FAKE = LesionConfig(data="synthetic1d", depth=14)
# Residual: +1, +2, +3 points and one bad block (+60); plain: every deletion near chance.
TOLERANT = [11.0, 12.0, 30.0, 13.0, 20.0, 70.0]
COLLAPSING: list[float | None] = [85.0, 88.0, None, 90.0, None, 84.0]


def fake_summary(residual: list[float], plain: list[float | None]) -> dict:
    """Two seeds of a 6-block net (blocks 2 and 4 downsample) with given single-deletion errors."""
    runs = [
        LesionRecord(kind, seed, base, base, errs, [[base]] * 4, "completed", 1.0)
        for seed in (0, 1)
        for kind, base, errs in (("residual", 10.0, residual), ("plain", 30.0, plain))
    ]  # fmt: skip
    return summarize(FAKE, runs)


def test_summary_rows_per_block_and_per_net() -> None:
    summary = fake_summary(TOLERANT, COLLAPSING)
    rows = summary["blocks"]
    assert [r["block"] for r in rows] == list(range(6)) and rows[2]["downsampling"]
    assert rows[2]["plain_err_mean"] is None and rows[2]["residual_err_mean"] == 30.0
    assert rows[5]["residual_err_std"] == 0.0 and rows[0]["plain_err_mean"] == 85.0
    intact = summary["intact_nets"]
    assert [(r["kind"], r["seeds"], r["test_err_mean"]) for r in intact] == [
        ("residual", 2, 10.0),
        ("plain", 2, 30.0),
    ]


def test_judge_uses_the_typical_block_and_the_way_to_chance() -> None:
    v = judge(FAKE, fake_summary(TOLERANT, COLLAPSING))
    n = v.numbers
    assert v.ok and n["ensemble_like"] and n["plain_collapses"]
    assert n["residual_median_rise"] == pytest.approx(2.5)
    assert n["residual_max_rise"] == pytest.approx(60)
    assert n["worst_block"] == 5 and n["downsampling_rise"] == pytest.approx(15.0)
    assert n["residual_median_damage"] == pytest.approx(2.5 / 80)
    assert n["plain_median_damage"] == pytest.approx(56.5 / 60) and n["plain_near_chance"] == 4
    assert v.text.startswith("ensemble-like: deleting one non-downsampling block of residual-14")
    # Residual deletions that go a third of the way to chance are not "tolerated".
    v = judge(FAKE, fake_summary([40.0, 35.0, 30.0, 38.0, 20.0, 36.0], COLLAPSING))
    assert not v.ok and v.text.startswith("not ensemble-like")


def test_train_config_and_presets() -> None:
    cfg = LesionConfig(epochs=3, overrides=("optim.lr=0.05",)).train_config(seed=2)
    assert (cfg.train.epochs, cfg.train.seed, cfg.optim.lr) == (3, 2, 0.05)
    assert cfg.train.checkpoint_every == 0
    quick = PRESETS["quick"]
    quick_values = (quick.data, quick.depth, quick.seeds, quick.draws, quick.epochs)
    assert quick_values == ("mnist1d", 56, 2, 5, 10)
    paper = get_experiment("lesion").preset("paper")
    # Veit et al. 2016, 4.1: 110 layers = 54 pre-activation blocks on CIFAR-10.
    paper_values = (paper.data, paper.depth, paper.block, paper.shortcut, paper.steps)
    assert paper_values == ("cifar10", 110, "preact_basic", "B", 64000)
    assert paper.epochs is None and paper.recipe == "preact"
    with pytest.raises(ValueError, match="accepted: quick, paper"):
        EXPERIMENT.preset("huge")


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"depth": 15}, r"6n\+2"), ({"draws": 0}, "draws=0"), ({"seeds": 0}, "seeds=0"),
     ({"shortcut": "none"}, "accepted: A, B, C"), ({"overrides": ("optim.lr=-1",)}, "optim.lr"),
     ({"device": "tpu"}, "device='tpu'")],
)  # fmt: skip
def test_bad_config_fails_before_training(changes, message, tmp_path) -> None:
    with pytest.raises(ValueError, match=message):
        execute(EXPERIMENT, LesionConfig(data="synthetic1d", **changes), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_default_quick_run_is_ensemble_like() -> None:
    result = execute(EXPERIMENT, PRESETS["quick"])
    assert result.verdict.ok, result.verdict.text
    assert result.verdict.numbers["plain_collapses"], result.verdict.text
