"""Where BN and ReLU sit around the addition: He et al. 2016, "Identity Mappings in Deep Residual
Networks", Figure 4 and Table 2.

A layout is a string, one letter per layer: ``c`` the next conv, ``b`` a BN, ``r`` a ReLU, ``d``
dropout; ``|`` is the addition, and what follows it acts on the sum. Every block kind (basic,
bottleneck) is its convs laid out by one of these, so the five variants of Figure 4 exist for
both, and the classic blocks are two of them: "original" (He et al. 2015) and "full_preact".
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from reslab.nn.layers import norm

PLACEMENTS: tuple[str, ...] = (
    "original",  # Fig. 4a: conv-BN-ReLU-conv-BN, add, ReLU
    "bn_after_add",  # 4b: the last BN moves after the addition
    "relu_before_add",  # 4c: the last ReLU moves into the branch; nothing after the addition
    "relu_preact",  # 4d: ReLU-only pre-activation
    "full_preact",  # 4e: BN and ReLU both before each conv (the pre-activation block)
)


def check_placement(placement: str) -> str:
    if placement not in PLACEMENTS:
        raise ValueError(
            f"placement={placement!r} is not accepted; accepted values: {', '.join(PLACEMENTS)}"
        )
    return placement


def pattern(placement: str, convs: int, dropout: bool = False) -> str:
    head, last = {
        "original": ("cbr", "cb|r"),
        "bn_after_add": ("cbr", "c|br"),
        "relu_before_add": ("cbr", "cbr|"),
        "relu_preact": ("rcb", "rcb|"),
        "full_preact": ("brc", "brc|"),
    }[check_placement(placement)]
    # Dropout goes right before the last conv: between the convs, after the activation, as in
    # wide ResNets (Zagoruyko & Komodakis 2016, 2.4).
    last = last.replace("c", "dc") if dropout else last
    return head * (convs - 1) + last


def lead(placement: str) -> str:
    """The layers a block applies to its input before its first conv. A net of such blocks ends
    with them once more, since its last sum is otherwise never activated (He et al. 2016, 4.1);
    and when they include a BN the stem needs none of its own."""
    return pattern(placement, 1).split("c")[0]


def assemble(
    layout: str, convs: Sequence[tuple[nn.Module, int]], in_ch: int, dims: int, p: float = 0.0
) -> tuple[OrderedDict[str, nn.Module], nn.Module]:
    """The branch's layers and the module applied after the addition, from ``layout`` and the
    block's ``(conv, out_channels)`` pairs. Layers are numbered in order (conv1, bn1, ...), with a
    single ReLU named ``relu``: torchvision's names, so its weights load into "original"."""
    before, after = layout.split("|")
    relus = before.count("r")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels, counts = in_ch, {"c": 0, "b": 0, "r": 0}
    for letter in before:
        counts[letter] = counts.get(letter, 0) + 1
        if letter == "c":
            module, channels = convs[counts["c"] - 1]
            layers[f"conv{counts['c']}"] = module
        elif letter == "b":
            layers[f"bn{counts['b']}"] = norm(dims, channels)
        elif letter == "r":
            # Not in place on the block's own input: the shortcut still needs it (Fig. 4d).
            inplace = bool(layers)
            layers["relu" if relus == 1 else f"relu{counts['r']}"] = nn.ReLU(inplace=inplace)
        else:
            layers["dropout"] = nn.Dropout(p)
    return layers, post_ops(after, dims, channels)


def post_ops(letters: str, dims: int, channels: int) -> nn.Module:
    ops = [norm(dims, channels) if letter == "b" else nn.ReLU(inplace=True) for letter in letters]
    if not ops:
        return nn.Identity()
    return ops[0] if len(ops) == 1 else nn.Sequential(*ops)
