"""Residual blocks by name; every one is a ResidualBlock with a ``branch`` and a ``shortcut``."""

from __future__ import annotations

from reslab.blocks.base import ResidualBlock
from reslab.blocks.basic import BasicBlock, Bottleneck
from reslab.blocks.highway import HighwayBlock
from reslab.blocks.preact import PreActBasicBlock, PreActBottleneck

BLOCKS: dict[str, type[ResidualBlock]] = {
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
    "preact_basic": PreActBasicBlock,
    "preact_bottleneck": PreActBottleneck,
}


def get_block(kind: str) -> type[ResidualBlock]:
    try:
        return BLOCKS[kind]
    except KeyError:
        raise ValueError(
            f"block={kind!r} is not accepted; accepted values: {', '.join(BLOCKS)}"
        ) from None


__all__ = [
    "BLOCKS",
    "BasicBlock",
    "Bottleneck",
    "HighwayBlock",
    "PreActBasicBlock",
    "PreActBottleneck",
    "ResidualBlock",
    "get_block",
]
