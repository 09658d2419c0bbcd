"""A segmentation set generated offline from a seed: thin structures (lines, crosses, rings, 1-2 px
wide) and thick ones (discs, blocks) on a dark background, with noise, and their exact masks.

Thin and thick shapes share one brightness range, so a pixel's class is a matter of shape, not of
intensity: the net must see the local geometry at full resolution, which is the spatial detail
U-Net's long skips are said to preserve (Ronneberger et al. 2015, Sec. 2). Classes: 0 background,
1 thin, 2 thick; a later shape covers an earlier one, in the image and in the mask alike.

Drawn with NumPy's ``Generator`` (PCG64 and its ziggurat normals are the same on every platform),
so the bytes do not depend on PyTorch's CPU kernels.
"""

from __future__ import annotations

import numpy as np
import torch

from reslab.data.bundle import DataBundle, Split, channel_stats

CLASSES = ["background", "thin", "thick"]
SIZE = 48
TRAIN_SIZE, TEST_SIZE = 768, 256
BACKGROUND = 40.0
BRIGHTNESS = (140.0, 230.0)  # per shape, uniform
NOISE_STD = 25.0
THIN_HALF_WIDTH = (0.5, 1.0)  # a line covers pixels within this distance of its centre line
_TRAIN_SEED, _TEST_SEED = 11, 12


def _segment_distance(yy: np.ndarray, xx: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = b - a
    t = np.clip(((yy - a[0]) * d[0] + (xx - a[1]) * d[1]) / max(float(d @ d), 1e-9), 0, 1)
    return np.hypot(yy - (a[0] + t * d[0]), xx - (a[1] + t * d[1]))


def _thin(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, size: int) -> np.ndarray:
    kind = rng.integers(3)
    half = rng.uniform(*THIN_HALF_WIDTH)
    centre = rng.uniform(0.15 * size, 0.85 * size, 2)
    if kind == 2:  # ring
        radius = rng.uniform(0.1 * size, 0.25 * size)
        return np.abs(np.hypot(yy - centre[0], xx - centre[1]) - radius) <= half
    angle = rng.uniform(0, np.pi)
    length = rng.uniform(0.25 * size, 0.6 * size) / 2
    arms = [angle] if kind == 0 else [angle, angle + np.pi / 2]  # a line, or a cross
    mask = np.zeros_like(yy, dtype=bool)
    for a in arms:
        step = length * np.array([np.sin(a), np.cos(a)])
        mask |= _segment_distance(yy, xx, centre - step, centre + step) <= half
    return mask


def _thick(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, size: int) -> np.ndarray:
    centre = rng.uniform(0.15 * size, 0.85 * size, 2)
    if rng.integers(2) == 0:  # disc
        return np.hypot(yy - centre[0], xx - centre[1]) <= rng.uniform(0.07, 0.14) * size
    half = rng.uniform(0.06, 0.13, 2) * size  # block
    return (np.abs(yy - centre[0]) <= half[0]) & (np.abs(xx - centre[1]) <= half[1])


def render(n: int, seed: int, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noiseless float images (n, size, size) and their int64 masks: the images before
    noise, which the masks describe exactly (a pixel is brighter than the background iff its
    class is not 0)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    images = np.full((n, size, size), BACKGROUND)
    masks = np.zeros((n, size, size), dtype=np.int64)
    for i in range(n):
        shapes = [(1, _thin)] * int(rng.integers(2, 5)) + [(2, _thick)] * int(rng.integers(1, 3))
        for j in rng.permutation(len(shapes)):  # the drawing order decides who covers whom
            label, draw = shapes[j]
            covered = draw(rng, yy, xx, size)
            images[i][covered] = rng.uniform(*BRIGHTNESS)
            masks[i][covered] = label
    return images, masks


def _split(n: int, seed: int, size: int) -> Split:
    images, masks = render(n, seed, size)
    noise = np.random.default_rng([seed, 1]).normal(0.0, NOISE_STD, images.shape)
    pixels = np.clip(np.round(images + noise), 0, 255).astype(np.uint8)
    return Split(torch.from_numpy(pixels[:, None]), torch.from_numpy(masks))


def load_shapes(
    size: int = SIZE, train_size: int = TRAIN_SIZE, test_size: int = TEST_SIZE
) -> DataBundle:
    train, test = _split(train_size, _TRAIN_SEED, size), _split(test_size, _TEST_SEED, size)
    mean, std = channel_stats(train.x)
    return DataBundle(
        name="shapes", train=train, test=test, val=None, num_classes=len(CLASSES), in_channels=1,
        dims=2, input_size=(1, size, size), mean=mean, std=std, source="generated",
        classes=list(CLASSES),
    )  # fmt: skip
