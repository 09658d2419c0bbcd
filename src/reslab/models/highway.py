"""Highway networks (Srivastava, Greff & Schmidhuber 2015, "Training Very Deep Networks",
arXiv:1507.06228) and their plain and residual twins: stacks of ``HighwayBlock`` units, each
stack entered by one plain layer that sets its width.

- ``highway_mlp``: the fully connected MNIST nets of their section 4.1 and Figure 1: a plain first
  layer, then depth - 1 highway layers of 50 units (plain: 71 units, about the same ~5,000
  parameters per layer), then the softmax layer. ``kind="residual"`` gives the residual MLP at
  the plain width (y = x + H(x), the same parameters as a plain layer).
- ``highway_cifar19``: the 19-layer convolutional highway net of their Table 3 ("Highway B",
  built like Fitnet B), as in the authors' public Caffe model (flukeskywalker/highway-networks,
  examples/highways/cifar10-19layers): dropout 0.2 on the input and after each pool; three
  stacks of a plain 3x3 conv and 4/5/5 highway 3x3 convs at 32/80/128 channels, 2x2 max-pools
  between them; a 1x1 conv to 100 channels, global average pool, dropout 0.2, the linear head.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from reslab.blocks.highway import ACTIVATIONS, HighwayBlock, UnitKind, check_kind
from reslab.models.registry import register_model
from reslab.nn.checkpoint import Checkpointable, checkpoint_module
from reslab.nn.layers import FEATURES, affine, check_dims, global_avg_pool

# Section 4.1: "each layer has 50 blocks for highway networks and 71 units for plain networks".
HIGHWAY_WIDTH, PLAIN_WIDTH = 50, 71
MNIST_DEPTHS = (10, 20, 50, 100)


@dataclass(frozen=True)
class HighwayStack:
    width: int
    units: int  # gated (or plain, or residual) units after the stack's plain entry layer
    pool: bool = False  # a 2x2 max-pool after the stack (the convolutional nets)


class HighwayNet(Checkpointable, nn.Module):
    """Stacks of units (``HighwayBlock``), each entered by a plain layer, then a linear head.

    ``unit_dims`` is FEATURES (0) for fully connected nets, which flatten their input first, or
    the data's dims for convolutional ones. Exposes the interface of ``ResNet``: ``blocks`` (the
    units, each with ``branch`` H, ``shortcut`` and ``gate``), ``stages``, ``forward_features``,
    ``forward_head``, ``check_input``, ``set_grad_checkpointing``, ``default_input_size``.
    """

    def __init__(
        self,
        stacks: Sequence[HighwayStack],
        *,
        kind: UnitKind = "highway",
        input_size: Sequence[int] = (1, 28, 28),
        unit_dims: int = FEATURES,
        num_classes: int = 10,
        kernel: int = 3,
        gate_bias: float = -2.0,
        activation: str = "relu",
        dropout: float = 0.0,
        head_width: int | None = None,
    ) -> None:
        super().__init__()
        self.kind = check_kind(kind)
        self.default_input_size = tuple(input_size)
        self.in_channels = self.default_input_size[0]
        self.dims = check_dims(len(self.default_input_size) - 1)
        self.unit_dims = unit_dims
        unit = partial(
            HighwayBlock, kind=kind, dims=unit_dims, kernel=kernel, gate_bias=gate_bias,
            activation=activation,
        )  # fmt: skip
        in_width = math.prod(input_size) if unit_dims == FEATURES else self.in_channels
        self.stage_names: list[str] = []
        for i, stack in enumerate(stacks):
            layers: OrderedDict[str, nn.Module] = OrderedDict()
            if dropout > 0:
                layers["drop"] = nn.Dropout(dropout)
            layers["entry"] = affine(unit_dims, in_width, stack.width, kernel if unit_dims else 1)
            layers["entry_act"] = ACTIVATIONS[activation]()
            for j in range(stack.units):
                layers[f"unit{j}"] = unit(stack.width)
            if stack.pool:
                layers["pool"] = nn.MaxPool2d(2) if unit_dims == 2 else nn.MaxPool1d(2)
            self.stage_names.append(f"stack{i + 1}")
            self.add_module(self.stage_names[-1], nn.Sequential(layers))
            in_width = stack.width
        self.head_conv: nn.Module | None = None
        if head_width is not None:  # the CIFAR net's 1x1 conv before the global pool
            self.head_conv = nn.Sequential(affine(unit_dims, in_width, head_width), nn.ReLU())
            in_width = head_width
        self.avgpool = nn.Identity() if unit_dims == FEATURES else global_avg_pool(unit_dims)
        self.num_features = in_width
        self.head_drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_width, num_classes)
        self._init_weights(gate_bias)

    def _init_weights(self, gate_bias: float) -> None:
        # Section 4: weights ~ N(0, 2/N) (He et al. 2015's init, N the fan-in), biases zero;
        # only the transform gates start at their own bias b_T.
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        blocks = self.blocks
        for block in blocks:
            if block.gate is not None:
                nn.init.constant_(block.gate.affine.bias, gate_bias)
            elif self.kind == "residual":
                # The paper has no residual net and this one has no BN: at N(0, 2/N) each
                # x + H(x) doubles the signal's second moment (2^99 at depth 100). x and H(x)
                # are both ReLU outputs, so their cross term is positive and first order in H's
                # scale: scaling H's weights by 1/units keeps the growth over all units bounded
                # (1/sqrt(units), Fixup's rule for two-layer branches, still grows ~50x at 50).
                with torch.no_grad():
                    block.layers[0].weight.div_(len(blocks))

    @property
    def blocks(self) -> list[HighwayBlock]:
        return [m for stage in self.stages for m in stage if isinstance(m, HighwayBlock)]

    @property
    def stages(self) -> list[nn.Sequential]:
        return [getattr(self, name) for name in self.stage_names]

    def check_input(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:2]) != (self.in_channels,) or x.dim() != self.dims + 2:
            expected = (-1, *self.default_input_size)
            raise ValueError(
                f"{type(self).__name__} expects input like {expected} ({self.dims}-D, "
                f"C={self.in_channels}); got input of shape {tuple(x.shape)}"
            )
        if self.unit_dims == FEATURES and tuple(x.shape[1:]) != self.default_input_size:
            raise ValueError(
                f"a fully connected net takes inputs of exactly {self.default_input_size}; got "
                f"{tuple(x.shape[1:])} (build it with input_size={tuple(x.shape[1:])})"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if self.unit_dims == FEATURES:
            x = torch.flatten(x, 1)
        checkpointing = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        for stage in self.stages:
            for layer in stage:
                if checkpointing and isinstance(layer, HighwayBlock) and x.requires_grad:
                    x = checkpoint_module(layer, x)
                else:
                    x = layer(x)
        return x if self.head_conv is None else self.head_conv(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def default_width(kind: str) -> int:
    return HIGHWAY_WIDTH if check_kind(kind) == "highway" else PLAIN_WIDTH


def highway_mlp(
    depth: int,
    *,
    kind: UnitKind = "highway",
    width: int | None = None,
    gate_bias: float = -2.0,
    activation: str = "relu",
    num_classes: int = 10,
    in_channels: int = 1,
    dims: int = 2,
    input_size: Sequence[int] | None = None,
) -> HighwayNet:
    """A fully connected net of ``depth`` layers before the softmax (section 4.1: "the first layer
    is a fully connected plain layer followed by 9, 19, 49, or 99 ... plain or highway layers").

    ``width`` defaults to the paper's 50 (highway) or 71 (plain, residual); ``gate_bias`` is
    b_T at initialisation (they search -1 to -10 and report -1 to -3 for depths 10 to 30);
    ``input_size`` defaults to MNIST's (C, 28, 28), or (C, 40) for MNIST-1D (dims=1).
    """
    if depth < 2:
        raise ValueError(f"depth={depth} must be >= 2 (a plain first layer, then the units)")
    size = tuple(input_size) if input_size else (in_channels, *((28, 28) if dims == 2 else (40,)))
    return HighwayNet(
        [HighwayStack(width or default_width(kind), depth - 1)],
        kind=kind, input_size=size, num_classes=num_classes, gate_bias=gate_bias,
        activation=activation,
    )  # fmt: skip


def highway_cifar19(
    *,
    kind: UnitKind = "highway",
    gate_bias: float = -2.0,
    num_classes: int = 10,
    in_channels: int = 3,
    dims: int = 2,
    dropout: float = 0.2,
) -> HighwayNet:
    # b_T = -2 on every highway layer, as the public model sets it (transform_bias_filler).
    side = (32, 32) if dims == 2 else (40,)
    return HighwayNet(
        [HighwayStack(32, 4, pool=True), HighwayStack(80, 5, pool=True), HighwayStack(128, 5)],
        kind=kind, input_size=(in_channels, *side), unit_dims=dims, num_classes=num_classes,
        gate_bias=gate_bias, dropout=dropout, head_width=100,
    )  # fmt: skip


_SOURCE = "Srivastava, Greff & Schmidhuber 2015, Training Very Deep Networks"
for _depth in MNIST_DEPTHS:
    for _kind in ("highway", "plain", "residual"):
        register_model(
            f"{_kind}_mlp{_depth}",
            partial(highway_mlp, _depth, kind=_kind),
            family="highway-mlp",
            source=f"{_SOURCE}, 4.1 and Fig. 1 (MNIST)"
            + (" (residual twin, y = x + H(x))" if _kind == "residual" else ""),
            depth=_depth,
        )
register_model(
    "highway_cifar19",
    highway_cifar19,
    family="highway-cifar",
    source=f"{_SOURCE}, Table 3 (Highway B) and the authors' Caffe model",
    paper_params=2.3e6,
    depth=19,
)
