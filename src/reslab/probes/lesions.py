"""Deleting residual blocks at test time (Veit et al. 2016, 4.1 and 4.2).

A deleted block keeps only its shortcut path: ``y = act(shortcut(x))``, the block's own equation
with F(x) = 0. For a post-activation block with an identity shortcut, x is itself a ReLU output,
so act(x) = x: Veit et al.'s identity, exactly; a pre-activation block has no act. A deleted
downsampling block keeps its option-A/B shortcut (the only way to keep the shapes). A plain block
has no shortcut: deleted, it becomes the identity where its input and output shapes match; a
shape-changing plain block cannot be deleted.

A dense layer (Huang et al. 2017) combines by concatenation; deleted, it keeps its shortcut (the
earlier feature maps) and contributes zeros in place of its k new ones, so the shapes are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
from torch import nn

from reslab.blocks import ResidualBlock
from reslab.models.resnet import ResNet
from reslab.probes.surgery import forwards_replaced, without_branch, without_skip, zeroed


def lesionable(block: ResidualBlock) -> bool:
    return not (block.is_plain and block.changes_shape)


def same_shape_blocks(model: ResNet) -> list[int]:
    # The k-deletion draws exclude downsampling blocks, so that the residual net and its plain
    # twin draw from the same set (a plain downsampling block cannot be deleted).
    return [i for i, b in enumerate(model.blocks) if not b.changes_shape]


@contextmanager
def lesioned(model: ResNet, indices: Iterable[int]) -> Iterator[ResNet]:
    """Inside the block, the blocks at ``indices`` (positions in ``model.blocks``) are deleted
    (``surgery.without_branch``); nothing is replaced, so the state dict is untouched."""
    blocks = model.blocks
    chosen = sorted(set(indices))
    for i in chosen:
        _check_index(blocks, i)
    with forwards_replaced((blocks[i], without_branch(blocks[i])) for i in chosen):
        yield model


@contextmanager
def zeroed_blocks(model: nn.Module, indices: Iterable[int]) -> Iterator[nn.Module]:
    """Inside the block, the blocks at ``indices`` output zeros: unlike a deletion, which keeps
    the shortcut, nothing passes them. A plain net and a residual net then differ only in what
    the later blocks' shortcuts carry around the hole (Veit et al. 2016, 4.1, as a control)."""
    blocks = model.blocks
    chosen = sorted(set(indices))
    for i in chosen:
        if not 0 <= i < len(blocks):
            raise ValueError(f"block index {i} is out of range; accepted: 0..{len(blocks) - 1}")
    with forwards_replaced((blocks[i], zeroed(blocks[i])) for i in chosen):
        yield model


@contextmanager
def swapped(model: nn.Module, i: int, j: int) -> Iterator[nn.Module]:
    """Inside the block, blocks ``i`` and ``j`` trade places (Veit et al. 2016, 4.3: reordering
    blocks of one stage): block i computes what block j does and vice versa. Both must keep the
    shape, so the swap is defined."""
    blocks = model.blocks
    for k in (i, j):
        if not 0 <= k < len(blocks) or getattr(blocks[k], "changes_shape", False):
            ok = [n for n, b in enumerate(blocks) if not getattr(b, "changes_shape", False)]
            raise ValueError(f"block {k} cannot be swapped; accepted: {ok}")
    a, b = blocks[i], blocks[j]
    with forwards_replaced([(a, b.forward), (b, a.forward)]):
        yield model


@contextmanager
def skips_cut(model: nn.Module, indices: Iterable[int]) -> Iterator[nn.Module]:
    """Inside the block, the long skips at ``indices`` (positions in ``model.long_skips``, a
    U-Net's) carry zeros: the decoder gets only what came up the path, as in the net without that
    skip."""
    units = model.long_skips
    chosen = sorted(set(indices))
    for i in chosen:
        if not 0 <= i < len(units) or units[i].is_plain:
            ok = [j for j, u in enumerate(units) if not u.is_plain]
            raise ValueError(f"long skip {i} cannot be cut; accepted: {ok}")
    with forwards_replaced((units[i], without_skip(units[i])) for i in chosen):
        yield model


def random_lesions(candidates: list[int], k: int, draws: int, seed: int) -> list[list[int]]:
    """``draws`` sets of ``k`` distinct blocks from ``candidates``, a pure function of (seed, k)."""
    if not 0 <= k <= len(candidates):
        raise ValueError(f"k={k} is out of range; accepted: 0..{len(candidates)}")
    rng = np.random.default_rng([seed, k])
    return [sorted(int(i) for i in rng.choice(candidates, k, replace=False)) for _ in range(draws)]


def _check_index(blocks: list[ResidualBlock], i: int) -> None:
    if not 0 <= i < len(blocks):
        raise ValueError(f"block index {i} is out of range; accepted: 0..{len(blocks) - 1}")
    if not lesionable(blocks[i]):
        ok = [j for j, b in enumerate(blocks) if lesionable(b)]
        raise ValueError(
            f"block {i} is a plain block that changes shape and cannot be deleted; accepted: {ok}"
        )
