"""A decoder-only, character-level GPT (Radford et al. 2018/2019) after Karpathy's nanoGPT: learned
position embeddings, tied input/output embeddings, causal self-attention and a GELU MLP, each
sub-layer a ``ResidualBlock`` (``blocks/transformer.py``), so the lesion, gradient and landscape
tools see its branches and shortcuts as they see a ResNet's.

``norm`` puts LayerNorm before the branch ("pre", GPT-2, Xiong et al. 2020), after the addition
("post", Vaswani et al. 2017) or after an alpha-scaled addition ("deepnorm", Wang et al. 2022);
``residual=False`` removes every skip and changes nothing else.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from reslab.blocks.base import ResidualBlock
from reslab.blocks.transformer import (
    attention_block,
    check_activation,
    check_norm,
    deepnorm_constants,
    layer_norm,
    mlp_block,
)
from reslab.models.registry import register_model
from reslab.nn.checkpoint import Checkpointable

INITS: tuple[str, ...] = ("gpt2", "xavier")
NANOGPT = "Karpathy, nanoGPT (2022), config/train_shakespeare_char.py; Radford et al. 2019"


class GPT(Checkpointable, nn.Module):
    class_dim = -1  # logits are (N, T, vocab): the class axis is last
    dims = 0  # token ids
    in_channels = 1

    def __init__(
        self,
        vocab_size: int = 65,
        block_size: int = 256,
        n_layer: int = 6,
        n_head: int = 6,
        n_embd: int = 384,
        bias: bool = False,
        dropout: float = 0.0,
        norm: str = "pre",
        residual: bool = True,
        init: str = "gpt2",
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        _check_sizes(vocab_size, block_size, n_layer, n_head, n_embd, dropout)
        if init not in INITS:
            raise ValueError(f"init={init!r} is not accepted; accepted: {', '.join(INITS)}")
        self.norm, self.residual, self.init = check_norm(norm), residual, init
        self.activation = check_activation(activation)  # "gelu_tanh": OpenAI's GPT-2 weights
        self.block_size, self.n_layer, self.num_features = block_size, n_layer, n_embd
        self.default_input_size = (block_size,)
        alpha, self.beta = deepnorm_constants(n_layer) if norm == "deepnorm" else (1.0, 1.0)
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        sub = {"norm": norm, "residual": residual, "bias": bias, "dropout": dropout, "alpha": alpha}
        self.h = nn.ModuleList(
            nn.Sequential(
                attention_block(n_embd, n_head, **sub),  # type: ignore[arg-type]
                mlp_block(n_embd, **sub, activation=activation),  # type: ignore[arg-type]
            )
            for _ in range(n_layer)
        )
        # Pre-LN leaves the residual stream un-normalised, so it needs a final LN before the head
        # (Xiong et al. 2020, Fig. 1b; GPT-2, Radford et al. 2019, 2.3; nanoGPT's ln_f). A post-LN
        # or DeepNorm stack already ends in its last sub-layer's LN (Vaswani et al. 2017, 3.1).
        self.ln_f = layer_norm(n_embd, bias) if norm == "pre" else nn.Identity()
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        # Weight tying (Press & Wolf 2017), as GPT-2 and nanoGPT: one matrix embeds and decodes.
        self.wte.weight = self.lm_head.weight
        self._init_weights()

    def _init_weights(self) -> None:
        # nanoGPT: N(0, 0.02) for every Linear and Embedding, zero biases, and each residual
        # branch's output projection scaled by 1/sqrt(2 n_layer) (GPT-2, Radford et al. 2019, 2.3).
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        if self.init == "xavier":
            self._xavier_init(self.beta)
        elif self.norm == "deepnorm":
            self._scale_branches(self.beta)
        else:
            for name, p in self.named_parameters():
                if name.endswith("c_proj.weight"):
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * self.n_layer))

    def _scale_branches(self, beta: float) -> None:
        # DeepNorm within the GPT-2 family: the same N(0, 0.02) draw, with DeepNorm's depth rule
        # (beta on the value, output and FFN projections, Wang et al. 2022, Fig. 2) in place of
        # GPT-2's 1/sqrt(2N) on the output projections, so that pre-LN, post-LN and DeepNorm
        # differ in their method only, never in the init family (Xavier is the other family).
        with torch.no_grad():
            for layer in self.h:
                attn, mlp = layer[0].heads, layer[1]
                d = attn.c_proj.weight.shape[0]
                attn.c_attn.weight[2 * d :].mul_(beta)
                for w in (attn.c_proj.weight, mlp.c_fc.weight, mlp.c_proj.weight):
                    w.mul_(beta)

    def _xavier_init(self, beta: float) -> None:
        # Xavier-normal for every projection, with gain beta for the FFN, value and output ones
        # and 1 for query and key. beta = (8N)^(-1/4) is DeepNorm's init (Wang et al. 2022,
        # Fig. 2); beta = 1 is the plain Xavier init of Xiong et al. 2020's analysis (section
        # 3.2), which has no depth-dependent scaling: GPT-2's 1/sqrt(2N) on the output
        # projections keeps the pre-LN stream's norm flat with depth and hides their Theorem 1's
        # 1/sqrt(L) fall. c_attn holds q, k, v stacked: each d x d slice is its own matrix.
        for layer in self.h:
            attn, mlp = layer[0].heads, layer[1]
            d = attn.c_proj.weight.shape[0]
            with torch.no_grad():
                for i, gain in enumerate((1.0, 1.0, beta)):
                    nn.init.xavier_normal_(attn.c_attn.weight[i * d : (i + 1) * d], gain=gain)
            for w in (attn.c_proj.weight, mlp.c_fc.weight, mlp.c_proj.weight):
                nn.init.xavier_normal_(w, gain=beta)

    @property
    def blocks(self) -> list[ResidualBlock]:
        """Every residual sub-layer in order: attention, MLP, attention, MLP, ..."""
        return [b for layer in self.h for b in layer]

    @property
    def stages(self) -> list[nn.Sequential]:
        return list(self.h)  # type: ignore[arg-type]

    def check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.dtype != torch.long or not 1 <= x.shape[1] <= self.block_size:
            raise ValueError(
                f"GPT expects int64 token ids of shape (N, T) with 1 <= T <= block_size="
                f"{self.block_size}; got {x.dtype} of shape {tuple(x.shape)}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        pos = torch.arange(x.shape[1], device=x.device)
        h = self.drop(self.wte(x) + self.wpe(pos))
        return self.ln_f(self.run_blocks(self.blocks, h))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.lm_head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _check_sizes(
    vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int, dropout: float
) -> None:
    for name, value in (("vocab_size", vocab_size), ("block_size", block_size),
                        ("n_layer", n_layer), ("n_head", n_head), ("n_embd", n_embd)):  # fmt: skip
        if value < 1:
            raise ValueError(f"{name}={value} must be >= 1")
    if n_embd % n_head:
        divisors = [h for h in range(1, n_embd + 1) if n_embd % h == 0]
        raise ValueError(
            f"n_embd={n_embd} is not divisible by n_head={n_head}; accepted n_head: "
            f"{', '.join(map(str, divisors[:12]))}{', ...' if len(divisors) > 12 else ''}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout} must be in [0, 1)")


# nanoGPT's "baby GPT" (config/train_shakespeare_char.py): 6 layers, 6 heads, width 384, context
# 256, no biases; it prints "number of parameters: 10.65M" (position embeddings not counted).
register_model(
    "gpt",
    GPT,
    family="transformer",
    source=NANOGPT + " (its 10.65M leaves out the position embeddings)",
    paper_params=10.65e6,
    depth=6,
)
