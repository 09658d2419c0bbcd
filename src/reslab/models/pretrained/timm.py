"""timm's ResNets (``timm.create_model("resnet50")``, in memory or as a saved state dict) as
reslab's ImageNet ResNet. timm's ``resnet18 ... 152`` (and ResNeXt / wide variants) keep
torchvision's keys and computation: a 7x7 stem, stride on the 3x3 conv, a strided 1x1
projection. Its ``c/d/s/t`` variants (``resnet50d``: deep stem, average-pool downsampling) and
SE-ResNets are refused with the feature reslab cannot express.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reslab.models.pretrained._common import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PretrainedError,
    PretrainedInfo,
    UnsupportedConfigError,
    attach,
    read_state_file,
    strip_prefixes,
)
from reslab.models.pretrained.torchvision import resnet_from_state, unsupported_features
from reslab.models.registry import create_model, list_models

# What a training checkpoint nests its weights under (timm's train.py: "state_dict").
_NESTED = ("state_dict", "model", "state_dict_ema")


def load_timm(model: str | nn.Module, *, model_file: str | Path | None = None) -> nn.Module:
    """A timm ResNet as reslab's, in eval mode: ``model`` a timm model, or its architecture name
    with ``model_file`` (a state dict, or a checkpoint holding one under ``state_dict``) or
    without one (timm downloads its pretrained weights)."""
    if isinstance(model, nn.Module):
        cfg = dict(getattr(model, "pretrained_cfg", None) or {})
        arch = cfg.get("architecture", type(model).__name__)
        state: Mapping[str, torch.Tensor] = model.state_dict()
        source = f"timm:{arch}"
    elif model_file is not None:
        arch, source = model, f"timm:{model} ({model_file})"
        state = unwrap(read_state_file(model_file), source)
        cfg = _default_cfg(arch)
    else:
        return load_timm(_create_pretrained(model))
    features = unsupported_features(state)
    if features:
        raise UnsupportedConfigError(f"{source}: not supported: {'; '.join(features)}")
    net = resnet_from_state(state, source, copy=isinstance(model, nn.Module))
    _check_named_layout(net, arch, source)
    return attach(net, _info(source, cfg))


def _check_named_layout(net: nn.Module, arch: str, source: str) -> None:
    """Weights of another depth or width than the name says are refused: ``timm:resnet50`` with
    a ResNet-18's file would otherwise load, silently, as a ResNet-18."""
    name = arch.split(".")[0]  # timm's "resnet50.a1_in1k": architecture.tag
    if name not in list_models():
        return  # a layout reslab has no name for (resnet26, resnet200): the keys decide
    with torch.device("meta"):
        named = create_model(name, num_classes=net.fc.out_features,
                             in_channels=net.in_channels)  # fmt: skip
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    if ours != {k: tuple(v.shape) for k, v in named.state_dict().items()}:
        layers = [len(stage) for stage in net.stages]
        raise UnsupportedConfigError(
            f"{source}: the weights are a {net.block_kind} ResNet with blocks {layers}, not "
            f"{name}; accepted: {name}'s weights, or the architecture they belong to"
        )


def unwrap(ckpt: Any, source: str) -> dict[str, torch.Tensor]:
    """The state dict of a file: itself, or nested under a training checkpoint's key, without
    the ``module.`` / ``_orig_mod.`` prefixes of wrapped models."""
    if not isinstance(ckpt, Mapping):
        raise PretrainedError(f"{source}: the file holds a {type(ckpt).__name__}; accepted: a "
                              "state dict (name -> tensor)")  # fmt: skip
    for key in _NESTED:
        if isinstance(ckpt.get(key), Mapping):
            ckpt = ckpt[key]
            break
    return strip_prefixes(ckpt)


def _info(source: str, cfg: Mapping[str, Any]) -> PretrainedInfo:
    crop = int(cfg.get("input_size", (3, 224, 224))[-1])
    # timm's eval transform: resize to floor(crop / crop_pct), then centre-crop (timm.data).
    resize = math.floor(crop / cfg.get("crop_pct", 0.875))
    return PretrainedInfo(
        source=source, family="timm", mean=tuple(cfg.get("mean", IMAGENET_MEAN)),
        std=tuple(cfg.get("std", IMAGENET_STD)), resize=resize, crop=crop,
    )  # fmt: skip


def _timm() -> Any:
    try:
        import timm
    except ImportError:
        raise PretrainedError(
            "timm is not installed; accepted: pip install 'reslab[hub]' (or pass a state dict "
            "file, which needs no timm)"
        ) from None
    return timm


def _default_cfg(arch: str) -> dict[str, Any]:
    try:
        cfg = _timm().models.get_pretrained_cfg(arch)
    except (PretrainedError, RuntimeError, ValueError):
        return {}
    return cfg.to_dict() if cfg is not None else {}


def _create_pretrained(name: str) -> nn.Module:
    timm = _timm()
    try:
        return timm.create_model(name, pretrained=True)
    except Exception as err:
        lines = [x.strip() for x in str(err).splitlines() if x.strip()]
        raise PretrainedError(
            f"timm:{name}: timm could not create it with pretrained weights "
            f"({lines[0] if lines else type(err).__name__}); offline, pass --model-file"
        ) from None
