"""Hugging Face GPT-2 (``transformers``' ``GPT2LMHeadModel``, in memory or saved in its layout) as
reslab's ``GPT``. GPT-2 is the model nanoGPT reproduces: the same pre-LN blocks and keys, with
three differences this module undoes or checks:

- GPT-2's projections are ``Conv1D`` layers whose weight is stored (in, out), the transpose of
  ``nn.Linear``'s (out, in);
- its MLP uses the tanh approximation of GELU (``activation_function="gelu_new"``), which reslab's
  GPT offers as ``activation="gelu_tanh"``;
- every layer has biases (``bias=True``), and LayerNorm's epsilon is a config field (1e-5 in
  every released GPT-2, as reslab's).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reslab.models.gpt import GPT
from reslab.models.pretrained._common import (
    PretrainedError,
    PretrainedInfo,
    UnsupportedConfigError,
    attach,
    existing,
    read_state_file,
    strip_prefixes,
)
from reslab.models.pretrained.nanogpt import build_gpt, gpt_state

# transformers' activation names -> reslab's GPT ``activation``.
ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu": "gelu"}
LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default, which reslab's GPT uses
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
# Conv1D layers: their weights are (in, out) and are transposed for nn.Linear.
_CONV1D = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")


def load_gpt2(
    source: str | Path | nn.Module, *, config: str | Path | Mapping[str, Any] | None = None,
    dropout: float | None = None,
) -> GPT:  # fmt: skip
    """A GPT-2 as reslab's GPT in eval mode, from a ``GPT2LMHeadModel``, a folder written by its
    ``save_pretrained`` (config.json and model.safetensors, a sharded index or pytorch_model.bin)
    or a weights file with ``config`` (a dict, a config.json, or None: config.json beside it).
    ``dropout``: None keeps the config's."""
    if isinstance(source, nn.Module):
        name = f"gpt2:<{type(source).__name__}>"
        cfg = source.config.to_dict()  # type: ignore[union-attr, operator]
        state: Mapping[str, torch.Tensor] = source.state_dict()
    else:
        name = f"gpt2:{source}"
        cfg, state = _read(existing(source, "GPT-2 folder or weights file"), config)
    args = gpt_args(cfg, name)
    if dropout is not None:
        args["dropout"] = dropout
    in_memory = isinstance(source, nn.Module)
    model = build_gpt(args, gpt_state(_nanogpt_keys(state), name), name, copy=in_memory,
                      norm="pre", bias=True)  # fmt: skip
    return attach(model, PretrainedInfo(source=name, family="gpt2"))  # type: ignore[return-value]


def gpt_args(cfg: Mapping[str, Any], source: str) -> dict[str, Any]:
    """reslab GPT arguments from a GPT-2 config, refusing any field it cannot express."""
    def refuse(field: str, accepted: str) -> UnsupportedConfigError:
        return UnsupportedConfigError(
            f"{source}: config {field}={cfg.get(field)!r} cannot be expressed by reslab's GPT; "
            f"accepted: {accepted}"
        )

    if cfg.get("model_type", "gpt2") != "gpt2":
        raise refuse("model_type", "gpt2")
    act = cfg.get("activation_function", "gelu_new")
    if act not in ACTIVATIONS:
        raise refuse("activation_function", ", ".join(ACTIVATIONS))
    if cfg.get("layer_norm_epsilon", LAYER_NORM_EPS) != LAYER_NORM_EPS:
        raise refuse("layer_norm_epsilon", str(LAYER_NORM_EPS))
    n_embd = cfg["n_embd"]
    if cfg.get("n_inner") not in (None, 4 * n_embd):
        raise refuse("n_inner", f"None or 4 * n_embd = {4 * n_embd}")
    fixed = {"scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
             "add_cross_attention": False, "tie_word_embeddings": True}  # fmt: skip
    for field, value in fixed.items():
        if cfg.get(field, value) != value:
            raise refuse(field, str(value))
    drops = {f: cfg.get(f, 0.1) for f in ("resid_pdrop", "embd_pdrop", "attn_pdrop")}
    if len(set(drops.values())) > 1:
        raise refuse("attn_pdrop", f"one dropout rate for all three ({drops})")
    return {"vocab_size": cfg["vocab_size"], "block_size": cfg["n_positions"],
            "n_layer": cfg["n_layer"], "n_head": cfg["n_head"], "n_embd": n_embd,
            "dropout": drops["resid_pdrop"], "activation": ACTIVATIONS[act]}  # fmt: skip


def _nanogpt_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """GPT-2's keys in nanoGPT's spelling (``transformer.`` prefix: OpenAI's own upload omits it)
    and its Conv1D weights as Linear ones."""
    out = {}
    for key, value in strip_prefixes(state).items():
        if not key.startswith(("transformer.", "lm_head.")):
            key = f"transformer.{key}"
        out[key] = value.t() if key.endswith(_CONV1D) and value.dim() == 2 else value
    return out


def _read(
    path: Path, config: str | Path | Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    folder = path if path.is_dir() else path.parent
    if isinstance(config, Mapping):
        cfg = dict(config)
    else:
        cfg_path = Path(config) if config is not None else folder / "config.json"
        cfg = _json(existing(cfg_path, "GPT-2 config.json"))
    if not path.is_dir():
        return cfg, read_state_file(path)
    for name in WEIGHT_FILES:
        if (path / name).is_file():
            return cfg, _weights(path / name)
    raise PretrainedError(f"{path} holds no GPT-2 weights; accepted: {', '.join(WEIGHT_FILES)}")


def _weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.name.endswith(".index.json"):
        return read_state_file(path)
    shards = sorted(set(_json(path).get("weight_map", {}).values()))
    state: dict[str, torch.Tensor] = {}
    for shard in shards:
        state.update(read_state_file(path.parent / shard))
    return state


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise PretrainedError(f"cannot read {path}: {err}") from None
