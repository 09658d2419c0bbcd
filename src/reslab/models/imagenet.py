"""ImageNet nets (He et al. 2015, Table 1) with torchvision's layout and state-dict keys."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from reslab.models.registry import register_model
from reslab.models.resnet import ResNet, Stage
from reslab.models.vgg import VGG
from reslab.nn.mappings import get_mapping


def imagenet_resnet(
    layers: Sequence[int],
    block: str = "basic",
    *,
    shortcut: str = "B",
    num_classes: int = 1000,
    in_channels: int = 3,
    zero_init_residual: bool = False,
    drop_path_rate: float = 0.0,
    groups: int = 1,
    width_per_group: int = 64,
    stride_in_1x1: bool = False,
    placement: str | None = None,
    mapping: str = "identity",
    gate_bias: float | None = None,
) -> ResNet:
    # The placements and shortcut mappings of He et al. 2016 (Fig. 4, Fig. 2), as on CIFAR.
    kwargs: dict[str, Any] = {"placement": placement, "mapping": get_mapping(mapping, gate_bias)}
    if block == "bottleneck":
        kwargs |= {"groups": groups, "base_width": width_per_group, "stride_in_1x1": stride_in_1x1}
    elif (groups, width_per_group, stride_in_1x1) != (1, 64, False):
        raise ValueError(
            "groups / width_per_group / stride_in_1x1 only apply to block='bottleneck'; "
            f"got block={block!r}"
        )
    stages = [Stage(n, 64 * 2**i, 1 if i == 0 else 2) for i, n in enumerate(layers)]
    return ResNet(
        stages,
        block=block,
        stem="imagenet",
        stem_width=64,
        num_classes=num_classes,
        in_channels=in_channels,
        dims=2,
        shortcut=shortcut,
        zero_init_residual=zero_init_residual,
        drop_path_rate=drop_path_rate,
        block_kwargs=kwargs,
    )


def vgg19(*, num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False) -> VGG:
    return VGG(num_classes=num_classes, in_channels=in_channels, batch_norm=batch_norm)


_HE2015 = "He et al. 2015, Deep Residual Learning, Table 1"
# "FLOPs" in He et al. Table 1 are multiply-adds.
for _name, _layers, _block, _macs in (
    ("resnet18", (2, 2, 2, 2), "basic", 1.8e9),
    ("resnet34", (3, 4, 6, 3), "basic", 3.6e9),
    ("resnet50", (3, 4, 6, 3), "bottleneck", 3.8e9),
    ("resnet101", (3, 4, 23, 3), "bottleneck", 7.6e9),
    ("resnet152", (3, 8, 36, 3), "bottleneck", 11.3e9),
):
    register_model(
        _name,
        partial(imagenet_resnet, _layers, _block),
        family="imagenet",
        source=_HE2015,
        paper_macs=_macs,
    )
for _name, _layers in (("plain18", (2, 2, 2, 2)), ("plain34", (3, 4, 6, 3))):
    register_model(
        _name,
        partial(imagenet_resnet, _layers, "basic", shortcut="none"),
        family="imagenet-plain",
        source=_HE2015 + " (plain baselines, Table 2)",
        paper_macs=1.8e9 if _name == "plain18" else 3.6e9,
    )
register_model(
    "resnext50_32x4d",
    partial(imagenet_resnet, (3, 4, 6, 3), "bottleneck", groups=32, width_per_group=4),
    family="imagenet",
    source="Xie et al. 2017, ResNeXt, Table 1",
    paper_params=25.0e6,
    paper_macs=4.2e9,
)
register_model(
    "wide_resnet50_2",
    partial(imagenet_resnet, (3, 4, 6, 3), "bottleneck", width_per_group=128),
    family="imagenet",
    source="Zagoruyko & Komodakis 2016, WRN-50-2-bottleneck, Table 9",
    paper_params=68.9e6,
)
register_model(
    "vgg19",
    vgg19,
    family="imagenet-plain",
    source="Simonyan & Zisserman 2015, config E; He et al. 2015, Fig. 3",
    paper_params=144e6,
    paper_macs=19.6e9,
)
