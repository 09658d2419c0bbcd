"""PCA of a training path (Li et al. 2018, section 7): a path lying in a known plane gives that
plane, its explained variance and its exact coordinates; noise off the plane; one sign
convention; the grid that holds the path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reslab.models import cifar_resnet
from reslab.probes.trajectory import path_axes, path_pca, project, weight_mask

P = 300
# Coordinates along (u, v): centred, uncorrelated (sum a*b = 0) and var(a) > var(b), so the
# principal axes are u and v themselves; the last row is the final point.
A = np.array([4.0, 2.0, 0.0, -2.0, -4.0, 0.0])
B = np.array([1.0, -1.0, 0.0, -1.0, 1.0, 0.0])


def plane_path(noise: float = 0.0, sign: float = 1.0):
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(P, 2, generator=g, dtype=torch.float64))
    u, v = q[:, 0], q[:, 1]
    final = torch.randn(P, generator=g, dtype=torch.float64)
    path = final + sign * (torch.tensor(A)[:, None] * u + torch.tensor(B)[:, None] * v)
    if noise:
        path[:-1] += noise * torch.randn(len(A) - 1, P, generator=g, dtype=torch.float64)
    return path, final, u, v


def test_a_path_in_a_plane_gives_that_plane_its_variance_and_exact_coordinates() -> None:
    path, final, u, v = plane_path()
    pca = path_pca(path, final)
    d1, d2 = pca.directions
    # The first point (4, 1) has positive coordinates, so the signs are those of u and v.
    torch.testing.assert_close(d1, u, rtol=0, atol=1e-12)
    torch.testing.assert_close(d2, v, rtol=0, atol=1e-12)
    # Li et al.'s M leaves the final row out: variances 40/5 and 4/5 of the five other rows.
    assert pca.explained_variance_ratio == pytest.approx((40 / 44, 4 / 44), abs=1e-12)
    assert sum(pca.explained_variance_ratio) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(pca.coords, np.stack([A, B], axis=1), rtol=0, atol=1e-12)
    assert pca.coords[-1].tolist() == [0.0, 0.0]  # the final weights at the origin, exactly
    assert float(d1 @ d2) == pytest.approx(0.0, abs=1e-12)


def test_noise_off_the_plane_leaves_the_plane_and_lowers_the_explained_variance() -> None:
    path, final, u, v = plane_path(noise=1e-2)
    pca = path_pca(path, final)
    d1, d2 = pca.directions
    assert float(d1 @ u) > 0.999 and float(d2 @ v) > 0.99
    assert 0.97 < sum(pca.explained_variance_ratio) < 1.0
    np.testing.assert_allclose(pca.coords, np.stack([A, B], axis=1), atol=0.05)
    torch.testing.assert_close(pca.directions.norm(dim=1), torch.ones(2, dtype=torch.float64))


def test_sign_convention_puts_the_start_at_positive_coordinates() -> None:
    path, final, *_ = plane_path()
    mirrored, *_ = plane_path(sign=-1.0)  # the same path reflected through the final point
    a, b = path_pca(path, final), path_pca(mirrored, final)
    torch.testing.assert_close(b.directions, -a.directions, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.coords, a.coords, rtol=0, atol=1e-12)
    assert (a.coords[0] > 0).all()
    again = path_pca(path.clone(), final.clone())
    assert torch.equal(again.directions, a.directions)  # deterministic


def test_float32_path_keeps_its_dtype_and_projects_in_float64() -> None:
    path, final, *_ = plane_path()
    pca = path_pca(path.float(), final.float())
    assert pca.directions.dtype == torch.float32 and pca.coords.dtype == np.float64
    np.testing.assert_allclose(pca.coords, np.stack([A, B], axis=1), atol=1e-5)


def test_masked_entries_are_left_out_of_directions_and_coordinates() -> None:
    model = cifar_resnet(8, dims=1, in_channels=1, num_classes=10)
    mask = weight_mask(model)
    biasbn = sum(p.numel() for p in model.parameters() if p.dim() <= 1)
    assert int((~mask).sum()) == biasbn > 0 and len(mask) == sum(
        p.numel() for p in model.parameters()
    )
    g = torch.Generator().manual_seed(1)
    final = torch.randn(len(mask), generator=g)
    path = final + torch.randn(5, len(mask), generator=g)
    path = torch.cat([path, final[None]])
    pca = path_pca(path, final, mask)
    assert torch.count_nonzero(pca.directions[:, ~mask]) == 0
    # Moving masked entries of a checkpoint does not move its coordinates.
    moved = path.clone()
    moved[:, ~mask] += 5.0
    np.testing.assert_allclose(project(moved, final, pca.directions, mask), pca.coords, atol=1e-5)


def test_too_short_a_path_is_refused() -> None:
    path, final, *_ = plane_path()
    with pytest.raises(ValueError, match="2 checkpoint"):
        path_pca(torch.stack([path[0], path[1], final]), final)
    with pytest.raises(ValueError, match=r"need \(n, P\)"):
        path_pca(path, final[:-1])


def test_path_axes_hold_the_path_with_the_origin_on_the_grid() -> None:
    coords = np.array([[3.2, 0.7], [1.5, -0.4], [0.4, 0.1], [0.0, 0.0]])
    xs, ys = path_axes(coords, 11)
    for values, ax in ((coords[:, 0], xs), (coords[:, 1], ys)):
        assert len(ax) == 11 and 0.0 in ax
        extent = values.max() - min(values.min(), 0.0)
        assert ax[0] <= min(values.min(), 0) - 0.15 * extent
        assert ax[-1] >= values.max() + 0.15 * extent
        assert np.allclose(np.diff(ax), ax[1] - ax[0])
    with pytest.raises(ValueError, match="resolution=10"):
        path_axes(coords, 10)
