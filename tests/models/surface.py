"""The loss-landscape probe on any model: the check the model tests share."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from reslab.probes.landscape.directions import param_vector, random_direction
from reslab.probes.landscape.surface import FlatProbe, axis, evaluate_points, plane
from reslab.training import evaluate


def assert_surface_centre_is_the_nets_loss(net: nn.Module, batches: list) -> None:
    """A 3x3 filter-normalised surface around ``net``: at (0, 0) it is the net's own loss on
    ``batches``, and moving away changes it."""
    dirs = [random_direction(net, 0), random_direction(net, 1)]
    coords = plane(axis(-1, 1, 3), axis(-1, 1, 3))
    grid = evaluate_points(FlatProbe(net), batches, param_vector(net), dirs, coords)
    centre = int(np.flatnonzero((coords == 0).all(axis=1))[0])
    assert grid.loss[centre] == pytest.approx(evaluate(net, batches)["loss"], rel=1e-5)
    assert np.isfinite(grid.loss).all() and len(set(np.round(grid.loss, 6))) > 1
