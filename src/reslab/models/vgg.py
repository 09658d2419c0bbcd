"""VGG (Simonyan & Zisserman 2015): the plain baseline of He et al. 2015 (Fig. 3, left).

The layout and state-dict keys follow torchvision's ``vgg19`` / ``vgg19_bn``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reslab.nn.checkpoint import Checkpointable, checkpoint_module

# Channels per conv, "M" for a 2x2 max-pool (configuration E of Simonyan & Zisserman, Table 1).
VGG19_LAYOUT: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip


class VGG(Checkpointable, nn.Module):
    def __init__(
        self,
        layout: Sequence[int | str] = VGG19_LAYOUT,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        batch_norm: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.dims = 2
        self.features = _features(layout, in_channels, batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        # The head reads the last conv's width, so a custom layout need not end at 512 channels.
        self.num_features = [c for c in layout if isinstance(c, int)][-1] * 7 * 7
        self.classifier = nn.Sequential(
            nn.Linear(self.num_features, 4096), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )  # fmt: skip
        self.default_input_size = (in_channels, 224, 224)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    @property
    def blocks(self) -> list[nn.Module]:
        return []  # no residual blocks: VGG is the plain reference

    @property
    def stages(self) -> list[nn.Sequential]:
        # The conv groups between max-pools (Simonyan & Zisserman, Table 1), as views over
        # `features` so the state-dict keys stay torchvision's `features.N`.
        stages, start = [], 0
        for i, layer in enumerate(self.features):
            if isinstance(layer, nn.MaxPool2d):
                stages.append(self.features[start : i + 1])
                start = i + 1
        if start < len(self.features):  # a custom layout need not end with a pool
            stages.append(self.features[start:])
        return stages

    def check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"VGG expects images (N, C, H, W) with C={self.in_channels} channels; got input "
                f"of shape {tuple(x.shape)}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if not (self.grad_checkpointing and self.training and torch.is_grad_enabled()):
            return self.features(x)
        for stage in self.stages:
            x = checkpoint_module(stage, x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _features(layout: Sequence[int | str], in_ch: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for item in layout:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        assert isinstance(item, int)
        layers.append(nn.Conv2d(in_ch, item, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        in_ch = item
    return nn.Sequential(*layers)
