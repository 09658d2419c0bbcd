"""One ResNet class for every family: a stem, stages of residual blocks, a pooled linear head.

Depth, width, block kind and shortcut are configuration; the CIFAR, ImageNet, pre-activation and
plain networks are all instances of this class (a plain net is ``shortcut="none"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from reslab.blocks import ResidualBlock, get_block
from reslab.blocks.layout import lead, post_ops
from reslab.nn.checkpoint import Checkpointable
from reslab.nn.drop_path import drop_path_rates
from reslab.nn.layers import check_dims, conv, global_avg_pool, he_init, max_pool, norm
from reslab.nn.shortcuts import check_shortcut

Stem = Literal["cifar", "cifar_preact", "imagenet"]


@dataclass(frozen=True)
class Stage:
    blocks: int
    planes: int
    stride: int


class ResNet(Checkpointable, nn.Module):
    def __init__(
        self,
        stages: Sequence[Stage],
        *,
        block: str = "basic",
        stem: Stem = "cifar",
        stem_width: int = 16,
        num_classes: int = 10,
        in_channels: int = 3,
        dims: int = 2,
        shortcut: str = "A",
        zero_init_residual: bool = False,
        drop_path_rate: float = 0.0,
        block_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.dims = check_dims(dims)
        self.in_channels = in_channels
        self.shortcut_kind = check_shortcut(shortcut)
        self.block_kind = block
        block_cls = get_block(block)
        self._build_stem(stem, in_channels, stem_width)
        rates = drop_path_rates(drop_path_rate, sum(s.blocks for s in stages))
        in_ch = stem_width
        self.stage_names: list[str] = []
        for i, spec in enumerate(stages):
            blocks = []
            for j in range(spec.blocks):
                stride = spec.stride if j == 0 else 1
                blocks.append(
                    block_cls(
                        in_ch,
                        spec.planes,
                        stride,
                        shortcut=shortcut,
                        dims=dims,
                        drop_path=rates.pop(0),
                        **(block_kwargs or {}),
                    )
                )
                in_ch = spec.planes * block_cls.expansion
            self.stage_names.append(f"layer{i + 1}")
            self.add_module(self.stage_names[-1], nn.Sequential(*blocks))
        self.num_features = in_ch
        self.placement = (block_kwargs or {}).get("placement") or block_cls.default_placement
        # Pre-activation nets end with the BN-ReLU the last block left out (He et al. 2016, 4.1).
        self.final_act = post_ops(lead(self.placement), dims, in_ch)
        self.avgpool = global_avg_pool(dims)
        self.fc = nn.Linear(in_ch, num_classes)
        self.default_input_size = _natural_input(stem, in_channels, dims)
        self._init_weights(zero_init_residual)

    def _build_stem(self, stem: Stem, in_channels: int, width: int) -> None:
        if stem not in ("cifar", "cifar_preact", "imagenet"):
            raise ValueError(f"stem={stem!r}; accepted values: cifar, cifar_preact, imagenet")
        kernel, stride = (7, 2) if stem == "imagenet" else (3, 1)
        self.conv1 = conv(self.dims, in_channels, width, kernel, stride)
        # A pre-activation net's first block normalises its own input, so its stem is a bare conv.
        if stem != "cifar_preact":
            self.bn1 = norm(self.dims, width)
            self.relu = nn.ReLU(inplace=True)
        if stem == "imagenet":
            self.maxpool = max_pool(self.dims)

    def _init_weights(self, zero_init_residual: bool) -> None:
        he_init(self)
        if zero_init_residual:
            for b in self.blocks:
                b.zero_init_last()

    @property
    def blocks(self) -> list[ResidualBlock]:
        return [b for name in self.stage_names for b in getattr(self, name)]

    @property
    def stages(self) -> list[nn.Sequential]:
        return [getattr(self, name) for name in self.stage_names]

    def check_input(self, x: torch.Tensor) -> None:
        expected = self.dims + 2
        if x.dim() != expected or x.shape[1] != self.in_channels:
            kind = "sequences (N, C, L)" if self.dims == 1 else "images (N, C, H, W)"
            raise ValueError(
                f"{type(self).__name__} expects {kind} with C={self.in_channels} channels; "
                f"got input of shape {tuple(x.shape)}"
            )

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if hasattr(self, "bn1"):
            x = self.relu(self.bn1(x))
        if hasattr(self, "maxpool"):
            x = self.maxpool(x)
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.final_act(self.run_blocks(self.blocks, self.forward_stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _natural_input(stem: Stem, in_channels: int, dims: int) -> tuple[int, ...]:
    if dims == 1:
        return (in_channels, 40)  # MNIST-1D sequences (Greydanus & Kobak 2020)
    side = 224 if stem == "imagenet" else 32
    return (in_channels, side, side)
