"""The Hessian of a model's loss on fixed batches, through Hessian-vector products only.

What PyHessian measures (Yao et al. 2020, "PyHessian: Neural Networks Through the Lens of the
Hessian"), for any model and target layout: the top eigenvalues by power iteration with
deflation (their Algorithm 1), the trace by Hutchinson's estimator with Rademacher probes (their
Algorithm 2) and the eigenvalue density by stochastic Lanczos quadrature (Ghorbani et al. 2019,
"An Investigation into Neural Net Optimization via Hessian Eigenvalue Density"; PyHessian's
"ESD"). Also the algebraic extremes lambda_min and lambda_max from one Lanczos run, which is
what Li et al. 2018 (section 6) map over a loss surface.

The loss is the mean over every counted target of all the batches (``training.objective``: a
label per sample, per pixel or per position), so a GPT or a segmentation net works as a
classifier does. BN runs in eval mode with the running statistics, as in Li et al.'s
``hess_vec_prod.py`` and in PyHessian (``model.eval()``): the Hessian is then that of one
deterministic function of the parameters. The model's modes, parameters and buffers are left as
they were: the parameters are substituted with ``torch.func.functional_call``, never written.

Random vectors come from a local ``torch.Generator`` on the CPU, so a seed gives the same numbers
on every call (and the same probes on any device).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from reslab.training import objective

Batches = Sequence[tuple[Tensor, Tensor]]
# (outputs, targets) -> the batch's mean loss; batches are then weighted by their sample counts,
# as PyHessian weights its per-batch products (``dataloader_hv_product``).
LossFn = Callable[[Tensor, Tensor], Tensor]
# Relative change of the Rayleigh quotient at which power iteration stops (PyHessian's default).
TOL = 1e-3


@dataclass(frozen=True)
class TraceEstimate:
    estimate: float  # mean of z^T H z over the probes
    se: float  # its standard error: std (ddof 1) / sqrt(probes); nan for one probe
    probes: int


@dataclass(frozen=True)
class Spectrum:
    """Stochastic Lanczos quadrature: per run, the Ritz values of the Lanczos tridiagonal matrix
    (nodes) and the squared first components of its eigenvectors (weights, summing to 1). The
    density is the average over runs of sum_i w_i delta(x - node_i)."""

    nodes: np.ndarray  # (runs, iters)
    weights: np.ndarray  # (runs, iters)

    def mean(self) -> float:
        """First moment of the density: an estimate of trace(H) / n."""
        return float(np.mean(np.sum(self.nodes * self.weights, axis=1)))


class Hessian:
    """Curvature of ``loss_fn`` (default: reslab's per-target cross-entropy) of ``model`` on
    ``batches`` at the model's current parameters (captured at construction).

    ``weights_only``: differentiate w.r.t. the tensors of two or more dimensions only (conv
    filters, linear weights), holding biases and BN parameters fixed, as Li et al.'s code does
    (``hess_vec_prod.min_max_hessian_eigs``: ``len(p.size()) > 1``). Otherwise every parameter,
    as PyHessian. ``requires_grad`` is ignored: a frozen copy (e.g. a ``FlatProbe``'s model) is
    measured the same way as the trained net.
    """

    def __init__(
        self, model: nn.Module, batches: Batches, loss_fn: LossFn | None = None, *,
        weights_only: bool = False,
    ) -> None:  # fmt: skip
        self.batches = list(batches)
        if not self.batches:
            raise ValueError("Hessian needs at least one (x, y) batch; got none")
        self.model, self.loss_fn = model, loss_fn
        named = list(model.named_parameters())
        chosen = [(n, p) for n, p in named if p.dim() > 1 or not weights_only]
        if not chosen:
            raise ValueError(f"{type(model).__name__} has no parameters to differentiate")
        self.names = [n for n, _ in chosen]
        self.shapes = [p.shape for _, p in chosen]
        differentiated = set(self.names)
        self.fixed = {n: p.detach() for n, p in named if n not in differentiated}
        self.base = torch.cat([p.detach().reshape(-1) for _, p in chosen]).clone()
        self.n = self.base.numel()
        self.hvps = 0  # Hessian-vector products computed so far (the cost of a measure)
        counts = [self._count(x, y) for x, y in self.batches]
        total = sum(counts)
        if total == 0:
            raise ValueError("the batches hold no counted targets (all ignored, or empty)")
        self.batch_weights = [c / total for c in counts]

    # -- products ------------------------------------------------------------------------------

    def hvp(self, v: Tensor | np.ndarray) -> np.ndarray:
        """H v, for a flat vector over the differentiated parameters (``names`` order)."""
        return self._hv(self._as_tensor(v)).cpu().numpy()

    def gradient(self) -> np.ndarray:
        """The loss gradient, flat (the unit an HVP's cost is compared with)."""
        total = torch.zeros_like(self.base)
        with _eval_mode(self.model), torch.enable_grad():
            for (x, y), w in zip(self.batches, self.batch_weights, strict=True):
                theta = self.base.clone().requires_grad_(True)
                (g,) = torch.autograd.grad(w * self._loss(theta, x, y), theta)
                total += g
        return total.cpu().numpy()

    # -- eigenvalues ---------------------------------------------------------------------------

    def eigenvalues(
        self, top_k: int = 1, iters: int = 100, tol: float = TOL, seed: int = 0
    ) -> list[float]:
        """The ``top_k`` eigenvalues of largest magnitude, by power iteration with deflation
        (PyHessian's ``eigenvalues``): each starts from a seeded Gaussian vector kept orthogonal
        to the eigenvectors already found, and stops when the Rayleigh quotient changes by less
        than ``tol`` relatively, or after ``iters`` products."""
        if top_k < 1 or top_k > self.n:
            raise ValueError(f"top_k={top_k} must be in 1..{self.n} (the parameter count)")
        generator = torch.Generator().manual_seed(seed)
        values: list[float] = []
        vectors: list[Tensor] = []
        for _ in range(top_k):
            value, vector = self._power(lambda v: self._hv(v), vectors, iters, tol, generator)
            values.append(value)
            vectors.append(vector)
        return values

    def min_eigenvalue(
        self, iters: int = 200, tol: float = TOL, seed: int = 0, shift: float | None = None
    ) -> float:
        """The smallest (algebraic) eigenvalue by power iteration on shift * I - H, whose
        dominant eigenvalue is shift - lambda_min when shift >= lambda_max. ``shift`` defaults to
        the largest-magnitude eigenvalue (``eigenvalues``), assumed positive as at a minimum.
        Converges slowly when lambda_min is close to the bulk; ``extremes`` is faster."""
        if shift is None:
            shift = self.eigenvalues(1, iters, tol, seed)[0]
        generator = torch.Generator().manual_seed(seed + 1)
        value, _ = self._power(lambda v: shift * v - self._hv(v), [], iters, tol, generator)
        return float(shift - value)

    def extremes(self, iters: int = 20, seed: int = 0) -> tuple[float, float]:
        """(lambda_min, lambda_max): the extreme Ritz values of ``iters`` Lanczos steps from a
        seeded Gaussian vector. Lanczos finds both ends of the spectrum at once, and faster than
        power iteration (Li et al.'s code calls ARPACK's Lanczos, ``eigsh``, twice for them).
        Ritz values lie inside the spectrum, so both are underestimated in magnitude."""
        generator = torch.Generator().manual_seed(seed)
        start = torch.randn(self.n, generator=generator, dtype=torch.float64)
        alphas, betas = self._lanczos(start, iters)
        ritz = np.linalg.eigvalsh(_tridiagonal(alphas, betas))
        return float(ritz[0]), float(ritz[-1])

    # -- trace and density ---------------------------------------------------------------------

    def trace(self, probes: int = 100, seed: int = 0) -> TraceEstimate:
        """Hutchinson's estimator: the mean of z^T H z over Rademacher vectors z (E[z z^T] = I)."""
        if probes < 1:
            raise ValueError(f"probes={probes} must be >= 1")
        generator = torch.Generator().manual_seed(seed)
        samples = []
        for _ in range(probes):
            z = self._to_device(_rademacher(self.n, generator))
            samples.append(float(torch.dot(z, self._hv(z))))
        values = np.array(samples)
        se = float(values.std(ddof=1) / np.sqrt(probes)) if probes > 1 else float("nan")
        return TraceEstimate(float(values.mean()), se, probes)

    def density(self, iters: int = 50, runs: int = 1, seed: int = 0) -> Spectrum:
        """Stochastic Lanczos quadrature (PyHessian's ``density``): ``runs`` Lanczos runs of
        ``iters`` steps, each from a normalised Rademacher vector. ``iters`` is capped at n."""
        if iters < 1 or runs < 1:
            raise ValueError(f"iters={iters} and runs={runs} must both be >= 1")
        generator = torch.Generator().manual_seed(seed)
        nodes, weights = [], []
        for _ in range(runs):
            alphas, betas = self._lanczos(_rademacher(self.n, generator), min(iters, self.n))
            values, vectors = np.linalg.eigh(_tridiagonal(alphas, betas))
            pad = iters - len(values)  # an exhausted Krylov space: pad with zero weight
            nodes.append(np.pad(values, (0, pad), constant_values=values[-1]))
            weights.append(np.pad(vectors[0] ** 2, (0, pad)))
        return Spectrum(np.array(nodes), np.array(weights))

    # -- internals -----------------------------------------------------------------------------

    def _count(self, x: Tensor, y: Tensor) -> int:
        # The default loss is a mean over counted targets, so batches weigh by them (an ignored
        # pixel or token counts in neither); a custom loss_fn weighs by samples, as PyHessian.
        if self.loss_fn is not None:
            return len(x)
        return int((y != objective.IGNORE_INDEX).sum())

    def _loss(self, theta: Tensor, x: Tensor, y: Tensor) -> Tensor:
        params = dict(self.fixed)
        for name, part, shape in zip(
            self.names, theta.split([s.numel() for s in self.shapes]), self.shapes, strict=True
        ):
            params[name] = part.view(shape)
        buffers = dict(self.model.named_buffers())
        out = functional_call(self.model, (params, buffers), (x,))
        if self.loss_fn is not None:
            return self.loss_fn(out, y)
        return objective.loss(out, y, dim=objective.class_dim(self.model))

    def _hv(self, v: Tensor) -> Tensor:
        # Double backward (Pearlmutter 1994, as PyHessian): d/dtheta (grad(theta) . v), batch by
        # batch so memory stays that of one batch's graph.
        self.hvps += 1
        total = torch.zeros_like(self.base)
        with _eval_mode(self.model), torch.enable_grad():
            for (x, y), w in zip(self.batches, self.batch_weights, strict=True):
                theta = self.base.clone().requires_grad_(True)
                (g,) = torch.autograd.grad(w * self._loss(theta, x, y), theta, create_graph=True)
                (hv,) = torch.autograd.grad(torch.dot(g, v), theta)
                total += hv
        return total

    def _as_tensor(self, v: Tensor | np.ndarray) -> Tensor:
        t = torch.as_tensor(v)
        if t.shape != (self.n,):
            raise ValueError(f"vector of shape {tuple(t.shape)}; expected ({self.n},)")
        return self._to_device(t)

    def _to_device(self, t: Tensor) -> Tensor:
        return t.to(device=self.base.device, dtype=self.base.dtype)

    def _power(
        self, apply: Callable[[Tensor], Tensor], found: list[Tensor], iters: int, tol: float,
        generator: torch.Generator,
    ) -> tuple[float, Tensor]:  # fmt: skip
        if iters < 1:
            raise ValueError(f"iters={iters} must be >= 1")
        v = _unit(_orthogonal(self._to_device(torch.randn(self.n, generator=generator)), found))
        value: float | None = None
        for _ in range(iters):
            hv = apply(v)
            current = float(torch.dot(hv, v))
            v = _unit(_orthogonal(hv, found))
            converged = value is not None and abs(current - value) < tol * (abs(value) + 1e-6)
            value = current
            if converged:
                break
        assert value is not None
        return value, v

    def _lanczos(self, start: Tensor, iters: int) -> tuple[np.ndarray, np.ndarray]:
        """The Lanczos tridiagonal matrix (diagonal, off-diagonal) with full
        reorthogonalisation: without it the basis loses orthogonality in floating point and
        spurious copies of the extreme eigenvalues appear (Ghorbani et al. 2019, section 2)."""
        if iters < 1:
            raise ValueError(f"iters={iters} must be >= 1")
        iters = min(iters, self.n)
        q = _unit(self._to_device(start))
        basis = [q]
        alphas: list[float] = []
        betas: list[float] = []
        for j in range(iters):
            w = self._hv(basis[-1])
            alpha = float(torch.dot(w, basis[-1]))
            alphas.append(alpha)
            if j == iters - 1:
                break
            w = _orthogonal(_orthogonal(w, basis), basis)  # twice is enough (Parlett)
            beta = float(w.norm())
            if beta <= 1e-10 * max(abs(alpha), 1.0):
                break  # an invariant subspace: the Ritz values are exact
            betas.append(beta)
            basis.append(w / beta)
        return np.array(alphas), np.array(betas)


def smooth_density(
    spectrum: Spectrum, grid: np.ndarray | None = None, sigma: float | None = None,
    points: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(grid, density): the SLQ spectrum convolved with a Gaussian of width ``sigma``, averaged
    over runs and normalised to integrate to 1 on the grid. Defaults follow PyHessian's
    ``density_generate``: sigma^2 = 1e-5 * max(1, spread), on a grid 1% of the spread (or 0.01)
    beyond the extreme nodes."""
    nodes, weights = spectrum.nodes, spectrum.weights
    lo, hi = float(nodes.min()), float(nodes.max())
    spread = hi - lo
    if grid is None:
        pad = max(0.01 * spread, 0.01)
        grid = np.linspace(lo - pad, hi + pad, points)
    if sigma is None:
        sigma = float(np.sqrt(1e-5 * max(1.0, spread)))
    if sigma <= 0:
        raise ValueError(f"sigma={sigma} must be > 0")
    diff = grid[None, None, :] - nodes[:, :, None]
    kernel = np.exp(-0.5 * (diff / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    density = np.mean(np.sum(weights[:, :, None] * kernel, axis=1), axis=0)
    area = np.trapezoid(density, grid)
    return grid, density / area if area > 0 else density


def time_products(hessian: Hessian, repeats: int = 3, seed: int = 0) -> tuple[float, float]:
    """(seconds per gradient, seconds per Hessian-vector product) on the same batches: the
    median of ``repeats`` timings of each, after one untimed warm-up of each."""
    v = _rademacher(hessian.n, torch.Generator().manual_seed(seed)).numpy()
    hessian.gradient()
    hessian.hvp(v)
    grad_s, hvp_s = [], []
    for _ in range(repeats):
        grad_s.append(_timed(hessian.gradient, hessian.base.device))
        hvp_s.append(_timed(lambda: hessian.hvp(v), hessian.base.device))
    return float(np.median(grad_s)), float(np.median(hvp_s))


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    fn()  # returns a host array: the device work is finished when it returns
    return time.perf_counter() - started


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    # Each module's own flag is restored, not one model.train(mode): a model may hold frozen
    # eval-mode parts inside a training one.
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


def _rademacher(n: int, generator: torch.Generator) -> Tensor:
    return torch.randint(0, 2, (n,), generator=generator).double() * 2 - 1


def _unit(v: Tensor) -> Tensor:
    return v / v.norm()


def _orthogonal(v: Tensor, basis: Sequence[Tensor]) -> Tensor:
    for b in basis:  # the basis is orthonormal: Gram-Schmidt, one vector at a time
        v = v - torch.dot(v, b) * b
    return v


def _tridiagonal(alphas: np.ndarray, betas: np.ndarray) -> np.ndarray:
    k = len(alphas)
    return np.diag(alphas) + np.diag(betas[: k - 1], 1) + np.diag(betas[: k - 1], -1)
