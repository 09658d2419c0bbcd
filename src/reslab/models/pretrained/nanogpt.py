"""nanoGPT checkpoints (Karpathy 2022, ``train.py``'s ``ckpt.pt``: ``model_args`` and ``model``)
as reslab's ``GPT``: the same pre-LN decoder (``models/gpt.py``), so given the same weights it
computes the same logits; only the keys are renamed.

nanoGPT: ``transformer.h.{i}.ln_1 / attn / ln_2 / mlp``; reslab: layer ``h.{i}`` holds two
``ResidualBlock``s, ``h.{i}.0`` (``ln``, ``heads``) and ``h.{i}.1`` (``ln``, ``c_fc``,
``c_proj``), so that the lesion and gradient probes see each sub-layer as a block.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from reslab.models.gpt import GPT
from reslab.models.pretrained._common import (
    PretrainedError,
    PretrainedInfo,
    UnsupportedConfigError,
    attach,
    fill,
    read_state_file,
    remap,
    strip_prefixes,
)

# nanoGPT's GPTConfig fields, all of which reslab's GPT takes under the same names.
MODEL_ARGS = ("n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size", "dropout")

GPT_RULES = (
    (r"transformer\.wte\.weight", "wte.weight"),
    (r"transformer\.wpe\.weight", "wpe.weight"),
    (r"transformer\.h\.(\d+)\.ln_1\.(weight|bias)", r"h.\1.0.ln.\2"),
    (r"transformer\.h\.(\d+)\.attn\.(c_attn|c_proj)\.(weight|bias)", r"h.\1.0.heads.\2.\3"),
    (r"transformer\.h\.(\d+)\.ln_2\.(weight|bias)", r"h.\1.1.ln.\2"),
    (r"transformer\.h\.(\d+)\.mlp\.(c_fc|c_proj)\.(weight|bias)", r"h.\1.1.\2.\3"),
    (r"transformer\.ln_f\.(weight|bias)", r"ln_f.\1"),
    (r"lm_head\.weight", "lm_head.weight"),
)
# The causal mask nanoGPT's non-flash attention (and GPT-2's) keeps as a buffer named "bias";
# reslab's attention is causal by construction.
GPT_IGNORED = (r"transformer\.h\.\d+\.attn\.(bias|masked_bias)",)


def gpt_state(state: Mapping[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """nanoGPT/GPT-2 keys (``transformer.``-prefixed) as reslab GPT keys, the tied ``lm_head``
    filled from ``wte`` where the source stored it once, and refused where it is not tied."""
    out = remap(state, GPT_RULES, ignore=GPT_IGNORED, source=source)
    wte = out.get("wte.weight")
    head = out.setdefault("lm_head.weight", wte) if wte is not None else None
    if head is not None and wte is not None and not torch.equal(head, wte):
        raise UnsupportedConfigError(
            f"{source}: lm_head.weight differs from transformer.wte.weight; reslab's GPT ties "
            "them (accepted: tied embeddings, as nanoGPT and GPT-2)"
        )
    return out


def build_gpt(config: Mapping[str, Any], state: Mapping[str, torch.Tensor], source: str, *,
              copy: bool, **fixed: Any) -> GPT:  # fmt: skip
    """reslab's GPT with ``config`` (GPT's own argument names) and the weights of ``state``
    (``copy``: see ``fill``)."""
    model = fill(lambda: GPT(**config, **fixed), state, source, copy=copy)
    model.wte.weight = model.lm_head.weight  # one tensor again: the assignment made two
    return model  # type: ignore[return-value]


def load_nanogpt(path: str | Path, *, dropout: float | None = None) -> GPT:
    """A nanoGPT ``ckpt.pt`` (from a compiled model or not, with or without biases) as reslab's
    GPT in eval mode. ``dropout``: None keeps the checkpoint's ``model_args['dropout']``."""
    return nanogpt_from_checkpoint(read_state_file(path), f"nanogpt:{path}", dropout=dropout)


def nanogpt_from_checkpoint(ckpt: Any, source: str, *, dropout: float | None = None) -> GPT:
    """``load_nanogpt`` on a checkpoint already read (``torch.load``'s dict)."""
    path = source.removeprefix("nanogpt:")
    if not isinstance(ckpt, Mapping) or "model" not in ckpt or "model_args" not in ckpt:
        found = sorted(ckpt)[:6] if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise PretrainedError(
            f"{path} is not a nanoGPT checkpoint: accepted: a dict with 'model_args' and "
            f"'model' (train.py's ckpt.pt); found {found}"
        )
    args = model_args(ckpt["model_args"], source)
    if dropout is not None:
        args["dropout"] = dropout
    state = gpt_state(strip_prefixes(ckpt["model"]), source)
    model = build_gpt(args, state, source, copy=False, norm="pre", activation="gelu")
    return attach(model, PretrainedInfo(source=source, family="nanogpt"))  # type: ignore[return-value]


def model_args(args: Mapping[str, Any], source: str) -> dict[str, Any]:
    unknown = sorted(set(args) - set(MODEL_ARGS))
    if unknown:
        raise UnsupportedConfigError(
            f"{source}: model_args field {unknown[0]!r} is not one reslab's GPT can express; "
            f"accepted: {', '.join(MODEL_ARGS)}"
        )
    missing = [k for k in MODEL_ARGS if k not in args]
    if missing:
        raise UnsupportedConfigError(f"{source}: model_args lacks {missing[0]!r}; needed: "
                                     f"{', '.join(MODEL_ARGS)}")  # fmt: skip
    return dict(args)
