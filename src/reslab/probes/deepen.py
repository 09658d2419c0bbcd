"""Building the deeper net from a trained shallow one (He et al. 2015, section 1).

With residual blocks the "copy the shallow net, make the added layers identity mappings"
construction is one line: a block whose branch's last scale is zero (``zero_init_last``, Goyal et
al. 2017, 5.1) *is* its shortcut. For contrast the same insertion with plain layers: He-initialised,
they change the function; zero-initialised, they output ReLU(0) = 0 and cut the signal.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Literal

import torch

from reslab.models import cifar_resnet
from reslab.models.resnet import ResNet
from reslab.nn.modes import eval_mode

Insert = Literal["residual", "plain", "plain_zero"]
INSERTS: tuple[Insert, ...] = ("residual", "plain", "plain_zero")
Variant = Literal["shallow", "residual", "plain", "plain_zero"]
VARIANTS: tuple[Variant, ...] = ("shallow", *INSERTS)


def deepen(shallow: ResNet, depth: int, insert: Insert = "residual", *, seed: int = 0) -> ResNet:
    """A ``depth``-layer copy of a CIFAR-style ``shallow`` net with new blocks appended per stage.

    Every trained block keeps its place and state-dict key; the new blocks keep the shape of
    their stage: residual with a zeroed branch, plain He-initialised, or plain zeroed.
    """
    if insert not in INSERTS:
        raise ValueError(f"insert={insert!r} is unknown; accepted: {', '.join(INSERTS)}")
    old = [len(stage) for stage in shallow.stages]
    torch.manual_seed(seed)  # the new blocks' weights are a function of the seed
    deep = _like(shallow, depth, shallow.shortcut_kind)
    if any(len(stage) <= n for stage, n in zip(deep.stages, old, strict=True)):
        raise ValueError(
            f"depth={depth} must add blocks to every stage of the {old}-block net; "
            f"accepted: a deeper net of the same block kind"
        )
    _, unexpected = deep.load_state_dict(shallow.state_dict(), strict=False)
    if unexpected:  # a net that is not CIFAR-style (other stem, widths or stage names)
        raise ValueError(f"the shallow net does not fit a {depth}-layer net: {unexpected[:3]}")
    if insert != "residual":
        donor = _like(shallow, depth, "none")
        for stage, plain, n in zip(deep.stages, donor.stages, old, strict=True):
            for j in range(n, len(stage)):
                stage[j] = plain[j]
    for stage, n in zip(deep.stages, old, strict=True):
        for block in list(stage)[n:]:
            if insert != "plain":
                block.zero_init_last()
    return deep.train(shallow.training)


def build_variant(shallow: ResNet, variant: Variant, depth: int, seed: int) -> ResNet:
    if variant == "shallow":
        return copy.deepcopy(shallow)
    return deepen(shallow, depth, variant, seed=seed)


def max_output_change(a: ResNet, b: ResNet, batches: Iterable[torch.Tensor]) -> float:
    """max |a(x) - b(x)| over the logits of every batch, both nets in eval mode (their modes
    restored after: ``fit`` trains a model in whatever mode it is given)."""
    with eval_mode(a, b), torch.no_grad():
        return max(float((a(x) - b(x)).abs().max()) for x in batches)


def _like(net: ResNet, depth: int, shortcut: str) -> ResNet:
    return cifar_resnet(
        depth, block=net.block_kind, shortcut=shortcut, width=net.conv1.out_channels,
        num_classes=net.fc.out_features, in_channels=net.in_channels, dims=net.dims,
    )  # fmt: skip
