"""The highway layer of Srivastava, Greff & Schmidhuber 2015 ("Training Very Deep Networks",
arXiv:1507.06228, eq. 3): y = T(x) * H(x) + (1 - T(x)) * x, with H(x) = act(W_H x + b_H) and the
transform gate T(x) = sigmoid(W_T x + b_T).

That is the exclusive gate of He et al. 2016 (Fig. 2c, ``nn/mappings.py``) on a branch that is
one affine layer and its nonlinearity, with no BN (the paper has none). The same class is the
plain layer (no shortcut: y = H(x)) and the residual layer (identity mapping: y = x + H(x)), so
the three nets of the comparison differ in the shortcut alone.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

from torch import nn

from reslab.blocks.base import ResidualBlock
from reslab.nn.layers import FEATURES, affine
from reslab.nn.mappings import IDENTITY, Mapping, ShortcutMapping
from reslab.nn.shortcuts import make_shortcut

UnitKind = Literal["highway", "residual", "plain"]
UNIT_KINDS: tuple[str, ...] = ("highway", "residual", "plain")
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}  # their search, 4.1


def check_kind(kind: str) -> str:
    if kind not in UNIT_KINDS:
        raise ValueError(f"kind={kind!r} is not accepted; accepted values: {', '.join(UNIT_KINDS)}")
    return kind


def unit_mapping(kind: str, gate_bias: float, gate_kernel: int) -> tuple[str, ShortcutMapping]:
    """The shortcut option and mapping of a unit kind: only the highway unit has a gate."""
    if check_kind(kind) == "plain":
        return "none", IDENTITY
    if kind == "residual":
        return "B", IDENTITY  # same shape throughout: "B" is the identity here
    return "B", ShortcutMapping(gate="exclusive", gate_bias=gate_bias, gate_kernel=gate_kernel)


class HighwayBlock(ResidualBlock):
    """One highway (or plain, or residual) layer of ``width`` units on vectors (dims=FEATURES)
    or feature maps (dims 1 or 2, same-padded ``kernel``); width is kept, as in the paper, where
    plain layers between stacks change it."""

    def __init__(
        self,
        width: int,
        *,
        kind: UnitKind = "highway",
        dims: int = FEATURES,
        kernel: int = 3,
        gate_bias: float = -2.0,
        activation: str = "relu",
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation={activation!r} is not accepted; accepted: {', '.join(ACTIVATIONS)}"
            )
        kernel = 1 if dims == FEATURES else kernel
        shortcut, spec = unit_mapping(kind, gate_bias, kernel)
        # H's affine map is named ``fc`` or ``conv`` like the gate's, so state-dict keys say
        # which kind of layer a unit is.
        name = "fc" if dims == FEATURES else "conv"
        # The nonlinearity is keyed by its name: ``act`` is the block's own (after the sum).
        branch = OrderedDict(
            [(name, affine(dims, width, width, kernel)), (activation, ACTIVATIONS[activation]())]
        )
        super().__init__(
            branch,
            make_shortcut(shortcut, dims, width, width, 1),
            nn.Identity(),  # H already holds the nonlinearity; nothing acts on the sum
            mapping=None if spec.is_identity else Mapping(spec, dims, width, width, 1),
        )
        self.kind = kind

    @property
    def gate(self) -> nn.Module | None:
        """T(x), or None for plain and residual units."""
        mapping = getattr(self, "mapping", None)
        return mapping.gate if mapping is not None else None
