"""Layer factories for any dims: the same blocks serve images (dims=2) and sequences (dims=1)."""

from __future__ import annotations

from torch import nn

# dims of a fully connected layer: vectors (N, C) with no spatial axis (highway MLPs).
FEATURES = 0
_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
_MAXPOOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d}
_AVGPOOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d}
_HALVE = {1: nn.AvgPool1d, 2: nn.AvgPool2d}


def check_dims(dims: int) -> int:
    if dims not in _CONV:
        raise ValueError(
            f"dims={dims!r} is not supported; accepted values: 1 (sequences), 2 (images)"
        )
    return dims


def conv(
    dims: int,
    in_ch: int,
    out_ch: int,
    kernel: int,
    stride: int = 1,
    groups: int = 1,
    bias: bool = False,
) -> nn.Module:
    # "same" padding for odd kernels; no bias: a BatchNorm follows every conv (He et al. 2015, 3.4).
    return _CONV[dims](
        in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=bias
    )


def affine(dims: int, in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1) -> nn.Module:
    """W x + b: a Linear on vectors (dims=FEATURES), else a conv with its bias."""
    if dims != FEATURES:
        return conv(check_dims(dims), in_ch, out_ch, kernel, stride, bias=True)
    if (kernel, stride) != (1, 1):
        raise ValueError(
            f"kernel={kernel}, stride={stride}: a fully connected layer (dims={FEATURES}) has "
            "neither; accepted: kernel=1, stride=1"
        )
    return nn.Linear(in_ch, out_ch)


def conv3(dims: int, in_ch: int, out_ch: int, stride: int = 1, groups: int = 1) -> nn.Module:
    return conv(dims, in_ch, out_ch, 3, stride, groups)


def conv1(dims: int, in_ch: int, out_ch: int, stride: int = 1) -> nn.Module:
    return conv(dims, in_ch, out_ch, 1, stride)


def norm(dims: int, channels: int) -> nn.Module:
    return _NORM[dims](channels)


def max_pool(dims: int) -> nn.Module:
    return _MAXPOOL[dims](kernel_size=3, stride=2, padding=1)


def global_avg_pool(dims: int) -> nn.Module:
    return _AVGPOOL[dims](1)


def is_norm(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def he_init(model: nn.Module) -> None:
    """He et al.'s "msra" init, as in the ResNet papers' Torch code (fb.resnet.torch): each conv
    normal with std sqrt(2 / (k * k * out_channels)); each BN starts as the identity transform."""
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif is_norm(m):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def avg_pool2(dims: int) -> nn.Module:
    # Halves the resolution by averaging 2x2 windows (the transitions of Huang et al. 2017, 3).
    return _HALVE[dims](kernel_size=2, stride=2)
