"""Activation checkpointing that leaves BatchNorm's running statistics as a plain step would."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from reslab.nn.layers import is_norm


@contextmanager
def frozen_norm_stats(module: nn.Module) -> Iterator[None]:
    """Restore every BatchNorm buffer of ``module`` on exit: a recomputation must not count twice.

    Without this, the forward recomputed in backward updates running_mean / running_var and
    num_batches_tracked a second time per step, so a checkpointed model would evaluate differently
    from the same model trained without checkpointing.
    """
    norms = [m for m in module.modules() if is_norm(m) and m.track_running_stats]
    saved = [[b.clone() for b in m.buffers()] for m in norms]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, buffers in zip(norms, saved, strict=True):
                for current, before in zip(m.buffers(), buffers, strict=True):
                    current.copy_(before)


def checkpoint_module(module: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    # Non-reentrant checkpointing (the variant PyTorch recommends) restores the RNG state, so
    # dropout and drop-path masks are the same when recomputed; BN statistics are kept as above.
    return checkpoint(
        module,
        *inputs,
        use_reentrant=False,
        context_fn=lambda: (nullcontext(), frozen_norm_stats(module)),
    )


class Checkpointable:
    """A net that can recompute its blocks' activations in backward instead of keeping them
    (memory O(blocks) instead of O(layers)): ``set_grad_checkpointing`` sets the switch, which
    ``run_blocks`` (or the net's own forward) reads while training."""

    grad_checkpointing: bool = False
    training: bool  # nn.Module's

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    def run_blocks(self, blocks: Iterable[nn.Module], x: torch.Tensor) -> torch.Tensor:
        """``x`` through ``blocks`` in order, each checkpointed where the switch is on, the net
        trains and ``x`` needs a gradient."""
        checkpointing = self.grad_checkpointing and self.training
        for block in blocks:
            x = checkpoint_module(block, x) if checkpointing and x.requires_grad else block(x)
        return x
