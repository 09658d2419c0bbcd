"""Datasets as tensors on the device and reproducible loaders (see docs/ARCHITECTURE.md, Data).

Knows nothing of models: a ``DataBundle`` states the input size, channels and classes a model
needs, and ``make_loader`` yields normalised float32 batches already on the training device.
"""

from __future__ import annotations

from reslab.data.augment import Augment
from reslab.data.bundle import DataBundle, DataError, Split
from reslab.data.load import DATASETS, load_data
from reslab.data.loader import Loader, make_loader

__all__ = [
    "DATASETS",
    "Augment",
    "DataBundle",
    "DataError",
    "Loader",
    "Split",
    "load_data",
    "make_loader",
]
