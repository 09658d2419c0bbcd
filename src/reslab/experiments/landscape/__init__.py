"""Loss-surface visualisation (Li et al. 2018): plain versus residual nets of one depth.

``run(config)`` trains both nets and measures their 2-D loss surfaces along filter-normalised
random directions and the 1-D interpolation from initial to trained weights; see
``experiment.py`` for the protocol, ``surface.py`` for resumable and torchrun-shared grids.
"""

from __future__ import annotations

from reslab.experiments.landscape.config import (
    KINDS,
    PRESETS,
    SHORTCUT,
    LandscapeConfig,
    check_config,
)
from reslab.experiments.landscape.directions import (
    filter_normalize,
    param_vector,
    random_direction,
)
from reslab.experiments.landscape.experiment import (
    LandscapeResult,
    NetRecord,
    landscape_one,
    run,
    subset_bundle,
    surface_batches,
)
from reslab.experiments.landscape.measures import SurfaceMeasures, measure_surface
from reslab.experiments.landscape.surface import (
    FlatProbe,
    GridValues,
    SurfaceStore,
    axis,
    evaluate_points,
    plane,
    surface_key,
)
from reslab.experiments.landscape.verdict import Verdict, judge

__all__ = [
    "KINDS",
    "PRESETS",
    "SHORTCUT",
    "FlatProbe",
    "GridValues",
    "LandscapeConfig",
    "LandscapeResult",
    "NetRecord",
    "SurfaceMeasures",
    "SurfaceStore",
    "Verdict",
    "axis",
    "check_config",
    "evaluate_points",
    "filter_normalize",
    "judge",
    "landscape_one",
    "measure_surface",
    "param_vector",
    "plane",
    "random_direction",
    "run",
    "subset_bundle",
    "surface_batches",
    "surface_key",
]
