"""Batch augmentation on the device: random crop (zero padding + translation) and flip, vectorised.

Following airbench, images stay uint8 on the training device and each batch is augmented there
with one zero-filled buffer and one indexing copy: no per-sample Python, no DataLoader workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class Augment:
    """He et al. 2015, 4.2: pad 4 pixels on each side, take a random 32x32 crop, flip horizontally
    with probability 1/2; then normalise per channel.

    The paper subtracts the per-pixel mean; we use the per-channel mean/std of the train split, as
    most reproductions (and torchvision's recipes) do. Padding is zeros *before* normalisation
    (black pixels, as torchvision's ``RandomCrop(32, padding=4)``).
    """

    crop_padding: int = 4  # 0 disables
    flip: bool = True
    normalize: bool = True  # per-channel mean/std

    def __post_init__(self) -> None:
        if isinstance(self.crop_padding, bool) or not isinstance(self.crop_padding, int):
            raise ValueError(f"crop_padding={self.crop_padding!r} must be an int >= 0")
        if self.crop_padding < 0:
            raise ValueError(f"crop_padding={self.crop_padding} must be >= 0 (0 disables the crop)")

    @property
    def moves_pixels(self) -> bool:
        return self.crop_padding > 0 or self.flip


@dataclass
class AugmentDraw:
    """The random choices for n samples: crop offsets in [0, 2*padding] per spatial axis (offset
    ``padding`` is the identity) and a flip flag per sample."""

    offsets: torch.Tensor  # int64 (n, dims)
    flips: torch.Tensor  # bool (n,)

    def to(self, device: torch.device) -> AugmentDraw:
        return AugmentDraw(self.offsets.to(device), self.flips.to(device))

    def __getitem__(self, index: slice | torch.Tensor) -> AugmentDraw:
        return AugmentDraw(self.offsets[index], self.flips[index])


def draw_augment(n: int, augment: Augment, dims: int, generator: torch.Generator) -> AugmentDraw:
    """Drawn on the CPU generator, so a run augments identically on CPU and GPU."""
    span = 2 * augment.crop_padding + 1
    offsets = torch.randint(0, span, (n, dims), generator=generator)
    if not augment.flip:
        return AugmentDraw(offsets, torch.zeros(n, dtype=torch.bool))
    return AugmentDraw(offsets, torch.rand(n, generator=generator) < 0.5)


def crop_and_flip(x: torch.Tensor, draw: AugmentDraw, padding: int, flip: bool) -> torch.Tensor:
    """Flip the last axis (width, or length for sequences) where ``flips`` is set, zero-pad every
    spatial axis by ``padding``, and crop back to the input size at ``offsets``."""
    if padding == 0 and not flip:
        return x
    n, spatial = len(x), x.shape[2:]
    # Both orientations side by side in one zeroed buffer: the flip then costs a batch index
    # instead of a masked select (1.5x faster on CPU, and no host sync on a GPU).
    padded = x.new_zeros((2 * n if flip else n, x.shape[1], *(s + 2 * padding for s in spatial)))
    interior = (..., *(slice(padding, padding + s) for s in spatial))
    padded[:n][interior] = x
    source = torch.arange(n, device=x.device)
    if flip:
        padded[n:][interior] = x.flip(-1)
        source = source + n * draw.flips.long()
    return _crop(padded, source, draw.offsets, spatial)


def _crop(
    padded: torch.Tensor, source: torch.Tensor, offsets: torch.Tensor, size: torch.Size
) -> torch.Tensor:
    """Every crop of every image as a strided view (no copy), then one advanced-indexing copy
    picks each output's image and crop: windows[source[b], :, *offsets[b]] -> (B, C, *size)."""
    windows = padded
    for axis, length in enumerate(size):
        windows = windows.unfold(2 + axis, length, 1)
    return windows[(source, slice(None), *offsets.unbind(1))]


def normalizer(
    mean: Sequence[float], std: Sequence[float], *, from_uint8: bool, normalize: bool,
    dims: int, device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(scale, shift) with ``x_float = x * scale + shift``: uint8 -> x/255, then (x - mean)/std,
    folded into one multiply-add."""
    unit = 1.0 / 255.0 if from_uint8 else 1.0
    m = torch.tensor(mean, dtype=torch.float64)
    s = torch.tensor(std, dtype=torch.float64)
    if not normalize:
        m, s = torch.zeros_like(m), torch.ones_like(s)
    if (s <= 0).any():
        raise ValueError(f"std={tuple(std)} must be > 0 in every channel to normalise")
    view = (1, -1) + (1,) * dims
    scale = (unit / s).float().view(view).to(device)
    shift = (-m / s).float().view(view).to(device)
    return scale, shift


def to_float(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    # copy=True: a float32 batch may share memory with the dataset; one allocation either way.
    return x.to(torch.float32, copy=True).mul_(scale).add_(shift)
