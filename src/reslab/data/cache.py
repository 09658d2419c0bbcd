"""Datasets loaded once per process: a worker runs many tasks on the same data."""

from __future__ import annotations

import functools
from dataclasses import replace

from reslab.data.bundle import DataBundle, Split
from reslab.data.load import load_data


@functools.lru_cache(maxsize=4)
def cached_data(name: str, data_dir: str | None) -> DataBundle:
    """``load_data(name, data_dir=data_dir)``, loaded once per process."""
    return load_data(name, data_dir=data_dir)


@functools.lru_cache(maxsize=2)
def cached_text(name: str, data_dir: str | None, block_size: int, val_windows: int) -> DataBundle:
    """A text dataset in windows of ``block_size``, loaded once per process; the held-out split
    cut to its first ``val_windows`` windows (0: all), so that a final measurement stays cheap."""
    bundle = load_data(name, data_dir=data_dir, block_size=block_size)
    test = bundle.test
    if val_windows and isinstance(test, Split) and len(test) > val_windows:
        test = Split(test.x[:val_windows], test.y[:val_windows])
    return replace(bundle, test=test)
