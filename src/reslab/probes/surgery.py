"""Block surgery: a model whose chosen units compute something else for the length of a block.

Lesions (Veit et al. 2016), single paths through the unrolled net (Veit et al. 2016, section 5)
and backward through the shortcuts alone (He et al. 2016, eq. 5) all change what some blocks
compute and nothing else. Each is a ``forward`` shadowed by an instance attribute: no module is
replaced or added, so the state dict, hooks and parameters are untouched, and leaving the block
restores whatever was there before (also a forward shadowed by an enclosing block).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from reslab.blocks import ResidualBlock
from reslab.blocks.dense import DenseLayer

Forward = Callable[[torch.Tensor], torch.Tensor]


@contextmanager
def forwards_replaced(replacements: Iterable[tuple[nn.Module, Forward]]) -> Iterator[None]:
    """Inside the block each module computes its paired function instead of its ``forward``."""
    pairs = list(replacements)
    saved = [module.__dict__.get("forward") for module, _ in pairs]
    try:
        for module, forward in pairs:
            module.forward = forward  # type: ignore[method-assign]
        yield
    finally:
        for (module, _), previous in zip(pairs, saved, strict=True):
            if previous is None:
                module.__dict__.pop("forward", None)
            else:
                module.forward = previous  # type: ignore[method-assign]


def without_branch(block: ResidualBlock) -> Forward:
    """The block deleted: y = act(shortcut(x)), its own equation with F(x) = 0. A plain block
    becomes the identity; a dense layer concatenates zeros in place of its k new maps."""
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


def zeroed(block: nn.Module) -> Forward:
    """The unit's whole output zeroed: nothing of its input gets past it, shortcut or not."""
    computes = block.forward  # what it computes now (itself, or an enclosing surgery)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(computes(x))

    return forward


def without_skip(unit: nn.Module) -> Forward:
    """A U-Net long skip carrying zeros: the decoder gets only what came up the path."""

    def forward(e: torch.Tensor) -> torch.Tensor:
        return unit.act(unit.combine(torch.zeros_like(unit.skip(e)), unit.path(e)))

    return forward


def backward_through(block: ResidualBlock, branch: bool) -> Forward:
    """The same values forward; backward only through the branch (``branch``) or only through
    the shortcut. The part left out of the backward pass is computed without a graph: the same
    values, detached, at a fraction of the cost (an identity shortcut hands back x itself, hence
    the detach as well)."""

    # reslab's blocks drop their branch at random in training (stochastic depth); a user's block
    # need not have that layer.
    drop_path = getattr(block, "drop_path", nn.Identity())

    def forward(x: torch.Tensor) -> torch.Tensor:
        if branch:
            with torch.no_grad():
                shortcut = block.shortcut(x).detach()
            return block.act(shortcut + drop_path(block.branch(x)))
        with torch.no_grad():
            residual = drop_path(block.branch(x)).detach()
        return block.act(block.shortcut(x) + residual)

    return forward
