"""The two residual sub-layers of a Transformer layer, causal self-attention and the MLP, each a
``ResidualBlock``: ``act(shortcut(x) + branch(x))``, where only the norm's place and the shortcut
change between the variants (Xiong et al. 2020, Fig. 1; Wang et al. 2022, Fig. 2):

=========  ====================  =======================  ==========
norm       branch                shortcut                 act
=========  ====================  =======================  ==========
pre        LN -> f               identity                 identity
post       f                     identity                 LN
deepnorm   f                     alpha * x                LN
=========  ====================  =======================  ==========

``residual=False`` puts ``NoShortcut`` in every row: the same layers, no skip.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from reslab.blocks.base import ResidualBlock
from reslab.nn.mappings import Mapping, ShortcutMapping
from reslab.nn.shortcuts import NoShortcut

NORMS: tuple[str, ...] = ("pre", "post", "deepnorm")
# "gelu": the exact, erf-based GELU (nn.GELU(), nanoGPT's); "gelu_tanh": the tanh approximation
# OpenAI's GPT-2 was trained with (Hendrycks & Gimpel 2016, section 2; Hugging Face's "gelu_new").
ACTIVATIONS: tuple[str, ...] = ("gelu", "gelu_tanh")


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"norm={norm!r} is not accepted; accepted: {', '.join(NORMS)}")
    return norm


def deepnorm_constants(n_layer: int) -> tuple[float, float]:
    """(alpha, beta) of DeepNorm for a decoder-only net of ``n_layer`` layers (Wang et al. 2022,
    Table 1, "decoder-only": alpha = (2N)^(1/4), beta = (8N)^(-1/4))."""
    return (2 * n_layer) ** 0.25, (8 * n_layer) ** -0.25


class CausalSelfAttention(nn.Module):
    """Multi-head attention where position t sees positions <= t (Vaswani et al. 2017, 3.2.3),
    with q, k, v from one fused projection (nanoGPT's ``c_attn``)."""

    def __init__(self, n_embd: int, n_head: int, bias: bool, dropout: float) -> None:
        super().__init__()
        self.n_head, self.dropout = n_head, dropout
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = (
            z.view(n, t, self.n_head, c // self.n_head).transpose(1, 2)
            for z in self.c_attn(x).split(c, dim=2)
        )
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        return self.c_proj(y.transpose(1, 2).reshape(n, t, c))


class TanhGELU(nn.Module):
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (Hendrycks & Gimpel 2016, section 2), written
    term for term as GPT-2's code and Hugging Face's ``NewGELUActivation``, so a loaded GPT-2 gives
    bit-identical activations (``nn.GELU(approximate="tanh")`` rounds differently, ~1e-7)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3.0))))


def check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation={activation!r} is not accepted; accepted: {', '.join(ACTIVATIONS)}"
        )
    return activation


def layer_norm(n_embd: int, bias: bool) -> nn.LayerNorm:
    return nn.LayerNorm(n_embd, bias=bias)


def _sub_layer(
    f: OrderedDict[str, nn.Module], n_embd: int, *, norm: str, residual: bool, bias: bool,
    alpha: float,
) -> ResidualBlock:  # fmt: skip
    if norm == "pre":
        f = OrderedDict([("ln", layer_norm(n_embd, bias)), *f.items()])
    act = nn.Identity() if norm == "pre" else layer_norm(n_embd, bias)
    shortcut = nn.Identity() if residual else NoShortcut()
    # DeepNorm up-weights the skip by alpha before the LN (Wang et al. 2022, eq. 1 and Fig. 2).
    scaled = norm == "deepnorm" and residual
    mapping = Mapping(ShortcutMapping(scale=alpha), 0, n_embd, n_embd, 1) if scaled else None
    return ResidualBlock(f, shortcut, act, mapping=mapping)


def attention_block(
    n_embd: int, n_head: int, *, norm: str, residual: bool, bias: bool, dropout: float,
    alpha: float = 1.0,
) -> ResidualBlock:  # fmt: skip
    f = OrderedDict(
        [
            ("heads", CausalSelfAttention(n_embd, n_head, bias, dropout)),
            ("drop", nn.Dropout(dropout)),
        ]
    )
    return _sub_layer(f, n_embd, norm=norm, residual=residual, bias=bias, alpha=alpha)


def mlp_block(
    n_embd: int, *, norm: str, residual: bool, bias: bool, dropout: float, alpha: float = 1.0,
    activation: str = "gelu",
) -> ResidualBlock:  # fmt: skip
    # GELU and a 4x hidden width, as GPT-2 and nanoGPT (Radford et al. 2019; Vaswani et al. 3.3).
    f = OrderedDict(
        [
            ("c_fc", nn.Linear(n_embd, 4 * n_embd, bias=bias)),
            ("gelu", nn.GELU() if check_activation(activation) == "gelu" else TanhGELU()),
            ("c_proj", nn.Linear(4 * n_embd, n_embd, bias=bias)),
            ("drop", nn.Dropout(dropout)),
        ]
    )
    return _sub_layer(f, n_embd, norm=norm, residual=residual, bias=bias, alpha=alpha)
