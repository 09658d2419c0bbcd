"""Hessian probe: exact references. A quadratic whose Hessian is a chosen matrix (with negative
eigenvalues), and a tiny residual MLP with BN whose full Hessian is built by brute force with
``torch.autograd.functional.hessian``: eigenvalues, trace, density and products must match."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from reslab.probes.hessian import Hessian, smooth_density, time_products
from reslab.training import objective

pytestmark = pytest.mark.usefixtures("one_thread")

SPECTRUM = np.array([10.0, 6.0, 3.0, 1.0, 0.5, 0.2, 0.0, -0.3, -1.0, -2.0])


@pytest.fixture(scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Quadratic(nn.Module):
    """Its output is the loss 1/2 theta^T A theta: the Hessian is A everywhere."""

    def __init__(self, a: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("a", a)
        self.theta = nn.Parameter(torch.randn(len(a), dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * self.theta @ self.a @ self.theta + 0.0 * x.sum()


def rotated(spectrum: np.ndarray, seed: int = 0) -> torch.Tensor:
    """Q diag(spectrum) Q^T for a random orthogonal Q: not diagonal, so Rademacher probes do not
    give the trace exactly."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(len(spectrum), len(spectrum))))
    return torch.from_numpy(q @ np.diag(spectrum) @ q.T)


def quadratic() -> Hessian:
    torch.manual_seed(0)
    model = Quadratic(rotated(SPECTRUM))
    batch = (torch.zeros(1, dtype=torch.float64), torch.zeros(1))
    return Hessian(model, [batch], loss_fn=lambda out, y: out)


class TinyResMLP(nn.Module):
    """Two residual blocks (Linear, BN, tanh) between a stem and a head: 243 parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(4, 8)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Tanh()) for _ in range(2)
        )
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.stem(x))
        for block in self.blocks:
            h = h + block(h)
        return self.head(h)


def tiny_net() -> tuple[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = TinyResMLP().double()
    x = torch.randn(40, 4, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=generator)
    y[5] = objective.IGNORE_INDEX  # an ignored target counts in neither the loss nor the weights
    with torch.no_grad():  # running statistics unlike a batch's own: eval mode matters
        for _ in range(3):
            model(x[:20] * 2 + 1)
    model.blocks[1][1].eval()  # one module in another mode than the model: restored as it was
    return model, [(x[:24], y[:24]), (x[24:], y[24:])]  # unequal batches


def brute_force(model: nn.Module, batches) -> np.ndarray:
    """The full Hessian of the mean loss over all counted targets, on the concatenated data."""
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    modes = [(m, m.training) for m in model.modules()]
    model.eval()

    def loss(theta: torch.Tensor) -> torch.Tensor:
        parts = theta.split([s.numel() for s in shapes])
        params = {n: p.view(s) for n, p, s in zip(names, parts, shapes, strict=True)}
        return objective.loss(functional_call(model, (params, buffers), (x,)), y)

    h = torch.autograd.functional.hessian(loss, flat)
    for module, mode in modes:
        module.training = mode
    return h.numpy()


@pytest.fixture(scope="module")
def net():
    model, batches = tiny_net()
    return model, batches, brute_force(model, batches)


# -- the quadratic: a known Hessian -------------------------------------------------------------


def test_quadratic_top_eigenvalues_and_minimum() -> None:
    h = quadratic()
    top = h.eigenvalues(top_k=3, iters=2000, tol=1e-12, seed=0)
    np.testing.assert_allclose(top, [10.0, 6.0, 3.0], rtol=1e-6)
    assert h.min_eigenvalue(iters=5000, tol=1e-13, seed=0) == pytest.approx(-2.0, abs=1e-5)
    lo, hi = h.extremes(iters=10, seed=0)  # a full Krylov space: exact
    assert (lo, hi) == (pytest.approx(-2.0, abs=1e-9), pytest.approx(10.0, abs=1e-9))
    assert h.hvps > 0


def test_quadratic_trace_by_hutchinson() -> None:
    h = quadratic()
    exact = SPECTRUM.sum()
    few = h.trace(probes=30, seed=0)
    assert few.probes == 30 and few.se > 0
    assert abs(few.estimate - exact) < 4 * few.se
    many = h.trace(probes=3000, seed=1)
    assert many.se < few.se / 5
    assert many.estimate == pytest.approx(exact, abs=max(4 * many.se, 1e-9))
    assert abs(many.estimate - exact) < 0.1 * abs(exact)


def test_quadratic_density_nodes_weights_and_mean() -> None:
    h = quadratic()
    spectrum = h.density(iters=10, runs=40, seed=0)
    assert spectrum.nodes.shape == spectrum.weights.shape == (40, 10)
    np.testing.assert_allclose(spectrum.weights.sum(axis=1), 1.0, rtol=1e-10)
    # n Lanczos steps on an n-dimensional space: every run's nodes are the eigenvalues.
    for nodes in spectrum.nodes:
        np.testing.assert_allclose(np.sort(nodes), np.sort(SPECTRUM), atol=1e-8)
    per_run = (spectrum.nodes * spectrum.weights).sum(axis=1)  # v^T A v of each unit probe
    se = per_run.std(ddof=1) / np.sqrt(len(per_run))
    assert abs(spectrum.mean() - SPECTRUM.mean()) < 4 * se
    grid, density = smooth_density(spectrum)
    assert np.trapezoid(density, grid) == pytest.approx(1.0, rel=1e-6)
    assert np.trapezoid(grid * density, grid) == pytest.approx(spectrum.mean(), abs=1e-3)
    # The density peaks at the eigenvalues (the weights of each node, smoothed).
    for value in (10.0, -2.0):
        assert density[np.argmin(abs(grid - value))] > 10 * density[np.argmin(abs(grid - 8.0))]


def test_fewer_lanczos_steps_still_bracket_the_spectrum() -> None:
    lo, hi = quadratic().extremes(iters=5, seed=3)
    assert -2.0 - 1e-9 <= lo < 0 and 0 < hi <= 10.0 + 1e-9  # Ritz values lie inside


# -- a small net against its brute-force Hessian ------------------------------------------------


def test_hvp_equals_the_full_hessian_times_a_vector(net) -> None:
    model, batches, full = net
    h = Hessian(model, batches)
    assert h.n == full.shape[0] == 243
    v = np.random.default_rng(0).normal(size=h.n)
    np.testing.assert_allclose(h.hvp(v), full @ v, rtol=1e-8, atol=1e-12)
    assert not np.allclose(full, full.T * 0)  # a real, non-zero Hessian


def test_small_net_eigenvalues_match_the_brute_force(net) -> None:
    model, batches, full = net
    exact = np.linalg.eigvalsh(full)
    by_magnitude = exact[np.argsort(-abs(exact))]
    assert exact[0] < 0  # trained briefly or not at all, the net sits off a minimum
    h = Hessian(model, batches)
    top = h.eigenvalues(top_k=3, iters=3000, tol=1e-12, seed=0)
    np.testing.assert_allclose(top, by_magnitude[:3], rtol=1e-5)
    lo, hi = h.extremes(iters=243, seed=0)
    assert lo == pytest.approx(exact[0], rel=1e-6) and hi == pytest.approx(exact[-1], rel=1e-6)
    assert h.min_eigenvalue(iters=20000, tol=1e-12, seed=0) == pytest.approx(exact[0], rel=1e-3)


def test_small_net_trace_exact_and_by_hutchinson(net) -> None:
    model, batches, full = net
    h = Hessian(model, batches)
    exact = float(np.trace(full))
    by_basis = sum(h.hvp(np.eye(h.n)[i])[i] for i in range(h.n))
    assert by_basis == pytest.approx(exact, rel=1e-9)
    estimate = h.trace(probes=200, seed=0)
    assert abs(estimate.estimate - exact) < 4 * estimate.se


def test_weights_only_is_the_block_of_the_matrices(net) -> None:
    # Li et al.'s code differentiates w.r.t. the tensors of two or more dimensions only.
    model, batches, full = net
    mask = np.concatenate([np.full(p.numel(), p.dim() > 1) for p in model.parameters()])
    h = Hessian(model, batches, weights_only=True)
    assert h.n == mask.sum() == 4 * 8 + 2 * 64 + 8 * 3
    v = np.random.default_rng(1).normal(size=h.n)
    np.testing.assert_allclose(h.hvp(v), full[np.ix_(mask, mask)] @ v, rtol=1e-8, atol=1e-12)


def test_same_seed_same_numbers_and_the_model_is_untouched(net) -> None:
    model, batches, _ = net
    modes = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert model.training and not model.blocks[1][1].training
    runs = []
    for _ in range(2):
        h = Hessian(model, batches)
        runs.append(
            (h.eigenvalues(2, iters=30, seed=4), h.min_eigenvalue(iters=30, seed=4),
             h.extremes(iters=15, seed=4), h.trace(probes=5, seed=4),
             h.density(iters=8, runs=2, seed=4).nodes.tolist())
        )  # fmt: skip
    assert runs[0] == runs[1]
    assert Hessian(model, batches).trace(5, seed=5) != runs[0][3]  # the seed matters
    assert [m.training for m in model.modules()] == modes
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key  # parameters and BN statistics


def test_hvp_inside_no_grad_and_in_the_parameters_dtype(net) -> None:
    model, batches, full = net
    v = torch.ones(243, dtype=torch.float32)  # converted to the model's float64
    with torch.no_grad():
        hv = Hessian(model, batches).hvp(v)
    np.testing.assert_allclose(hv, full @ np.ones(243), rtol=1e-8, atol=1e-12)
    with pytest.raises(ValueError, match=r"shape \(3,\); expected \(243,\)"):
        Hessian(model, batches).hvp(np.ones(3))


class TokenModel(nn.Module):
    """GPT-style logits (N, T, vocab) with the class axis last."""

    class_dim = -1

    def __init__(self) -> None:
        super().__init__()
        self.wte = nn.Embedding(5, 4)
        self.mix = nn.Linear(4, 4)
        self.out = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.mix(self.wte(x))))


def test_per_position_targets_use_the_shared_objective() -> None:
    torch.manual_seed(0)
    model = TokenModel().double()
    x = torch.randint(0, 5, (3, 6))
    y = torch.randint(0, 5, (3, 6))
    y[0, :2] = objective.IGNORE_INDEX
    params = dict(model.named_parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in params.values()])

    def loss(theta: torch.Tensor) -> torch.Tensor:
        parts = theta.split([p.numel() for p in params.values()])
        named = {n: t.view(p.shape) for (n, p), t in zip(params.items(), parts, strict=True)}
        logits = functional_call(model, named, (x,))
        return nn.functional.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))

    full = torch.autograd.functional.hessian(loss, flat).numpy()
    v = np.random.default_rng(0).normal(size=len(flat))
    h = Hessian(model, [(x[:1], y[:1]), (x[1:], y[1:])])
    np.testing.assert_allclose(h.hvp(v), full @ v, rtol=1e-8, atol=1e-12)


def test_timing_counts_products_and_is_positive(net) -> None:
    model, batches, _ = net
    h = Hessian(model, batches)
    grad_s, hvp_s = time_products(h, repeats=2)
    assert grad_s > 0 and hvp_s > 0 and h.hvps == 3  # warm-up plus two timed products


def test_bad_arguments_name_the_value() -> None:
    h = quadratic()
    with pytest.raises(ValueError, match=r"top_k=11 must be in 1\.\.10"):
        h.eigenvalues(top_k=11)
    with pytest.raises(ValueError, match="probes=0"):
        h.trace(probes=0)
    with pytest.raises(ValueError, match="at least one"):
        Hessian(Quadratic(rotated(SPECTRUM)), [])
