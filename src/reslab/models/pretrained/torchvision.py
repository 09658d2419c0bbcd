"""torchvision's ImageNet weights (``resnet50:IMAGENET1K_V2``) and any state dict in torchvision's
ResNet layout, as reslab models. reslab's ImageNet ResNets, VGG-19 and DenseNets share
torchvision's keys (``tests/models/test_torchvision_parity.py``), so the keys pass unchanged;
what this module adds is finding the weights (torchvision's own enums, download and cache) and
refusing, by key, anything reslab's model does not have.

torchvision caches a download at ``$TORCH_HOME/hub/checkpoints/<the URL's file name>``
(``torch.hub.load_state_dict_from_url``); a file already there is loaded without the network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reslab.models.imagenet import imagenet_resnet
from reslab.models.pretrained._common import (
    PretrainedError,
    PretrainedInfo,
    UnsupportedConfigError,
    attach,
    fill,
    remap,
)
from reslab.models.registry import create_model

# reslab models whose keys are torchvision's (the names are torchvision's builders too).
TORCHVISION_NAMES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                     "resnext50_32x4d", "wide_resnet50_2", "vgg19", "densenet121",
                     "densenet169", "densenet201")  # fmt: skip

_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
RESNET_RULES = (
    (r"conv1\.weight", r"\g<0>"),
    (rf"bn1\.{_BN}", r"\g<0>"),
    (rf"layer\d+\.\d+\.(conv\d\.weight|bn\d\.{_BN})", r"\g<0>"),
    (rf"layer\d+\.\d+\.downsample\.(0\.weight|1\.{_BN})", r"\g<0>"),
    (r"fc\.(weight|bias)", r"\g<0>"),
)
# Layouts near torchvision's that reslab's ResNet cannot express, told apart by a key.
_UNSUPPORTED = (
    (r"conv1\.0\.weight", "a deep stem (conv1.0, conv1.3, conv1.6: three 3x3 convs, timm's "
                          "c/d/s/t variants) where reslab has one 7x7 conv"),
    (r"layer\d+\.\d+\.downsample\.2\..*", "average-pool downsampling (downsample.0 an AvgPool "
                                          "before the 1x1 conv, timm's d/t variants) where reslab "
                                          "has a strided 1x1 projection"),
    (r".*\.se\..*", "squeeze-and-excitation modules"),
)
# torchvision's DenseNet weights predate its module names: "norm.1" is today's "norm1"
# (torchvision.models.densenet._load_state_dict does the same renaming).
_DENSENET_OLD = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def unsupported_features(state: Mapping[str, Any]) -> list[str]:
    """What in ``state`` reslab's ResNet lacks, one phrase per feature, naming its first key."""
    found = []
    for pattern, what in _UNSUPPORTED:
        key = next((k for k in state if re.fullmatch(pattern, k)), None)
        if key is not None:
            found.append(f"{what} ({key})")
    return found


def resnet_from_state(
    state: Mapping[str, torch.Tensor], source: str, *, copy: bool = True
) -> nn.Module:
    """An ImageNet ResNet (any depth; ResNeXt and wide variants) built from what the state dict's
    keys and shapes say: blocks per stage, basic or bottleneck, groups and width, classes and
    input channels. Refused, naming the key, where the layout is not torchvision's."""
    features = unsupported_features(state)
    if features:
        raise UnsupportedConfigError(f"{source}: not supported: {'; '.join(features)}")
    state = remap(state, RESNET_RULES, source=source)
    for key in ("conv1.weight", "fc.weight", "layer1.0.conv1.weight"):
        if key not in state:
            raise PretrainedError(f"{source}: no {key!r}; accepted: torchvision's ResNet keys "
                                  "(conv1, bn1, layer1.0.conv1, ..., fc)")  # fmt: skip
    stem = state["conv1.weight"]
    if tuple(stem.shape[0:1]) + tuple(stem.shape[2:]) != (64, 7, 7):
        raise UnsupportedConfigError(
            f"{source}: conv1.weight has shape {tuple(stem.shape)}; reslab's ImageNet stem is "
            "64 filters of 7x7 (accepted: (64, C, 7, 7))"
        )
    stages = sorted({int(k.split(".")[0][5:]) for k in state if k.startswith("layer")})
    layers = [len({k.split(".")[1] for k in state if k.startswith(f"layer{i}.")}) for i in stages]
    kwargs: dict[str, Any] = {"num_classes": state["fc.weight"].shape[0],
                              "in_channels": stem.shape[1]}  # fmt: skip
    block = "bottleneck" if "layer1.0.conv3.weight" in state else "basic"
    if block == "bottleneck":
        conv2 = state["layer1.0.conv2.weight"]  # (width, width / groups, 3, 3)
        groups = conv2.shape[0] // conv2.shape[1]
        kwargs |= {"groups": groups, "width_per_group": conv2.shape[0] // groups}
    return fill(lambda: imagenet_resnet(layers, block, **kwargs), state, source, copy=copy)


def load_torchvision(name: str, weights: str = "DEFAULT", *, progress: bool = False) -> nn.Module:
    """``name`` (a reslab model with torchvision's layout) with torchvision's ``weights`` (a
    member of its weights enum, e.g. IMAGENET1K_V2, or DEFAULT), downloaded and cached by
    torchvision; in eval mode, ``pretrained_info`` holding the weights' preprocessing."""
    from torchvision.models import get_model_weights, get_weight

    source = f"{name}:{weights}"
    if name not in TORCHVISION_NAMES:
        raise PretrainedError(f"{source}: model {name!r} has no torchvision weights in reslab; "
                              f"accepted: {', '.join(TORCHVISION_NAMES)}")  # fmt: skip
    enum = get_model_weights(name)
    accepted = ["DEFAULT", *(m.name for m in enum)]
    if weights not in accepted:
        raise PretrainedError(f"{source}: weights {weights!r} are not torchvision's for {name}; "
                              f"accepted: {', '.join(accepted)}")  # fmt: skip
    chosen = get_weight(f"{enum.__name__}.{weights}")
    state = _download(chosen, progress, source)
    if name.startswith("densenet"):
        state = {_DENSENET_OLD.sub(r"\1\2", k): v for k, v in state.items()}
    num_classes = len(chosen.meta["categories"])
    model = fill(lambda: create_model(name, num_classes=num_classes), state, source, copy=False)
    t = chosen.transforms()
    info = PretrainedInfo(
        source=source, family="torchvision", mean=tuple(t.mean), std=tuple(t.std),
        resize=int(t.resize_size[0]), crop=int(t.crop_size[0]),
        classes=list(chosen.meta["categories"]),
    )  # fmt: skip
    return attach(model, info)


def cache_path(url: str) -> Path:
    """Where ``torch.hub.load_state_dict_from_url`` keeps ``url``: ``<hub dir>/checkpoints/<the
    URL's file name>``, the hub dir ``$TORCH_HOME/hub`` (``torch.hub.get_dir()``)."""
    from urllib.parse import urlparse

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def _download(weights: Any, progress: bool, source: str) -> dict[str, torch.Tensor]:
    try:
        # As torchvision's builders: check_hash compares a fresh download with the hash prefix in
        # its file name (resnet50-11ad3fa6.pth); a cached file is trusted as it is.
        return weights.get_state_dict(progress=progress, check_hash=True, weights_only=True)
    except (OSError, RuntimeError) as err:  # URLError is an OSError; hash mismatch RuntimeError
        lines = [x.strip() for x in str(err).splitlines() if x.strip()]
        reason = lines[-1] if lines else type(err).__name__
        raise PretrainedError(
            f"{source}: cannot download {weights.url} to {cache_path(weights.url)} ({reason}); "
            "without a network, put the file there"
        ) from None
