from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from tests.experiments.tiny import IDENTITY as TINY

from reslab.experiments import get_experiment
from reslab.experiments.driver import execute
from reslab.experiments.executors import LocalExecutor
from reslab.experiments.identity import (
    EXPERIMENT,
    PRESETS,
    IdentityConfig,
    SeedRecord,
    VariantRecord,
    arrays,
    continue_config,
    flat_variants,
    judge,
    summarize,
    tasks,
)
from reslab.experiments.jsonable import from_jsonable, to_jsonable
from reslab.experiments.registry import load_result
from reslab.experiments.result import load_arrays
from reslab.models import cifar_resnet
from reslab.probes.deepen import VARIANTS, deepen, max_output_change

pytestmark = pytest.mark.usefixtures("one_thread")


def trained_like(depth: int = 20, **kwargs: object) -> torch.nn.Module:
    """A net with the statistics a trained one has: BN running stats, non-zero betas."""
    torch.manual_seed(0)
    net = cifar_resnet(depth, dims=1, in_channels=1, **kwargs)
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(64, 1, 40))
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.bias.normal_(0, 0.1)
    return net


def test_zero_init_residual_insertion_keeps_outputs_exactly() -> None:
    shallow = trained_like()
    deep = deepen(shallow, 32, "residual", seed=1)
    assert len(deep.blocks) == 15 and [len(s) for s in deep.stages] == [5, 5, 5]
    x = torch.randn(100, 1, 40)
    assert max_output_change(deep, shallow, [x]) == 0.0  # eval mode
    with torch.no_grad():  # train mode too: batch statistics, same batch
        assert torch.equal(deep.train()(x), shallow.train()(x))
    for key, value in shallow.state_dict().items():  # the trained blocks kept their places
        assert torch.equal(deep.state_dict()[key], value), key


def test_insertion_keeps_the_modes_and_the_shallow_net() -> None:
    shallow = trained_like().eval()
    before = {k: v.clone() for k, v in shallow.state_dict().items()}
    deep = deepen(shallow, 32, "plain", seed=0)
    assert not deep.training and not shallow.training
    max_output_change(deep.train(), shallow, [torch.randn(4, 1, 40)])
    assert deep.training and not shallow.training  # fit() trains in whatever mode it is given
    assert all(torch.equal(before[k], v) for k, v in shallow.state_dict().items())


def test_plain_insertion_changes_outputs_and_zero_plain_kills_the_signal() -> None:
    shallow = trained_like()
    x = torch.randn(100, 1, 40)
    plain = deepen(shallow, 32, "plain", seed=1)
    assert [b.is_plain for b in plain.blocks] == ([False] * 3 + [True] * 2) * 3
    assert max_output_change(plain, shallow, [x[:50], x[50:]]) > 1e-2
    zero = deepen(shallow, 32, "plain_zero", seed=1).eval()
    with torch.no_grad():
        logits = zero(x)
    # ReLU(0) = 0 after the first inserted layer: every input gets the same logits.
    torch.testing.assert_close(logits, logits[:1].expand_as(logits), rtol=0, atol=1e-6)


def test_deepened_net_round_trips_as_a_normal_resnet(tmp_path) -> None:
    deep = deepen(trained_like(), 32, "residual", seed=2).eval()
    save_file(deep.state_dict(), tmp_path / "deep.safetensors")
    fresh = cifar_resnet(32, dims=1, in_channels=1).eval()
    fresh.load_state_dict(load_file(tmp_path / "deep.safetensors"), strict=True)
    x = torch.randn(16, 1, 40)
    with torch.no_grad():
        assert torch.equal(fresh(x), deep(x))


def test_deepen_rejects_bad_requests() -> None:
    shallow = trained_like()
    with pytest.raises(ValueError, match="accepted: residual, plain, plain_zero"):
        deepen(shallow, 32, "dense")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="depth=20 must add blocks"):
        deepen(shallow, 20)


def test_tiny_run_numbers(tiny_run) -> None:
    run_dir = tiny_run("identity")
    r = load_result(run_dir)
    assert [type(s) for s in r.records] == [SeedRecord] and r.records[0].seed == 0
    by = {v.variant: v for v in r.records[0].variants}
    assert set(by) == {"shallow", "residual", "plain", "plain_zero"}
    assert r.summary["inserted_blocks"] == 3
    res, shallow, plain, zero = by["residual"], by["shallow"], by["plain"], by["plain_zero"]
    assert res.max_abs_diff <= 1e-6
    # Step 0: the same losses, on the whole training split (eval) and on the first batch.
    assert res.eval_loss0 == pytest.approx(shallow.eval_loss0, abs=1e-6)
    assert res.train_loss0 == pytest.approx(shallow.train_loss0, abs=1e-6)
    # Measured: plain 12.7 vs 0 max |logit change|, first-batch loss 2.39 vs 1.44 (shallow).
    assert plain.max_abs_diff > 1e-2 and plain.train_loss0 > shallow.train_loss0
    # Constant logits on balanced classes cannot beat the class entropy, ln 10.
    assert zero.eval_loss0 >= math.log(10) - 1e-3 and zero.final_test_err > 85
    assert shallow.train_loss0 < math.log(10)  # 20 steps taught the shallow net something
    assert 0 <= r.records[0].shallow_test_err <= 100  # one shallow net per seed, its error
    assert [v.variant for v in r.records[0].variants] == list(VARIANTS)
    for v in r.records[0].variants:
        assert isinstance(v, VariantRecord)
        assert v.steps == list(range(1, 7)) and len(v.train_loss) == 6
        assert v.train_loss[0] == v.train_loss0 and v.status == "completed"
    n = r.verdict.numbers
    assert r.verdict.ok and n["identity_exact"] and n["no_harm"] and n["plain_changes"]
    assert r.verdict.text.startswith("do no harm: yes")
    assert f"{res.train_loss0:.4g} vs {shallow.train_loss0:.4g}" in r.verdict.text
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["experiment"] == "identity" and saved["provenance"]["seeds"] == [0]
    assert saved["records"][0]["variants"][1]["train_loss0"] == res.train_loss0
    arrays = load_arrays(run_dir)
    np.testing.assert_array_equal(arrays["residual_seed0_loss"][1], res.train_loss)
    rows = {row["variant"]: row for row in saved["summary"]["variants"]}
    assert rows["plain"]["max_abs_diff_mean"] == plain.max_abs_diff
    assert (run_dir / "records.csv").read_text().startswith("seed,shallow_test_err\n0,")
    # The task keeps the shallow net in memory: nothing besides the results in the run directory.
    assert not [p for p in run_dir.iterdir() if p.is_dir() and p.name != "records"]


def test_one_independent_task_per_seed(tmp_path: Path) -> None:
    # The variants of a seed continue from one trained net, so they are one task: nothing is
    # shared between tasks through files, and no directory is needed.
    config = replace(TINY, seeds=2)
    assert [(t.key, t.seed) for t in tasks(config, tmp_path)] == [("seed0", 0), ("seed1", 1)]
    assert tasks(config, None) == tasks(config, tmp_path) and not list(tmp_path.iterdir())


def test_seed_record_round_trips_through_json() -> None:
    variant = VariantRecord("plain_zero", 1, 3.5, math.inf, 2.5, [1, 2], [2.5, math.nan], 0.1,
                            1.0, 2.0, "diverged")  # fmt: skip
    record = SeedRecord(seed=1, shallow_test_err=12.5, variants=[variant])
    saved = json.loads(json.dumps(to_jsonable(record)))
    back = from_jsonable(SeedRecord, saved)
    assert isinstance(back.variants[0], VariantRecord) and back.variants[0].eval_loss0 == math.inf
    assert math.isnan(back.variants[0].train_loss[1])
    assert to_jsonable(back) == saved  # nan is written as null: comparable


def test_runs_are_flattened_seed_by_seed_in_variant_order() -> None:
    # The order the per-seed code always had: raw.npz keys, and the per-variant means, follow it.
    records = fake_records(0.5, 0.0)
    assert [(v.seed, v.variant) for v in flat_variants(records)] == [
        (s, v) for s in (0, 1) for v in VARIANTS
    ]
    keys = list(arrays(PRESETS["quick"], records))
    assert keys[:5] == [f"{v}_seed0_loss" for v in VARIANTS] + ["shallow_seed1_loss"]


@pytest.mark.slow
def test_seeds_in_other_processes_get_the_same_numbers(tiny_run, tmp_path) -> None:
    # Two spawned workers, one seed each: a seed's record does not depend on where it ran.
    pooled = execute(EXPERIMENT, replace(TINY, seeds=2), out=tmp_path / "run",
                     executor=LocalExecutor(workers=2))  # fmt: skip
    assert pooled.records[0] == load_result(tiny_run("identity")).records[0]
    assert pooled.records[1].seed == 1 and pooled.records[1] != pooled.records[0]


def test_continue_config_is_a_constant_rate_from_step_zero() -> None:
    cfg = continue_config(IdentityConfig(continue_steps=40, continue_lr=0.03), seed=1)
    assert (cfg.train.steps, cfg.train.epochs, cfg.train.log_every) == (40, None, 1)
    assert cfg.optim.lr == 0.03 and cfg.schedule.kind == "constant" and cfg.schedule.warmup == 0
    assert cfg.train.seed == 10_001 and cfg.train.eval_train
    quick = PRESETS["quick"]
    assert (quick.depth, quick.deep_depth, quick.seeds, quick.epochs) == (20, 32, 3, 10)
    assert (quick.continue_steps, quick.continue_lr) == (100, 0.02)
    paper = get_experiment("identity").preset("paper")
    assert (paper.data, paper.depth, paper.deep_depth, paper.steps) == ("cifar10", 20, 56, 64000)
    assert (paper.continue_steps, paper.continue_lr, paper.epochs) == (8000, 0.001, None)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"deep_depth": 20}, "must be deeper than depth=20; accepted: .* e.g. 26"),
     ({"depth": 21}, r"6n\+2"), ({"shortcut": "none"}, "accepted: A, B, C"),
     ({"continue_lr": -1.0}, "optim.lr=-1.0"), ({"seeds": 0}, "seeds=0"),
     ({"continue_steps": 0}, "continue_steps=0"), ({"device": "tpu"}, "device='tpu'")],
)  # fmt: skip
def test_bad_config_fails_before_training(changes, message, tmp_path) -> None:
    with pytest.raises(ValueError, match=message):
        execute(EXPERIMENT, IdentityConfig(data="synthetic1d", **changes), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def fake_records(residual_loss0: float, residual_diff: float) -> list[SeedRecord]:
    diffs = {"shallow": 0.0, "residual": residual_diff, "plain": 3.0, "plain_zero": 5.0}
    loss0 = {"shallow": 0.5, "residual": residual_loss0, "plain": 2.3, "plain_zero": 2.3}
    return [
        SeedRecord(s, 1.0, [
            VariantRecord(v, s, diffs[v], loss0[v], loss0[v], [1], [loss0[v]], 0.1, 1.0, 2.0,
                          "done")
            for v in VARIANTS
        ])
        for s in (0, 1)
    ]  # fmt: skip


def fake_summary(residual_loss0: float, residual_diff: float) -> dict:
    records = fake_records(residual_loss0, residual_diff)
    return summarize(replace(PRESETS["quick"], deep_depth=38), records)


def test_judge_reports_harm_when_the_deeper_net_starts_worse() -> None:
    config = replace(PRESETS["quick"], deep_depth=38)
    ok = judge(config, fake_summary(0.5, 0.0))
    assert ok.ok and ok.numbers["plain_changes"]
    assert ok.text.startswith("do no harm: yes — 9 zero-initialised residual blocks")
    worse = judge(config, fake_summary(0.5 + 1e-3, 0.0))
    assert not worse.ok and not worse.numbers["no_harm"]
    assert worse.text.startswith("do no harm: NO")
    changed = judge(config, fake_summary(0.5, 1e-4))
    assert not changed.numbers["identity_exact"] and changed.numbers["residual_max_diff"] == 1e-4


@pytest.mark.slow
def test_default_quick_run_does_no_harm() -> None:
    result = execute(EXPERIMENT, PRESETS["quick"])
    assert result.verdict.ok, result.verdict.text
    assert result.verdict.numbers["plain_changes"], result.verdict.text
