"""Activation checkpointing that leaves BatchNorm's running statistics as a plain step would."""

from __future__ import annotations

from collections.abc import Iterator
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
