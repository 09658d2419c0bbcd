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

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from reslab.blocks import ResidualBlock
from reslab.blocks.dense import DenseLayer
from reslab.models.resnet import ResNet


def lesionable(block: ResidualBlock) -> bool:
    return not (block.is_plain and block.changes_shape)


def same_shape_blocks(model: ResNet) -> list[int]:
    # The k-deletion draws exclude downsampling blocks, so that the residual net and its plain
    # twin draw from the same set (a plain downsampling block cannot be deleted).
    return [i for i, b in enumerate(model.blocks) if not b.changes_shape]


@contextmanager
def lesioned(model: ResNet, indices: Iterable[int]) -> Iterator[ResNet]:
    """Inside the block, the blocks at ``indices`` (positions in ``model.blocks``) are deleted.

    Only each block's ``forward`` is shadowed by an instance attribute: no module is replaced, so
    the state dict is untouched, and leaving the block restores the class method.
    """
    blocks = model.blocks
    chosen = sorted(set(indices))
    for i in chosen:
        _check_index(blocks, i)
    saved = {i: blocks[i].__dict__.get("forward") for i in chosen}
    try:
        for i in chosen:
            blocks[i].forward = _without_branch(blocks[i])  # type: ignore[method-assign]
        yield model
    finally:
        for i, previous in saved.items():
            if previous is None:
                blocks[i].__dict__.pop("forward", None)
            else:
                blocks[i].forward = previous  # type: ignore[method-assign]


@contextmanager
def skips_cut(model: nn.Module, indices: Iterable[int]) -> Iterator[nn.Module]:
    """Inside the block, the long skips at ``indices`` (positions in ``model.long_skips``, a
    U-Net's) carry zeros: the decoder gets only what came up the path, as in the net without that
    skip. Shadowed as ``lesioned`` does, so nothing is replaced."""
    units = model.long_skips
    chosen = sorted(set(indices))
    for i in chosen:
        if not 0 <= i < len(units) or units[i].is_plain:
            ok = [j for j, u in enumerate(units) if not u.is_plain]
            raise ValueError(f"long skip {i} cannot be cut; accepted: {ok}")
    try:
        for i in chosen:
            units[i].forward = _without_skip(units[i])  # type: ignore[method-assign]
        yield model
    finally:
        for i in chosen:
            units[i].__dict__.pop("forward", None)


def _without_skip(unit: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    def forward(e: torch.Tensor) -> torch.Tensor:
        return unit.act(unit.combine(torch.zeros_like(unit.skip(e)), unit.path(e)))

    return forward


def random_lesions(candidates: list[int], k: int, draws: int, seed: int) -> list[list[int]]:
    """``draws`` sets of ``k`` distinct blocks from ``candidates``, a pure function of (seed, k)."""
    if not 0 <= k <= len(candidates):
        raise ValueError(f"k={k} is out of range; accepted: 0..{len(candidates)}")
    rng = np.random.default_rng([seed, k])
    return [sorted(int(i) for i in rng.choice(candidates, k, replace=False)) for _ in range(draws)]


def _without_branch(block: ResidualBlock) -> Callable[[torch.Tensor], torch.Tensor]:
    if isinstance(block, DenseLayer):
        return block.forward_without_branch  # type: ignore[return-value]
    if block.is_plain:
        return lambda x: x

    def forward(x: torch.Tensor) -> torch.Tensor:
        out = block.shortcut(x)
        # The block's ReLU is in-place; an identity shortcut hands back x itself, which the
        # caller still owns, so the activation must work on a copy.
        return block.act(out.clone() if out is x else out)

    return forward


def _check_index(blocks: list[ResidualBlock], i: int) -> None:
    if not 0 <= i < len(blocks):
        raise ValueError(f"block index {i} is out of range; accepted: 0..{len(blocks) - 1}")
    if not lesionable(blocks[i]):
        ok = [j for j, b in enumerate(blocks) if lesionable(b)]
        raise ValueError(
            f"block {i} is a plain block that changes shape and cannot be deleted; accepted: {ok}"
        )
