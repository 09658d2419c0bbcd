"""The gradient of one path through a residual net (Veit et al. 2016, section 5).

Unrolled, a net of n blocks y_i = act(shortcut(x_i) + F(x_i)) is a sum over 2^n paths: each
block's Jacobian is J_act (J_shortcut + J_F), and the product over blocks expands into one term
per choice of "branch or shortcut" at every block. Veit et al. measure the term of a path that
goes through the branches of k chosen blocks and the shortcuts of the others: forward as usual,
backward only along that path. Here a chosen block computes act(shortcut(x).detach() + F(x)) and
every other block act(shortcut(x) + F(x).detach()): the same values forward, only the chosen
terms backward. The 2^n path gradients therefore add up to the ordinary gradient (tested).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import torch

from reslab.blocks import ResidualBlock
from reslab.data import Augment, DataBundle, make_loader
from reslab.models.resnet import ResNet
from reslab.probes.surgery import backward_through, forwards_replaced
from reslab.training import objective

Batch = tuple[torch.Tensor, torch.Tensor]


@contextmanager
def single_path(model: ResNet, through_branch: Iterable[int]) -> Iterator[ResNet]:
    """Inside the block, backward passes go through the residual branch of the blocks at
    ``through_branch`` (positions in ``model.blocks``) and through only the shortcut of every
    other block; forward values are unchanged (``surgery.backward_through``). With no block
    chosen, the gradient runs through the shortcuts alone (He et al. 2016, eq. 5)."""
    blocks = model.blocks
    chosen = set(through_branch)
    _check(blocks, chosen)
    with forwards_replaced((b, backward_through(b, i in chosen)) for i, b in enumerate(blocks)):
        yield model


def path_gradient(model: ResNet, x: torch.Tensor, y: torch.Tensor, path: list[int]) -> torch.Tensor:
    """dLoss/dx (the loss is the batch-mean cross-entropy) along the path through the branches of
    the blocks in ``path`` and the shortcuts of the others, in the model's current mode."""
    x = x.detach().requires_grad_(True)
    with single_path(model, path):
        loss = objective.loss(model(x), y, dim=objective.class_dim(model))
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def path_gradients(
    model: ResNet, batches: Iterable[Batch], paths: Sequence[Sequence[list[int]]]
) -> list[list[float]]:
    """``norms[k][d]``: the L2 norm (over the whole batch) of ``path_gradient`` for
    ``paths[k][d]`` on the d-th batch. Every ``paths[k]`` has one path per batch, so each length
    is measured on the same batches.

    Measured in train mode (BN normalises with batch statistics), the mode in which training
    takes its gradients; on a copy, so the model's mode and BN running statistics stay as they
    were.
    """
    draws = len(paths[0]) if paths else 0
    if any(len(p) != draws for p in paths):
        counts = sorted({len(p) for p in paths})
        raise ValueError(f"paths has {counts} paths per length; accepted: the same count for all")
    net = copy.deepcopy(model).train()
    norms: list[list[float]] = [[] for _ in paths]
    for d, (x, y) in zip(range(draws), batches, strict=False):  # at most draws
        for k, per_length in enumerate(paths):
            grad = path_gradient(net, x, y, per_length[d])
            # float64: a long path's gradient can be tiny; its squares must not underflow.
            norms[k].append(torch.linalg.vector_norm(grad.double()).item())
    if paths and len(norms[0]) < draws:
        raise ValueError(f"got {len(norms[0])} batches for {draws} paths per length")
    return norms


def training_batches(
    bundle: DataBundle, *, batch_size: int, count: int, seed: int, device: torch.device
) -> Iterator[Batch]:
    """``count`` random batches of the training split (Veit et al.: "random batches from the
    training set"), without augmentation: shuffled epoch after epoch, a pure function of
    ``seed``; full batches only, so every measurement has the same batch size."""
    no_augment = Augment(crop_padding=0, flip=False)
    loader = make_loader(
        bundle, "train", batch_size=batch_size, train=True, device=device, augment=no_augment,
        seed=seed, drop_last=True,
    )  # fmt: skip
    if len(loader) == 0:
        size = len(bundle.train)  # type: ignore[arg-type]
        raise ValueError(
            f"batch_size={batch_size} exceeds the {size} training samples of {bundle.name}; "
            f"accepted: batch_size <= {size}"
        )
    epoch = 0
    while count > 0:
        loader.set_epoch(epoch)
        for batch in loader:
            if count == 0:
                return
            count -= 1
            yield batch
        epoch += 1


def _check(blocks: list[ResidualBlock], chosen: set[int]) -> None:
    bad = sorted(i for i in chosen if not 0 <= i < len(blocks))
    if bad:
        raise ValueError(f"block indices {bad} are out of range; accepted: 0..{len(blocks) - 1}")
    plain = [i for i, b in enumerate(blocks) if b.is_plain]
    if plain:
        # A plain block's shortcut carries nothing: the net has one path, not 2^n.
        raise ValueError(
            f"blocks {plain} have no shortcut; accepted: a residual net (shortcut A, B or C)"
        )
