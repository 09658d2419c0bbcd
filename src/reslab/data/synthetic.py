"""Tiny deterministic datasets for fast tests: each class is a fixed smooth pattern plus noise, so a
small model fits them in a few steps. The same bytes come back wherever PyTorch runs the same CPU
kernels, not on every machine: float32 ``torch.randn`` has one kernel per instruction set, and
ATEN_CPU_CAPABILITY=default and =avx2 draw different noise from the same seed (measured)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reslab.data.bundle import DataBundle, Split, channel_stats

NUM_CLASSES = 10
TRAIN_SIZE, TEST_SIZE = 512, 256
IMAGE_SHAPE = (3, 32, 32)
SEQUENCE_SHAPE = (1, 40)
_TEMPLATE_SEED, _TRAIN_SEED, _TEST_SEED = 0, 1, 2


def _templates(shape: tuple[int, ...], coarse: int, mode: str) -> torch.Tensor:
    """One pattern per class in [-1, 1]: random values on a coarse grid, upsampled so that
    neighbouring pixels agree (a convolution can see the pattern locally)."""
    gen = torch.Generator().manual_seed(_TEMPLATE_SEED)
    spatial = shape[1:]
    grid = torch.rand((NUM_CLASSES, shape[0], *(coarse,) * len(spatial)), generator=gen) * 2 - 1
    return F.interpolate(grid, size=spatial, mode=mode)


def _labels(n: int, gen: torch.Generator) -> torch.Tensor:
    # Balanced classes in a shuffled order.
    return (torch.arange(n) % NUM_CLASSES)[torch.randperm(n, generator=gen)]


def _images(n: int, seed: int) -> Split:
    gen = torch.Generator().manual_seed(seed)
    y = _labels(n, gen)
    templates = _templates(IMAGE_SHAPE, coarse=4, mode="nearest")
    noise = torch.randn((n, *IMAGE_SHAPE), generator=gen) * 0.35
    pixels = 127.5 + 80.0 * (templates[y] + noise)
    return Split(pixels.round().clamp(0, 255).to(torch.uint8), y)


def _sequences(n: int, seed: int) -> Split:
    gen = torch.Generator().manual_seed(seed)
    y = _labels(n, gen)
    templates = _templates(SEQUENCE_SHAPE, coarse=8, mode="linear")
    noise = torch.randn((n, *SEQUENCE_SHAPE), generator=gen) * 0.35
    return Split((templates[y] + noise).float(), y)


def load_synthetic(dims: int) -> DataBundle:
    make = _images if dims == 2 else _sequences
    train, test = make(TRAIN_SIZE, _TRAIN_SEED), make(TEST_SIZE, _TEST_SEED)
    mean, std = channel_stats(train.x)
    shape = IMAGE_SHAPE if dims == 2 else SEQUENCE_SHAPE
    return DataBundle(
        name="synthetic" if dims == 2 else "synthetic1d", train=train, test=test, val=None,
        num_classes=NUM_CLASSES, in_channels=shape[0], dims=dims, input_size=shape,
        mean=mean, std=std, source="generated", classes=[f"pattern{i}" for i in range(NUM_CLASSES)],
    )  # fmt: skip
