"""The optimiser's path in the plane of its two principal directions (Li et al. 2018, section 7).

Random directions cannot show a training trajectory: in millions of dimensions two random
vectors are nearly orthogonal to any path, so its projection is a tangle near the origin.
Li et al. instead stack the checkpoints' differences from the final weights,
M = [theta_0 - theta_n; ...; theta_(n-1) - theta_n], and take the two leading PCA components
of M as the plotting directions; their explained variance says how much of the path the plane
holds.

Scaling. Li et al.'s code (``projection.setup_PCA_directions`` and ``project_trajectory``) does
NOT filter-normalise these directions: they are unit vectors of parameter space (sklearn's
``components_``), a point of the path is placed at its dot products with them, and the loss
surface around theta_n is evaluated at theta_n + a d1 + b d2 on a grid in the same units. We do
the same, so path and surface share one coordinate system (Euclidean distance in parameter
space) and the path is drawn where it really lies on the surface; the axes then are not in
the filter-normalised units of the random-direction plots, and the two kinds of plots must not
be compared by their scales. As with ``ignore='biasbn'`` there, entries of biases and BN
parameters can be masked out of the differences (``weight_mask``), so the directions, like the
random ones, move only weights whose scale filter normalisation is about.

PCA centres the rows (sklearn's ``PCA.fit``, which their code calls); the coordinates are the
uncentred projections of theta_i - theta_n, so the final point lies at (0, 0) exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from reslab.probes.landscape.surface import axis

# Columns per chunk when forming M M^T: the n x P differences are never held in float64 whole
# (Li et al.'s ResNet-56 path, 300 epochs x 0.85M parameters, would take 2 GB).
CHUNK = 1 << 16


@dataclass(frozen=True)
class PathPCA:
    directions: torch.Tensor  # (2, P), orthonormal rows, dtype and device of the path
    explained_variance_ratio: tuple[float, float]  # of all the centred differences' variance
    coords: np.ndarray  # (n, 2): (theta_i - theta_final) . d_k, float64; the final at (0, 0)


def weight_mask(model: nn.Module) -> torch.Tensor:
    """True on the flat-vector entries of tensors with more than one dimension (filters and
    linear rows), False on biases and BN parameters: Li et al.'s ``ignore='biasbn'``."""
    return torch.cat(
        [torch.full((p.numel(),), p.dim() > 1, dtype=torch.bool) for p in model.parameters()]
    ).to(next(model.parameters()).device)


def path_pca(
    path: torch.Tensor, final: torch.Tensor, mask: torch.Tensor | None = None
) -> PathPCA:
    """PCA of the differences ``path[i] - final`` (rows of ``path``; any row equal to ``final``,
    such as the final checkpoint itself, adds nothing and is left out of the fit, as in Li et
    al.'s M). Needs at least three other rows: two components of centred rows need rank 2.

    Sign convention: each direction points so that the first row of ``path`` (the initial
    weights) has a positive coordinate; where that coordinate is 0, so that the direction's
    entry of largest magnitude is positive. The result does not depend on the sign or order in
    which an SVD would return them.
    """
    if path.dim() != 2 or final.shape != path.shape[1:]:
        raise ValueError(
            f"path of shape {tuple(path.shape)} and final of shape {tuple(final.shape)}: "
            "need (n, P) and (P,)"
        )
    keep = mask if mask is not None else torch.ones_like(final, dtype=torch.bool)
    rows = [i for i in range(len(path)) if not torch.equal(path[i], final)]
    if len(rows) < 3:
        raise ValueError(
            f"a path of {len(rows)} checkpoint(s) apart from the final weights: PCA in two "
            "directions needs at least 3"
        )
    diffs = _Diffs(path[rows], final, keep)
    gram = diffs.centred_gram()  # (m, m) float64: M_c M_c^T, same nonzero spectrum as M_c^T M_c
    eigvals, eigvecs = torch.linalg.eigh(gram)  # ascending
    eigvals = eigvals.clamp(min=0.0)
    total = float(eigvals.sum())
    if not total > 0:
        raise ValueError("the path's checkpoints do not differ: no direction to find")
    top = [len(eigvals) - 1, len(eigvals) - 2]
    dirs = []
    for k in top:
        # v = M_c^T u / ||M_c^T u||: the principal axis in parameter space.
        v = diffs.centred_transpose_times(eigvecs[:, k])
        norm = torch.linalg.vector_norm(v)
        dirs.append(v / norm if norm > 0 else v)
    directions = torch.stack(dirs)  # float64 on the CPU
    directions = _orient(directions, (path[0] - final).double().cpu() * keep.cpu())
    ratio = (float(eigvals[top[0]]) / total, float(eigvals[top[1]]) / total)
    coords = project(path, final, directions, keep)
    return PathPCA(directions.to(path.dtype).to(path.device), ratio, coords)


def project(
    path: torch.Tensor,
    final: torch.Tensor,
    directions: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> np.ndarray:
    """(n, 2) coordinates (path[i] - final) . d_k in float64 (Li et al.'s ``project_2D``, 'cos'
    method: the directions are orthonormal, so these are also the least-squares coordinates)."""
    dirs = directions.double().cpu()
    keep = (mask if mask is not None else torch.ones_like(final, dtype=torch.bool)).cpu()
    out = np.zeros((len(path), len(dirs)))
    for i in range(len(path)):
        diff = (path[i].double().cpu() - final.double().cpu()) * keep
        out[i] = (dirs @ diff).numpy()
    return out


def path_axes(coords: np.ndarray, resolution: int, margin: float = 0.15) -> tuple[
    np.ndarray, np.ndarray
]:  # fmt: skip
    """Grid axes that hold the whole path with ``margin`` (a fraction of its extent) to spare
    on each side, with 0 exactly a grid point of each (the final weights at the origin). Li et
    al. likewise choose the plotting range of a trajectory plot from the path's extent."""
    return (
        _axis_around(coords[:, 0], resolution, margin),
        _axis_around(coords[:, 1], resolution, margin),
    )


def _axis_around(values: np.ndarray, n: int, margin: float) -> np.ndarray:
    if n < 3 or n % 2 == 0:
        raise ValueError(f"resolution={n} must be odd and >= 3")
    lo, hi = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    extent = hi - lo
    if not extent > 0:
        lo, hi, extent = -1.0, 1.0, 2.0
    lo, hi = lo - margin * extent, hi + margin * extent
    # n - 2 cells span [lo, hi]: snapping lo down to a multiple of the step keeps 0 on the grid
    # and the one spare cell still reaches hi.
    step = (hi - lo) / (n - 2)
    start = np.floor(lo / step) * step
    return axis(start, start + (n - 1) * step, n, exact=(0.0,))


class _Diffs:
    """The rows (path[i] - final) * mask, centred, read in column chunks."""

    def __init__(self, path: torch.Tensor, final: torch.Tensor, mask: torch.Tensor) -> None:
        self.path, self.final, self.mask = path, final, mask

    def chunks(self):
        p = self.final.numel()
        for start in range(0, p, CHUNK):
            stop = min(start + CHUNK, p)
            block = (self.path[:, start:stop] - self.final[start:stop]).double().cpu()
            block = block * self.mask[start:stop].cpu()
            yield start, stop, block - block.mean(dim=0, keepdim=True)

    def centred_gram(self) -> torch.Tensor:
        m = len(self.path)
        gram = torch.zeros((m, m), dtype=torch.float64)
        for _, _, block in self.chunks():
            gram += block @ block.T
        return gram

    def centred_transpose_times(self, u: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(self.final.numel(), dtype=torch.float64)
        for start, stop, block in self.chunks():
            out[start:stop] = u @ block
        return out


def _orient(directions: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    out = []
    for d in directions:
        along = float(d @ first)
        if along == 0.0:
            along = float(d[int(torch.argmax(d.abs()))])
        out.append(-d if along < 0 else d)
    return torch.stack(out)
