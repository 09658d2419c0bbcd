"""Run code with a model in train or eval mode, and leave it in the mode it was in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from torch import nn


@contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Inside the block every model is in eval mode (BN uses its running statistics, dropout is
    off); leaving it restores each model's mode, also after an error."""
    with _modes(models, training=False):
        yield


@contextmanager
def train_mode(*models: nn.Module) -> Iterator[None]:
    """Inside the block every model is in train mode (BN normalises with batch statistics, as in
    the steps that training takes); leaving it restores each model's mode."""
    with _modes(models, training=True):
        yield


@contextmanager
def _modes(models: tuple[nn.Module, ...], *, training: bool) -> Iterator[None]:
    with ExitStack() as stack:
        for model in models:
            was = model.training
            stack.callback(model.train, was)
            model.train(training)
        yield
