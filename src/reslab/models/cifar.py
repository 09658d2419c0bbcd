"""CIFAR-style nets: three stages at 16/32/64 channels on 32x32 inputs (He et al. 2015, 4.2).

With ``dims=1`` the same nets run on sequences (Conv1d), e.g. MNIST-1D; see ``reslab models``.
"""

from __future__ import annotations

from functools import partial

from reslab.blocks import get_block
from reslab.blocks.layout import lead
from reslab.models.registry import register_model
from reslab.models.resnet import ResNet, Stage
from reslab.nn.mappings import get_mapping

_LAYERS_PER_BLOCK = {"basic": 2, "preact_basic": 2, "bottleneck": 3, "preact_bottleneck": 3}


def blocks_per_stage(depth: int, block: str) -> int:
    per_block = _LAYERS_PER_BLOCK.get(block)
    if per_block is None:
        raise ValueError(
            f"block={block!r} is not accepted; accepted values: {', '.join(_LAYERS_PER_BLOCK)}"
        )
    # depth = 3 stages * n blocks * layers per block + the stem conv + the fc layer.
    n, rest = divmod(depth - 2, 3 * per_block)
    if rest or n < 1:
        raise ValueError(
            f"depth={depth} does not fit a 3-stage {block} net; it must be "
            f"{3 * per_block}n+2 (e.g. {3 * per_block + 2}, {6 * per_block + 2}, ...)"
        )
    return n


def cifar_resnet(
    depth: int,
    *,
    block: str = "basic",
    shortcut: str = "A",
    width: int = 16,
    num_classes: int = 10,
    in_channels: int = 3,
    dims: int = 2,
    zero_init_residual: bool = False,
    drop_path_rate: float = 0.0,
    placement: str | None = None,
    mapping: str = "identity",
    gate_bias: float | None = None,
) -> ResNet:
    """Any 3-stage CIFAR net, e.g. ``cifar_resnet(1001, block="preact_bottleneck")``.

    ``placement`` moves BN and ReLU around the addition (He et al. 2016, Fig. 4; default: the
    block's own), ``mapping`` changes the shortcut (their Fig. 2 and Table 1: identity, scale,
    scale_both, exclusive_gate, shortcut_gate, dropout; the 1x1-conv row is ``shortcut="C"``) and
    ``gate_bias`` sets a gate's initial bias b_g.
    """
    n = blocks_per_stage(depth, block)
    stages = [Stage(n, width, 1), Stage(n, 2 * width, 2), Stage(n, 4 * width, 2)]
    placement = placement or get_block(block).default_placement
    # A block that normalises its own input first needs no BN in the stem (He et al. 2016, 4.1).
    stem = "cifar_preact" if "b" in lead(placement) else "cifar"
    return ResNet(
        stages,
        block=block,
        stem=stem,
        stem_width=width,
        num_classes=num_classes,
        in_channels=in_channels,
        dims=dims,
        shortcut=shortcut,
        zero_init_residual=zero_init_residual,
        drop_path_rate=drop_path_rate,
        block_kwargs={"placement": placement, "mapping": get_mapping(mapping, gate_bias)},
    )


def wide_resnet_cifar(
    depth: int = 28,
    widen: int = 10,
    *,
    dropout: float = 0.0,
    num_classes: int = 10,
    in_channels: int = 3,
    dims: int = 2,
    zero_init_residual: bool = False,
    drop_path_rate: float = 0.0,
) -> ResNet:
    # WRN-d-k (Zagoruyko & Komodakis 2016, Table 1): depth counts the three 1x1 projections,
    # so n = (d - 4) / 6 pre-activation basic blocks per stage at 16k/32k/64k channels.
    n, rest = divmod(depth - 4, 6)
    if rest or n < 1:
        raise ValueError(
            f"depth={depth} does not fit a wide ResNet; it must be 6n+4 (e.g. 16, 28, 40)"
        )
    stages = [Stage(n, 16 * widen, 1), Stage(n, 32 * widen, 2), Stage(n, 64 * widen, 2)]
    return ResNet(
        stages,
        block="preact_basic",
        stem="cifar_preact",
        stem_width=16,
        num_classes=num_classes,
        in_channels=in_channels,
        dims=dims,
        shortcut="B",
        zero_init_residual=zero_init_residual,
        drop_path_rate=drop_path_rate,
        block_kwargs={"dropout": dropout},
    )


# He et al. 2015, Table 6: parameters of the CIFAR-10 ResNets (option A shortcuts).
_CIFAR_PARAMS = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6, 1202: 19.4e6}
_HE2015 = "He et al. 2015, Deep Residual Learning, 4.2 and Table 6"
_HE2016 = "He et al. 2016, Identity Mappings in Deep Residual Networks, Table 2-3"

for _depth, _params in _CIFAR_PARAMS.items():
    register_model(
        f"resnet{_depth}",
        partial(cifar_resnet, _depth),
        family="cifar",
        source=_HE2015,
        paper_params=_params,
    )
for _depth in (20, 32, 44, 56, 110):
    register_model(
        f"plain{_depth}",
        partial(cifar_resnet, _depth, shortcut="none"),
        family="cifar-plain",
        source=_HE2015 + " (plain baselines, Fig. 6 left)",
    )

# Pre-activation nets project with 1x1 convs where shapes change (option B, as in He et al. 2016).
for _name, _depth, _block, _params in (
    ("preact_resnet110", 110, "preact_basic", 1.7e6),
    ("preact_resnet164", 164, "preact_bottleneck", 1.7e6),
    ("preact_resnet1001", 1001, "preact_bottleneck", 10.2e6),
):
    register_model(
        _name,
        partial(cifar_resnet, _depth, block=_block, shortcut="B"),
        family="cifar-preact",
        source=_HE2016,
        paper_params=_params,
    )

register_model(
    "wide_resnet28_10",
    partial(wide_resnet_cifar, 28, 10),
    family="cifar-wide",
    source="Zagoruyko & Komodakis 2016, Wide Residual Networks, Table 4",
    paper_params=36.5e6,
    depth=28,
)
