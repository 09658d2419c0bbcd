"""DenseNets (Huang et al. 2017, "Densely Connected Convolutional Networks"): dense blocks joined
by transitions, with torchvision's layout and state-dict keys (``features.denseblock1.denselayer1
.norm1.weight``, ...), so its ImageNet weights load with ``strict=True``.

One class backs every depth; a builder is its configuration. ``blocks`` lists the dense layers,
each with a ``branch`` (H_l) and a ``shortcut`` (the identity into the concatenation).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from functools import partial
from typing import Literal

import torch
from torch import nn

from reslab.blocks.dense import DenseBlock, DenseLayer, Transition
from reslab.models.registry import register_model
from reslab.nn.layers import check_dims, conv, global_avg_pool, he_init, max_pool, norm

Stem = Literal["cifar", "imagenet"]


class DenseNet(nn.Module):
    def __init__(
        self,
        block_layers: Sequence[int],
        *,
        growth_rate: int = 32,
        num_init_features: int = 64,
        bn_size: int | None = 4,
        compression: float = 0.5,
        stem: Stem = "imagenet",
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
        num_classes: int = 1000,
        in_channels: int = 3,
        dims: int = 2,
    ) -> None:
        super().__init__()
        self.dims = check_dims(dims)
        self.in_channels = in_channels
        if not 0 < compression <= 1:
            raise ValueError(f"compression={compression} must be in (0, 1]")
        self.features = nn.Sequential(_stem(stem, in_channels, num_init_features, dims))
        channels = num_init_features
        self.stage_names: list[str] = []
        for i, layers in enumerate(block_layers):
            block = DenseBlock(
                layers, channels, growth_rate, bn_size=bn_size, dims=dims,
                drop_rate=drop_rate, memory_efficient=memory_efficient,
            )  # fmt: skip
            self.stage_names.append(f"denseblock{i + 1}")
            self.features.add_module(self.stage_names[-1], block)
            channels = block.out_channels
            if i < len(block_layers) - 1:
                out = int(channels * compression)
                self.features.add_module(f"transition{i + 1}", Transition(channels, out, dims))
                channels = out
        # The last block ends with BN-ReLU before the pooling (section 3, "Implementation
        # Details"); torchvision applies that ReLU functionally, so it has no state key here.
        self.features.add_module(f"norm{len(block_layers) + 1}", norm(dims, channels))
        self.final_relu = nn.ReLU(inplace=True)
        self.avgpool = global_avg_pool(dims)
        self.num_features = channels
        self.classifier = nn.Linear(channels, num_classes)
        self.growth_rate = growth_rate
        self.default_input_size = _natural_input(stem, in_channels, dims)
        self._init_weights()

    def _init_weights(self) -> None:
        # As the paper's Torch code (built on fb.resnet.torch), with a zero fc bias.
        he_init(self)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    @property
    def stages(self) -> list[DenseBlock]:
        return [getattr(self.features, name) for name in self.stage_names]

    @property
    def blocks(self) -> list[DenseLayer]:
        return [layer for stage in self.stages for layer in stage.children()]  # type: ignore[misc]

    @property
    def memory_efficient(self) -> bool:
        return all(stage.memory_efficient for stage in self.stages)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        # torchvision's memory_efficient: recompute each layer's concatenation-BN-ReLU-conv in
        # backward (Pleiss et al. 2017), so the trainer's checkpointing switch means the same.
        for stage in self.stages:
            stage.memory_efficient = enable

    def check_input(self, x: torch.Tensor) -> None:
        if x.dim() != self.dims + 2 or x.shape[1] != self.in_channels:
            kind = "sequences (N, C, L)" if self.dims == 1 else "images (N, C, H, W)"
            raise ValueError(
                f"DenseNet expects {kind} with C={self.in_channels} channels; "
                f"got input of shape {tuple(x.shape)}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.final_relu(self.features(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _stem(stem: Stem, in_ch: int, width: int, dims: int) -> OrderedDict[str, nn.Module]:
    if stem == "cifar":  # one 3x3 conv; the first dense layer normalises its input (section 3)
        return OrderedDict(conv0=conv(dims, in_ch, width, 3))
    if stem == "imagenet":  # 7x7 conv stride 2, BN-ReLU, 3x3 max-pool stride 2 (Table 1)
        return OrderedDict(
            conv0=conv(dims, in_ch, width, 7, 2),
            norm0=norm(dims, width),
            relu0=nn.ReLU(inplace=True),
            pool0=max_pool(dims),
        )
    raise ValueError(f"stem={stem!r}; accepted values: cifar, imagenet")


def _natural_input(stem: Stem, in_channels: int, dims: int) -> tuple[int, ...]:
    if dims == 1:
        return (in_channels, 40)  # MNIST-1D sequences (Greydanus & Kobak 2020)
    side = 224 if stem == "imagenet" else 32
    return (in_channels, side, side)


def layers_per_block(depth: int, bottleneck: bool = True) -> int:
    # depth = 3 blocks * n layers * convs per layer + the stem conv, 2 transitions and the fc.
    convs_per_layer = 2 if bottleneck else 1
    n, rest = divmod(depth - 4, 3 * convs_per_layer)
    if rest or n < 1:
        step = 3 * convs_per_layer
        raise ValueError(
            f"depth={depth} does not fit a 3-block {'DenseNet-BC' if bottleneck else 'DenseNet'}; "
            f"it must be {step}n+4 (e.g. {step + 4}, {2 * step + 4}, ...)"
        )
    return n


def cifar_densenet(
    depth: int,
    growth_rate: int = 12,
    *,
    bottleneck: bool = True,
    compression: float | None = None,
    drop_rate: float = 0.0,
    memory_efficient: bool = False,
    num_classes: int = 10,
    in_channels: int = 3,
    dims: int = 2,
) -> DenseNet:
    """Three dense blocks on 32x32 inputs (section 3, "Implementation Details").

    DenseNet (``bottleneck=False``): (depth - 4) / 3 BN-ReLU-conv(3x3) layers per block, 16
    initial channels, no compression. DenseNet-BC: (depth - 4) / 6 bottleneck layers per block,
    2k initial channels, compression 0.5. Depth counts the stem conv, the layers' convs, the two
    transition convs and the classifier.
    """
    n = layers_per_block(depth, bottleneck)
    return DenseNet(
        (n, n, n),
        growth_rate=growth_rate,
        num_init_features=2 * growth_rate if bottleneck else 16,
        bn_size=4 if bottleneck else None,
        compression=(0.5 if bottleneck else 1.0) if compression is None else compression,
        stem="cifar",
        drop_rate=drop_rate,
        memory_efficient=memory_efficient,
        num_classes=num_classes,
        in_channels=in_channels,
        dims=dims,
    )


def imagenet_densenet(
    block_layers: Sequence[int],
    growth_rate: int = 32,
    num_init_features: int = 64,
    *,
    drop_rate: float = 0.0,
    memory_efficient: bool = False,
    num_classes: int = 1000,
    in_channels: int = 3,
) -> DenseNet:
    # DenseNet-BC on ImageNet (section 4.1, Table 1): bottleneck 4k, compression 0.5.
    return DenseNet(
        block_layers, growth_rate=growth_rate, num_init_features=num_init_features,
        drop_rate=drop_rate, memory_efficient=memory_efficient, num_classes=num_classes,
        in_channels=in_channels,
    )  # fmt: skip


_HUANG = "Huang et al. 2017, Densely Connected Convolutional Networks"
# Table 2 (CIFAR, k = 12): DenseNet depth 40 has 1.0M parameters, DenseNet-BC depth 100 0.8M.
register_model(
    "densenet40",
    partial(cifar_densenet, 40, bottleneck=False),
    family="cifar-dense",
    source=_HUANG + ", Table 2",
    paper_params=1.0e6,
)
register_model(
    "densenet_bc100",
    partial(cifar_densenet, 100),
    family="cifar-dense",
    source=_HUANG + ", Table 2 (DenseNet-BC, k = 12)",
    paper_params=0.8e6,
)
# Table 1 (ImageNet, k = 32); the paper's Table 3 and torchvision give the same layer counts.
for _name, _layers in (
    ("densenet121", (6, 12, 24, 16)),
    ("densenet169", (6, 12, 32, 32)),
    ("densenet201", (6, 12, 48, 32)),
):
    register_model(
        _name,
        partial(imagenet_densenet, _layers),
        family="imagenet-dense",
        source=_HUANG + ", Table 1",
    )
