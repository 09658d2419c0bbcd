from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tests.experiments.nets import seq_net
from tests.experiments.tiny import PATHS as TINY

from reslab.data import load_data
from reslab.experiments.driver import execute
from reslab.experiments.paths import (
    EXPERIMENT,
    PRESETS,
    PathsConfig,
    PathsRecord,
    decay_per_block,
    effective_window,
    judge,
    path_fractions,
    seed_paths,
    summarize,
    tasks,
)
from reslab.experiments.registry import load_result
from reslab.experiments.result import load_arrays
from reslab.models.resnet import ResNet, Stage
from reslab.probes.paths import (
    path_gradient,
    path_gradients,
    single_path,
    training_batches,
)

ARCHS = [("basic", "A"), ("preact_basic", "B"), ("basic", "C")]

pytestmark = pytest.mark.usefixtures("one_thread")


def batch(n: int = 16, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 40, generator=g), torch.randint(0, 10, (n,), generator=g)


def full_gradient(net: ResNet, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    return torch.autograd.grad(F.cross_entropy(net(x), y), x)[0]


def hand_made_path_gradient(
    net: ResNet, x: torch.Tensor, y: torch.Tensor, path: list[int]
) -> torch.Tensor:
    """The same gradient by another route: record every block's input in an ordinary forward,
    then chain vector-Jacobian products by hand, block by block from the top: the block's
    activation, then its branch alone (blocks on the path) or its shortcut alone (the others),
    each at its recorded input; last the stem."""
    inputs: list[torch.Tensor] = []
    top: list[torch.Tensor] = []
    hooks = [
        b.register_forward_pre_hook(lambda _m, a: inputs.append(a[0].detach())) for b in net.blocks
    ]
    hooks.append(net.blocks[-1].register_forward_hook(lambda _m, _a, out: top.append(out.detach())))
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    z = top[0].clone().requires_grad_(True)
    loss = F.cross_entropy(net.forward_head(net.final_act(z * 1.0)), y)
    (g,) = torch.autograd.grad(loss, z)
    for i in reversed(range(len(net.blocks))):
        block, xi = net.blocks[i], inputs[i].clone().requires_grad_(True)
        s, f = block.shortcut(xi), block.drop_path(block.branch(xi))
        pre = (s + f).detach().requires_grad_(True)
        (g,) = torch.autograd.grad(block.act(pre * 1.0), pre, g)  # the activation's mask
        (g,) = torch.autograd.grad(f if i in path else s, xi, g)
    x = x.clone().requires_grad_(True)
    return torch.autograd.grad(net.forward_stem(x), x, g)[0]


@pytest.mark.parametrize(("block", "shortcut"), ARCHS)
@pytest.mark.parametrize("train", [False, True])
def test_forward_values_are_unchanged_and_everything_is_restored(block, shortcut, train) -> None:
    net = seq_net(block=block, shortcut=shortcut).train(train)
    x, _ = batch()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        normal = net(x)
        with single_path(net, [0, 2, 5]) as same:
            assert same is net
            restricted = net(x)
            with single_path(net, []):
                pass
            assert torch.equal(net(x), normal)  # the outer restriction is back after the inner
        after = net(x)
    assert torch.equal(normal, restricted) and torch.equal(normal, after)
    assert list(net.state_dict()) == list(before)
    if not train:  # train mode moves the running statistics, by design of BN
        assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all("forward" not in b.__dict__ for b in net.blocks)


@pytest.mark.parametrize(("block", "shortcut"), ARCHS)
@pytest.mark.parametrize("path", [[], [0, 1, 2, 3, 4, 5], [0, 2, 3], [5], [1, 4]])
def test_path_gradient_matches_a_hand_made_chain(block, shortcut, path) -> None:
    # k = 0, k = n and paths that cross downsampling blocks (2, 4: option A pads, B/C project).
    net = seq_net(block=block, shortcut=shortcut)
    x, y = batch()
    ours, reference = path_gradient(net, x, y, path), hand_made_path_gradient(net, x, y, path)
    assert ours.abs().max() > 0
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-7 * float(reference.abs().max()))


@pytest.mark.parametrize(
    ("block", "shortcut", "train"), [("basic", "A", True), ("preact_basic", "B", False)]
)
def test_the_2_to_the_n_paths_add_up_to_the_gradient(block, shortcut, train) -> None:
    net = seq_net(block=block, shortcut=shortcut).train(train)
    x, y = batch()
    n = len(net.blocks)
    subsets = [list(s) for k in range(n + 1) for s in itertools.combinations(range(n), k)]
    grads = torch.stack([path_gradient(net, x, y, s) for s in subsets])
    assert len(subsets) == 2**n == 64
    full = full_gradient(net, x, y)
    atol = 1e-6 * float(full.abs().max())
    torch.testing.assert_close(grads.double().sum(0), full.double(), rtol=1e-4, atol=atol)
    # Not a sum of copies: no single path carries the whole gradient.
    norms = grads.flatten(1).norm(dim=1)
    assert norms.max() < 0.9 * full.norm()


def test_k0_of_an_identity_preact_net_is_the_head_gradient_through_the_stem() -> None:
    # One stage: every shortcut is the identity and nothing follows the addition (He et al.
    # 2016, eq. 4), so the path through no branch is the stem's Jacobian times dL/dx_L.
    torch.manual_seed(0)
    net = ResNet(
        [Stage(4, 16, 1)], block="preact_basic", stem="cifar_preact", dims=1, in_channels=1
    ).eval()
    x, y = batch()
    top: list[torch.Tensor] = []
    hook = net.blocks[-1].register_forward_hook(lambda _m, _a, out: top.append(out))
    xg = x.clone().requires_grad_(True)
    loss = F.cross_entropy(net(xg), y)
    hook.remove()
    (g_top,) = torch.autograd.grad(loss, top[0])
    stem_x = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(net.forward_stem(stem_x), stem_x, g_top)
    torch.testing.assert_close(path_gradient(net, x, y, []), expected)
    assert not torch.allclose(path_gradient(net, x, y, [0, 1, 2, 3]), expected)


def test_zeroed_branches_leave_only_the_shortcut_path() -> None:
    net = seq_net()
    for b in net.blocks:  # F(x) = 0: the last BN's scale and shift zeroed
        b.zero_init_last()
        torch.nn.init.zeros_(b.branch[-1].bias)
    x, y = batch()
    assert torch.equal(path_gradient(net, x, y, []), full_gradient(net, x, y))
    for path in ([0], [3], [1, 2], list(range(6))):
        assert torch.count_nonzero(path_gradient(net, x, y, path)) == 0


def test_plain_nets_and_bad_indices_are_refused() -> None:
    plain = seq_net(shortcut="none")
    with (
        pytest.raises(ValueError, match=r"no shortcut; accepted: a residual net"),
        single_path(plain, [0]),
    ):
        pass
    net = seq_net()
    out_of_range = r"\[6, 9\] are out of range; accepted: 0\.\.5"
    with pytest.raises(ValueError, match=out_of_range), single_path(net, [1, 6, 9]):
        pass
    assert all("forward" not in b.__dict__ for b in net.blocks)


def test_path_gradients_measure_a_train_mode_copy_on_one_batch_per_draw() -> None:
    net = seq_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    batches = [batch(8, seed) for seed in (1, 2)]
    paths = [[[], []], [[1], [4]], [[0, 5], [2, 3]]]
    norms = path_gradients(net, iter(batches), paths)
    assert not net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    trained_mode = seq_net().train()
    for k, per_length in enumerate(paths):
        for d, (x, y) in enumerate(batches):
            grad = path_gradient(trained_mode, x, y, per_length[d])
            assert norms[k][d] == pytest.approx(grad.double().norm().item(), rel=1e-6)
    with pytest.raises(ValueError, match=r"got 1 batches for 2 paths per length"):
        path_gradients(net, iter(batches[:1]), paths)
    with pytest.raises(ValueError, match=r"\[1, 2\] paths per length"):
        path_gradients(net, iter(batches), [[[]], [[1], [2]]])


def test_training_batches_are_full_shuffled_and_seeded() -> None:
    bundle = load_data("synthetic1d")
    size = len(bundle.train)
    per_epoch = size // 64
    got = list(training_batches(bundle, batch_size=64, count=per_epoch + 2, seed=0, device="cpu"))
    assert len(got) == per_epoch + 2 and all(len(y) == 64 for _, y in got)
    again = list(training_batches(bundle, batch_size=64, count=3, seed=0, device="cpu"))
    other = list(training_batches(bundle, batch_size=64, count=3, seed=1, device="cpu"))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(again, got, strict=False))
    assert not torch.equal(other[0][0], got[0][0])
    assert not torch.equal(got[per_epoch][0], got[0][0])  # the second epoch is reshuffled
    with pytest.raises(ValueError, match=f"accepted: batch_size <= {size}"):
        next(training_batches(bundle, batch_size=size + 1, count=1, seed=0, device="cpu"))


def test_path_fractions_are_the_binomial() -> None:
    assert path_fractions(4).tolist() == [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16]
    f = path_fractions(54)
    assert f.sum() == pytest.approx(1) and np.allclose(f, f[::-1]) and int(np.argmax(f)) == 27
    # Veit et al., section 5: paths of 5-17 of 54 blocks are 0.45% of all paths.
    assert 100 * f[5:18].sum() == pytest.approx(0.45, abs=0.005)
    assert path_fractions(0).tolist() == [1.0]


def test_effective_window_on_hand_made_weights() -> None:
    assert effective_window([0, 0.05, 0.5, 0.4, 0.05]) == (2, 3)
    assert effective_window([0.5, 0.4, 0.1]) == (0, 1)  # exactly 90%: enough
    assert effective_window([0, 0, 7, 0]) == (2, 2)
    assert effective_window([0.06, 0.44, 0.44, 0.07]) == (1, 3)  # equally short: the heavier
    assert effective_window([0.06, 0.44, 0.44, 0.07], mass=0.5) == (1, 2)
    assert effective_window([3.0, 1.0], mass=1.0) == (0, 1)
    for n in (26, 27):
        f = path_fractions(n)
        lo, hi = effective_window(f)
        assert f[lo : hi + 1].sum() >= 0.9
        shorter = [f[a : a + hi - lo].sum() for a in range(n + 2 - (hi - lo))]
        assert max(shorter) < 0.9  # no shorter window holds 90%
        assert abs((lo + hi) / 2 - n / 2) <= 0.5  # centred on n/2
    assert effective_window(path_fractions(26)) == (9, 17)  # exactly symmetric around 13
    for bad, message in (([], "non-empty"), ([1, -1], "values >= 0"), ([1, math.nan], "finite"),
                         ([0, 0], "sum to 0")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            effective_window(bad)
    with pytest.raises(ValueError, match=r"mass=1.5 is out of range; accepted: 0 < mass <= 1"):
        effective_window([1.0], mass=1.5)


def test_decay_per_block_fits_the_exponential() -> None:
    assert decay_per_block(3 * 0.5 ** np.arange(10)) == pytest.approx(0.5)
    assert decay_per_block([2.0, 0.0, 0.5]) == pytest.approx(0.5)  # zero: left out of the fit
    assert math.isnan(decay_per_block([1.0]))


def record(seed: int, rate: float, n: int = 6, status: str = "completed") -> PathsRecord:
    """A record whose path gradients are rate**k, with draws differing by a factor around it."""
    norms = [[rate**k * 0.9, rate**k * 1.1] for k in range(n + 1)] if status != "diverged" else []
    return PathsRecord(seed, n, norms, 5.0, 1.0, status, 10.0, 2.0)


def test_seed_paths_weigh_the_binomial_by_the_mean_gradient() -> None:
    flat = seed_paths(record(0, 1.0))
    assert flat.share == pytest.approx(path_fractions(6))
    assert (flat.k_lo, flat.k_hi) == effective_window(path_fractions(6)) == (1, 5)
    assert flat.paths_pct == pytest.approx(100 * 62 / 64) and flat.decay == pytest.approx(1.0)
    short = seed_paths(record(0, 0.1))
    # C(6, k) 0.1^k: 1, 0.6, 0.15, 0.02, ... of 1.771: k = 0..1 hold 90.3%.
    assert (short.k_lo, short.k_hi) == (0, 1) and short.decay == pytest.approx(0.1)
    assert short.paths_pct == pytest.approx(100 * 7 / 64)
    assert short.mean_grad == pytest.approx(0.1 ** np.arange(7))


FAKE = PathsConfig(data="synthetic1d", depth=14)


def test_summary_tables_and_the_paper_beside_ours() -> None:
    s = summarize(FAKE, [record(0, 0.1), record(1, 0.2)])
    row = s["effective_paths"][0]
    assert row["blocks"] == 6 and row["paper_blocks"] == 54 and row["seeds"] == 2
    assert (row["paper_k_lo"], row["paper_k_hi"], row["paper_paths_pct"]) == (5, 17, 0.45)
    assert row["k_hi_per_n_mean"] == pytest.approx(np.mean(s["k_hi"]) / 6)
    assert row["paper_k_hi_per_n"] == pytest.approx(17 / 54)
    assert row["decay_per_block_mean"] == pytest.approx(0.15)
    lengths = s["path_lengths"]
    assert [r["k"] for r in lengths] == list(range(7))
    assert sum(r["share_pct_mean"] for r in lengths) == pytest.approx(100)
    assert lengths[2]["grad_mean"] == pytest.approx((0.01 + 0.04) / 2)
    assert s["equal_gradient_window"] == [1, 5] and s["diverged"] == []
    assert s["trained_net"][0]["seeds"] == 2 and s["trained_net"][0]["test_err_mean"] == 5.0


def test_judge_short_paths_on_every_seed() -> None:
    v = judge(FAKE, summarize(FAKE, [record(0, 0.1), record(1, 0.3), record(2, 0.2)]))
    assert v.ok and v.numbers["short_paths"]
    assert v.numbers["k_hi_limit"] == 3 and v.numbers["k_hi_max"] <= 3
    assert v.numbers["equal_gradient_window"] == [1, 5]
    assert v.text.startswith("effective paths much shorter than the net: yes — 90% of")
    assert "Veit et al.: 5-17 of 54 blocks, 0.45% of paths" in v.text


def test_judge_fails_flat_gradients_one_long_seed_and_a_diverged_one() -> None:
    flat = judge(FAKE, summarize(FAKE, [record(0, 1.0), record(1, 1.0)]))
    assert flat.outcome == "contradicted" and flat.numbers["k_hi_per_seed"] == [5, 5]
    assert "no — 90%" in flat.text and "beyond n/2 = 3" in flat.text
    one_long = judge(FAKE, summarize(FAKE, [record(0, 0.1), record(1, 0.9)]))
    assert one_long.outcome == "inconclusive" and one_long.numbers["k_hi_per_seed"][0] <= 3
    diverged = judge(FAKE, summarize(FAKE, [record(0, 0.1), record(1, 0.1, status="diverged")]))
    assert diverged.outcome == "inconclusive" and diverged.numbers["diverged"] == [1]
    assert "Diverged seeds: [1]" in diverged.text
    none = judge(FAKE, summarize(FAKE, [record(0, 0.1, status="diverged")]))
    assert none.outcome == "inconclusive" and "all seeds diverged" in none.text


def test_tiny_trained_run_numbers(tiny_run) -> None:
    run_dir = tiny_run("paths")
    r = load_result(run_dir)
    (rec,) = r.records
    assert isinstance(rec, PathsRecord) and rec.status == "completed" and rec.blocks == 6
    norms = np.array(rec.grad_norm)
    assert norms.shape == (7, 2) and np.all(np.isfinite(norms)) and np.all(norms > 0)
    assert rec.test_err < 90  # 20 steps learn something about synthetic1d
    own = seed_paths(rec)
    s = r.summary
    assert (s["k_lo"], s["k_hi"]) == ([own.k_lo], [own.k_hi])
    assert [row["grad_mean"] for row in s["path_lengths"]] == pytest.approx(norms.mean(1))
    v = r.verdict
    assert v.ok == (own.k_hi <= 3) and v.numbers["k_hi_per_seed"] == [own.k_hi]
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["experiment"] == "paths" and saved["provenance"]["seeds"] == [0]
    assert load_arrays(run_dir)["seed0_grad_norm"].tolist() == rec.grad_norm
    assert (run_dir / "path_lengths.csv").read_text().startswith("k,seeds,paths_pct,grad_mean")
    assert (run_dir / "effective_paths.csv").exists()
    trained = s["trained_net"][0]
    assert (trained["seeds"], trained["test_err_mean"], trained["diverged"]) == (1, rec.test_err, 0)


def test_tasks_and_presets() -> None:
    assert [t.key for t in tasks(replace(TINY, seeds=3), None)] == ["seed0", "seed1", "seed2"]
    quick = PRESETS["quick"]
    assert (quick.data, quick.depth, quick.block, quick.shortcut, quick.seeds) == (
        "mnist1d", 56, "basic", "A", 3,
    )  # fmt: skip
    paper = EXPERIMENT.preset("paper")
    # Veit et al. 2016, 4.1 and 5: 110 layers = 54 pre-activation blocks, 1,000 paths per k.
    assert (paper.data, paper.depth, paper.block, paper.draws, paper.steps) == (
        "cifar10", 110, "preact_basic", 1000, 64000,
    )  # fmt: skip


@pytest.mark.slow
def test_default_quick_run_finds_short_effective_paths() -> None:
    # Measured: windows 4-11, 4-11, 4-12 of 27 blocks (limit 13.5), decay 0.40 per block.
    result = execute(EXPERIMENT, PRESETS["quick"])
    assert result.verdict.ok, result.verdict.text
    assert result.summary["effective_paths"][0]["decay_per_block_mean"] < 0.6
