"""``load_data(name)``: one entry point for every dataset reslab knows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import Subset

from reslab.data.bundle import DataBundle, DataError, Split, SplitLike, channel_stats
from reslab.data.mnist1d import load_mnist1d
from reslab.data.order import STREAM_VAL_SPLIT, derive_generator
from reslab.data.paths import data_root
from reslab.data.synthetic import load_synthetic
from reslab.data.text import SHAKESPEARE_NAMES, TEXT_PREFIX, load_text, shakespeare_path

IMAGEFOLDER = "imagefolder:"
DATASETS: tuple[str, ...] = (
    "mnist1d", "synthetic", "synthetic1d", "cifar10", "cifar100", "mnist", "fashion_mnist",
    "shapes", "oxford_pet", f"{IMAGEFOLDER}PATH", *SHAKESPEARE_NAMES, f"{TEXT_PREFIX}PATH",
)  # fmt: skip
_TORCHVISION = ("cifar10", "cifar100", "mnist", "fashion_mnist")


def load_data(
    name: str, *, data_dir: str | Path | None = None, download: bool = False, val_size: int = 0,
    seed: int = 0, block_size: int | None = None,
) -> DataBundle:  # fmt: skip
    """Load a dataset by name (see ``DATASETS``). ``data_dir`` (else $RESLAB_DATA_DIR, else the
    user data dir) is where torchvision datasets and ``tinyshakespeare/input.txt`` live;
    ``download`` lets torchvision fetch them. ``val_size > 0`` holds out that many train samples,
    chosen by ``seed``. ``block_size``: the context of a text dataset (data/text.py; None: 256)."""
    if isinstance(val_size, bool) or not isinstance(val_size, int) or val_size < 0:
        raise ValueError(f"val_size={val_size!r} must be an int >= 0")
    if _is_text(name):
        bundle = _load_text(name, data_dir, block_size)
    elif block_size is not None:
        raise ValueError(
            f"block_size={block_size} applies to text datasets only; accepted for "
            f"{', '.join(SHAKESPEARE_NAMES)}, {TEXT_PREFIX}PATH"
        )
    else:
        bundle = _load(name, data_dir, download)
    return carve_val(bundle, val_size, seed) if val_size else bundle


def _load(name: str, data_dir: str | Path | None, download: bool) -> DataBundle:
    # torchvision takes about a second to import: only the datasets that use it pay for it.
    if name.startswith(IMAGEFOLDER) and len(name) > len(IMAGEFOLDER):
        from reslab.data.imagefolder import load_imagefolder

        return load_imagefolder(name[len(IMAGEFOLDER) :])
    key = name.lower().replace("-", "_")
    if key == "mnist1d":
        return load_mnist1d()
    if key in ("synthetic", "synthetic1d"):
        return load_synthetic(dims=2 if key == "synthetic" else 1)
    if key == "shapes":
        from reslab.data.shapes import load_shapes

        return load_shapes()
    if key == "oxford_pet":
        from reslab.data.pets import load_oxford_pet

        return load_oxford_pet(data_root(data_dir), download)
    if key in _TORCHVISION:
        from reslab.data.vision import load_torchvision

        return load_torchvision(key, data_root(data_dir), download)
    raise DataError(f"dataset={name!r} is unknown; accepted: {', '.join(DATASETS)}")


def _is_text(name: str) -> bool:
    return name.startswith(TEXT_PREFIX) or name.lower().replace("-", "_") in SHAKESPEARE_NAMES


def _load_text(name: str, data_dir: str | Path | None, block_size: int | None) -> DataBundle:
    if name.startswith(TEXT_PREFIX):
        return load_text(name[len(TEXT_PREFIX) :], block_size=block_size)
    return load_text(shakespeare_path(data_dir), block_size=block_size, name="shakespeare_char")


def carve_val(bundle: DataBundle, val_size: int, seed: int) -> DataBundle:
    """Hold out ``val_size`` train samples (e.g. the paper's 45k/5k CIFAR split, He et al. 2015,
    4.2), chosen by ``seed``; both parts keep the original order. Train mean/std are re-measured
    on what remains, so validation data never informs the normalisation."""
    if bundle.val is not None:
        raise DataError(f"{bundle.name} already has a val split (a val/ folder); use val_size=0")
    n = len(bundle.train)  # type: ignore[arg-type]
    if val_size >= n:
        raise ValueError(f"val_size={val_size} must be smaller than the {n} train samples")
    perm = torch.randperm(n, generator=derive_generator(seed, STREAM_VAL_SPLIT))
    val_index, train_index = perm[:val_size].sort().values, perm[val_size:].sort().values
    train, val = _subset(bundle.train, train_index), _subset(bundle.train, val_index)
    if isinstance(train, Split) and bundle.dims != 0:  # token ids are never normalised
        mean, std = channel_stats(train.x)
        return replace(bundle, train=train, val=val, mean=mean, std=std)
    return replace(bundle, train=train, val=val)


def _subset(data: SplitLike, index: torch.Tensor) -> SplitLike:
    if isinstance(data, Split):
        return data.subset(index)
    return Subset(data, index.tolist())
