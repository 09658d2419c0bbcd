from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from reslab.experiments.common import load_arrays
from reslab.experiments.identity import (
    VARIANTS,
    IdentityConfig,
    IdentityResult,
    VariantRecord,
    continue_config,
    deepen,
    judge,
    max_output_change,
    run,
    summarize,
)
from reslab.models import cifar_resnet

TINY = IdentityConfig(
    data="synthetic1d", depth=8, deep_depth=14, seeds=1, epochs=None, steps=20,
    continue_steps=6, batch_size=64, workers=1, device="cpu",
)  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # Tiny nets: on a shared 2-core machine extra OpenMP threads only contend.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_result() -> IdentityResult:
    return run(TINY)


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


def test_tiny_run_numbers(tiny_result: IdentityResult, tmp_path) -> None:
    r = tiny_result
    by = {v.variant: v for v in r.variants}
    assert set(by) == {"shallow", "residual", "plain", "plain_zero"} and r.inserted_blocks == 3
    res, shallow, plain, zero = by["residual"], by["shallow"], by["plain"], by["plain_zero"]
    assert res.max_abs_diff <= 1e-6
    # Step 0: the same losses, on the whole training split (eval) and on the first batch.
    assert res.eval_loss0 == pytest.approx(shallow.eval_loss0, abs=1e-6)
    assert res.train_loss0 == pytest.approx(shallow.train_loss0, abs=1e-6)
    assert res.train_loss0 <= shallow.train_loss0 + 1e-6  # never worse
    assert plain.max_abs_diff > 1e-2 and plain.train_loss0 > shallow.train_loss0
    # Constant logits on balanced classes cannot beat the class entropy, ln 10.
    assert zero.eval_loss0 >= math.log(10) - 1e-3 and zero.final_test_err > 85
    assert shallow.train_loss0 < math.log(10)  # 20 steps taught the shallow net something
    for v in r.variants:
        assert v.steps == list(range(1, 7)) and len(v.train_loss) == 6
        assert v.train_loss[0] == v.train_loss0 and v.status == "completed"
    assert r.verdict is not None
    assert r.verdict.identity_exact and r.verdict.no_harm and r.verdict.plain_changes
    assert r.verdict.text.startswith("do no harm: yes")
    assert f"{res.train_loss0:.4g} vs {shallow.train_loss0:.4g}" in r.verdict.text
    r.save(tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["experiment"] == "identity" and saved["provenance"]["seeds"] == [0]
    assert saved["variants"][1]["train_loss0"] == res.train_loss0
    arrays = load_arrays(tmp_path)
    np.testing.assert_array_equal(arrays["residual_seed0_loss"][1], res.train_loss)
    rows = {row["variant"]: row for row in saved["summary"]}
    assert rows["plain"]["max_abs_diff_mean"] == plain.max_abs_diff


def test_continue_config_is_a_constant_rate_from_step_zero() -> None:
    cfg = continue_config(IdentityConfig(continue_steps=40, continue_lr=0.03), seed=1)
    assert (cfg.train.steps, cfg.train.epochs, cfg.train.log_every) == (40, None, 1)
    assert cfg.optim.lr == 0.03 and cfg.schedule.kind == "constant" and cfg.schedule.warmup == 0
    paper = IdentityConfig.preset_config("paper")
    assert (paper.data, paper.depth, paper.deep_depth, paper.steps) == ("cifar10", 20, 56, 64000)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"deep_depth": 20}, "must be deeper than depth=20; accepted: .* e.g. 26"),
     ({"depth": 21}, r"6n\+2"), ({"shortcut": "none"}, "accepted: A, B, C"),
     ({"continue_lr": -1.0}, "optim.lr=-1.0"), ({"seeds": 0}, "seeds=0")],
)  # fmt: skip
def test_bad_config_fails_before_training(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        run(IdentityConfig(data="synthetic1d", **changes))


def fake_result(residual_loss0: float, residual_diff: float) -> IdentityResult:
    diffs = {"shallow": 0.0, "residual": residual_diff, "plain": 3.0, "plain_zero": 5.0}
    loss0 = {"shallow": 0.5, "residual": residual_loss0, "plain": 2.3, "plain_zero": 2.3}
    records = [
        VariantRecord(v, s, diffs[v], loss0[v], loss0[v], [1], [loss0[v]], 0.1, 1.0, 2.0, "done")
        for v in VARIANTS for s in (0, 1)
    ]  # fmt: skip
    result = IdentityResult(IdentityConfig(), {}, 6, [1.0, 1.0], records)
    result.summary = summarize(records)
    return result


def test_judge_reports_harm_when_the_deeper_net_starts_worse() -> None:
    ok = judge(fake_result(0.5, 0.0))
    assert ok.identity_exact and ok.no_harm and ok.plain_changes
    assert ok.text.startswith("do no harm: yes — 6 zero-initialised residual blocks")
    worse = judge(fake_result(0.5 + 1e-3, 0.0))
    assert not worse.no_harm and worse.text.startswith("do no harm: NO")
    changed = judge(fake_result(0.5, 1e-4))
    assert not changed.identity_exact and changed.residual_max_diff == 1e-4


@pytest.mark.slow
def test_default_quick_run_does_no_harm() -> None:
    result = run(IdentityConfig.preset_config("quick"))
    assert result.verdict is not None
    assert result.verdict.identity_exact and result.verdict.no_harm, result.verdict.text
    assert result.verdict.plain_changes, result.verdict.text
