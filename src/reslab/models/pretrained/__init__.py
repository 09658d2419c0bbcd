"""Bring your own model: trained weights from other code as reslab models, so the probes and
lesion tools run on them. One front door, ``load_pretrained(source)``:

=================================  ==========================================================
``nanogpt:PATH/ckpt.pt``           a nanoGPT checkpoint (``nanogpt.py``)
``gpt2:FOLDER`` / ``gpt2:FILE``    Hugging Face GPT-2, saved by ``save_pretrained`` (``gpt2.py``)
``timm:ARCH`` + ``model_file=``    a timm ResNet's state dict; without a file timm downloads
``NAME:WEIGHTS``                   torchvision's weights, e.g. ``resnet50:IMAGENET1K_V2``
a path without a prefix            told apart by its content: a folder with config.json is
                                   GPT-2, a dict with ``model_args`` nanoGPT, a state dict with
                                   ``conv1``/``layer1`` keys a torchvision-layout ResNet
a ``GPT2LMHeadModel`` / timm model converted in memory
=================================  ==========================================================

Every loader returns the model in eval mode with ``model.pretrained_info`` (a ``PretrainedInfo``:
source, family and, for ImageNet weights, their normalisation and resize/crop), and refuses what
reslab's model cannot express with one ``PretrainedError`` line naming the key or config field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from reslab.models.pretrained._common import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PretrainedError,
    PretrainedInfo,
    UnmappedKeyError,
    UnsupportedConfigError,
    attach,
    existing,
    read_state_file,
)
from reslab.models.pretrained.gpt2 import load_gpt2
from reslab.models.pretrained.nanogpt import load_nanogpt, nanogpt_from_checkpoint
from reslab.models.pretrained.timm import load_timm, unwrap
from reslab.models.pretrained.torchvision import (
    TORCHVISION_NAMES,
    load_torchvision,
    resnet_from_state,
)

FORMATS = (
    "nanogpt:PATH",
    "gpt2:PATH",
    "timm:ARCH",
    "NAME:WEIGHTS (torchvision, e.g. resnet50:IMAGENET1K_V2)",
    "a path to a checkpoint, state dict or GPT-2 folder",
)


def load_pretrained(source: str | Path | nn.Module, **kwargs: Any) -> nn.Module:
    """A reslab model, in eval mode, computing what ``source`` computes (see the module's table).
    ``kwargs`` go to the family's loader: ``dropout`` (nanoGPT, GPT-2), ``config`` (GPT-2),
    ``model_file`` (timm), ``progress`` (torchvision)."""
    if isinstance(source, nn.Module):
        return _from_module(source, **kwargs)
    text = str(source)
    prefix, sep, rest = text.partition(":")
    if sep and prefix == "nanogpt":
        return load_nanogpt(rest, **kwargs)
    if sep and prefix == "gpt2":
        return load_gpt2(rest, **kwargs)
    if sep and prefix == "timm":
        return load_timm(rest, **kwargs)
    if sep and prefix in TORCHVISION_NAMES:
        return load_torchvision(prefix, rest or "DEFAULT", **kwargs)
    if sep and not Path(text).exists():
        raise PretrainedError(f"source {text!r} has an unknown prefix {prefix!r}; accepted: "
                              f"{'; '.join(FORMATS)}")  # fmt: skip
    return load_file(text, **kwargs)


def load_file(path: str | Path, **kwargs: Any) -> nn.Module:
    """A path without a prefix, told apart by what it holds."""
    path = existing(path, "model file or folder")
    if path.is_dir():
        return load_gpt2(path, **kwargs)
    if path.suffix == ".safetensors" and (path.parent / "config.json").is_file():
        return load_gpt2(path, **kwargs)
    content = read_state_file(path)
    if isinstance(content, dict) and "model_args" in content:
        return nanogpt_from_checkpoint(content, f"nanogpt:{path}", **kwargs)
    state = unwrap(content, str(path))
    if "conv1.weight" in state or "layer1.0.conv1.weight" in state:
        if kwargs:
            raise PretrainedError(f"{path}: a ResNet state dict takes no options; got "
                                  f"{sorted(kwargs)}")  # fmt: skip
        model = resnet_from_state(state, str(path), copy=False)
        return attach(model, PretrainedInfo(source=str(path), family="state_dict"))
    raise PretrainedError(
        f"{path}: cannot tell what model it holds (keys {sorted(state)[:3]}); accepted: "
        f"{'; '.join(FORMATS)}"
    )


def _from_module(model: nn.Module, **kwargs: Any) -> nn.Module:
    module = type(model).__module__
    if module.startswith("transformers.") and type(model).__name__ == "GPT2LMHeadModel":
        return load_gpt2(model, **kwargs)
    if module.startswith("timm."):
        return load_timm(model, **kwargs)
    raise PretrainedError(
        f"a {type(model).__name__} from {module} cannot be converted; accepted: transformers' "
        "GPT2LMHeadModel, timm ResNets"
    )


__all__ = [
    "FORMATS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TORCHVISION_NAMES",
    "PretrainedError",
    "PretrainedInfo",
    "UnmappedKeyError",
    "UnsupportedConfigError",
    "load_gpt2",
    "load_nanogpt",
    "load_pretrained",
    "load_timm",
    "load_torchvision",
]
