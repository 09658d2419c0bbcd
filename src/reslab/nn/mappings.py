"""The shortcut mappings h(x) of He et al. 2016, "Identity Mappings in Deep Residual Networks",
section 3 and Figure 2: what a block does to its shortcut (and, for some, to its branch F) before
the addition.

Unrolled over blocks l..L-1 with a scalar mapping lambda, the shortcut path is
x_L = (prod lambda_i) x_l + ..., so its gradient carries the factor prod lambda_i (their eq. 7):
lambda < 1 vanishes and lambda > 1 explodes exponentially in depth. Only lambda = 1 (identity)
keeps the "+1" highway; every variant here multiplies it by something else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import nn

from reslab.nn.layers import FEATURES, affine

GateKind = Literal["none", "exclusive", "shortcut"]
GATES: tuple[str, ...] = ("none", "exclusive", "shortcut")


@dataclass(frozen=True)
class ShortcutMapping:
    """y = act(scale * keep(shortcut(x)) * (1 - g) + branch_scale * g' * F(x)), where g is the
    gate (if any) and g' = g only for exclusive gating."""

    scale: float = 1.0  # lambda on the shortcut (Fig. 2b)
    branch_scale: float = 1.0  # (1 - lambda) on F in the paper's second scaling row (Table 1)
    gate: GateKind = "none"  # Fig. 2c (exclusive) and 2d (shortcut-only)
    # The gate's bias b_g at initialisation; the paper searches 0 .. -7 and its best is -6 (3.1).
    gate_bias: float = -6.0
    dropout: float = 0.0  # Fig. 2f: a Bernoulli keep-mask on the shortcut
    # The gate's kernel: 1x1 in He et al. 2016 (Fig. 2c); Srivastava et al. 2015's convolutional
    # highway layers give T the kernel of H (3x3 in their CIFAR nets, section 4 and their code).
    gate_kernel: int = 1

    def __post_init__(self) -> None:
        if self.gate not in GATES:
            raise ValueError(f"gate={self.gate!r} is not accepted; accepted: {', '.join(GATES)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout} must be in [0, 1)")
        if self.gate_kernel < 1 or self.gate_kernel % 2 == 0:
            raise ValueError(f"gate_kernel={self.gate_kernel} must be odd and >= 1 (1, 3, 5, ...)")

    @property
    def is_identity(self) -> bool:
        return (self.scale, self.branch_scale, self.gate, self.dropout) == (1.0, 1.0, "none", 0.0)


IDENTITY = ShortcutMapping()
# The rows of He et al. 2016, Table 1 (ResNet-110 on CIFAR-10); the 1x1-conv row is shortcut="C".
MAPPINGS: dict[str, ShortcutMapping] = {
    "identity": IDENTITY,
    "scale": ShortcutMapping(scale=0.5),
    "scale_both": ShortcutMapping(scale=0.5, branch_scale=0.5),
    "exclusive_gate": ShortcutMapping(gate="exclusive"),
    "shortcut_gate": ShortcutMapping(gate="shortcut"),
    "dropout": ShortcutMapping(dropout=0.5),
}


# Named shortcut variants: (shortcut option, mapping). "identity" is the original ResNet with
# option A where the shape changes (He et al. 2015, 4.2; the 6.61% of Table 1); "C" puts a 1x1
# conv (with BN, as option C of He et al. 2015, 3.3) on every block: Table 1's "1x1 conv shortcut".
FIXED_VARIANTS: dict[str, tuple[str, str]] = {
    "identity": ("A", "identity"),
    "B": ("B", "identity"),
    "C": ("C", "identity"),
    "plain": ("none", "identity"),
    "scale": ("A", "scale"),
    "scale_both": ("A", "scale_both"),
    "dropout": ("A", "dropout"),
}
# Gated variants carry their bias init in the name: exclusive_gate_b-6, shortcut_gate_b0, ...
GATED = re.compile(r"^(exclusive|shortcut)_gate_b(-?\d+(?:\.\d+)?)$")
ACCEPTED_VARIANTS = (*FIXED_VARIANTS, "exclusive_gate_b<bias>", "shortcut_gate_b<bias>")


def shortcut_variant(name: str) -> tuple[str, ShortcutMapping]:
    """The shortcut option and mapping of a named variant of He et al. 2016, Table 1."""
    if name in FIXED_VARIANTS:
        shortcut, mapping = FIXED_VARIANTS[name]
        return shortcut, get_mapping(mapping)
    match = GATED.match(name)
    if match is None:
        raise ValueError(f"variant {name!r} is unknown; accepted: {', '.join(ACCEPTED_VARIANTS)}")
    return "A", get_mapping(f"{match[1]}_gate", float(match[2]))


def variant_family(name: str) -> str:
    """The variant's row of Table 1: its name without a gate's bias."""
    match = GATED.match(name)
    return f"{match[1]}_gate" if match else name


def get_mapping(mapping: str | ShortcutMapping, gate_bias: float | None = None) -> ShortcutMapping:
    if isinstance(mapping, str):
        if mapping not in MAPPINGS:
            raise ValueError(
                f"mapping={mapping!r} is not accepted; accepted values: {', '.join(MAPPINGS)}"
            )
        mapping = MAPPINGS[mapping]
    if gate_bias is not None:
        if mapping.gate == "none":
            raise ValueError(f"gate_bias={gate_bias} needs a gated mapping; this one has no gate")
        mapping = replace(mapping, gate_bias=gate_bias)
    return mapping


class Gate(nn.Module):
    """g(x) = sigmoid(W_g x + b_g), one gate per output channel and position (Fig. 2c): W_g a conv
    (registered as ``conv``) or, on vectors (dims=FEATURES), a Linear (``fc``): the transform
    gate T of a fully connected highway layer (Srivastava et al. 2015, eq. 3)."""

    def __init__(
        self, dims: int, in_ch: int, out_ch: int, stride: int, bias: float, kernel: int = 1
    ) -> None:
        super().__init__()
        # Strided like the block, so g matches the shape of the sum.
        layer = affine(dims, in_ch, out_ch, kernel, stride)
        self.add_module("fc" if dims == FEATURES else "conv", layer)
        self.__dict__["affine"] = layer  # a view: registered once, under its own name
        self.bias_init = bias
        nn.init.constant_(layer.bias, bias)

    affine: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.affine(x))


class KeepMask(nn.Module):
    """Dropout on the shortcut *without* the usual 1/(1-p) rescaling in training: the paper reads
    it as a scale lambda whose expectation is 1-p = 0.5 (3.1), so eval multiplies by 1-p."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x * (1 - self.p)
        return x * torch.bernoulli(torch.full_like(x, 1 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MappedPath(nn.Module):
    """One side of the sum, ``scale * gate_factor(x) * keep(fn(x))``: a view over modules that
    the block registers itself (so none of them is registered twice)."""

    def __init__(
        self,
        fn: nn.Module,
        *,
        scale: float = 1.0,
        gate: Gate | None = None,
        complement: bool = False,
        keep: KeepMask | None = None,
    ) -> None:
        super().__init__()
        self.__dict__.update(fn=fn, gate=gate, keep=keep)
        self.scale, self.complement = scale, complement

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fn(x)
        if self.keep is not None:
            y = self.keep(y)
        if self.gate is not None:
            g = self.gate(x)
            y = (1 - g) * y if self.complement else g * y
        return y if self.scale == 1.0 else self.scale * y


class Mapping(nn.Module):
    """The parameters and modules of a ShortcutMapping for one block, and the two views (shortcut
    side and branch side) that the block adds."""

    def __init__(
        self, spec: ShortcutMapping, dims: int, in_ch: int, out_ch: int, stride: int
    ) -> None:
        super().__init__()
        self.spec = spec
        self.gate = (
            Gate(dims, in_ch, out_ch, stride, spec.gate_bias, spec.gate_kernel)
            if spec.gate != "none"
            else None
        )
        self.keep = KeepMask(spec.dropout) if spec.dropout > 0 else None

    def shortcut_side(self, shortcut: nn.Module) -> nn.Module:
        return MappedPath(
            shortcut, scale=self.spec.scale, gate=self.gate, complement=True, keep=self.keep
        )

    def branch_side(self, branch: nn.Module) -> nn.Module:
        exclusive = self.gate if self.spec.gate == "exclusive" else None
        if exclusive is None and self.spec.branch_scale == 1.0:
            return branch
        return MappedPath(branch, scale=self.spec.branch_scale, gate=exclusive)
