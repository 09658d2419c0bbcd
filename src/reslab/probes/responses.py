"""Layer responses (He et al. 2015, section 4.2, Figure 7): the standard deviation of each 3x3
layer's output after its BN and before any other nonlinearity (ReLU or the shortcut addition),
measured on a whole split in eval mode.

The paper argues that if residual functions are closer to zero than unreferenced ones, a ResNet's
responses are smaller than its plain twin's, and smaller still in a deeper ResNet, where each
layer modifies the signal less.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from reslab.models.resnet import ResNet
from reslab.nn.layers import is_norm
from reslab.nn.modes import eval_mode


def response_layers(model: ResNet) -> list[nn.Module]:
    """The BN after each 3x3 conv, in forward order: the stem's, then each block's branch.

    The CIFAR stem is a 3x3 conv followed by BN, so it is a "3x3 layer" of Figure 7 too and is
    included (an ImageNet stem is 7x7 and is not). Defined for post-activation nets, where every
    3x3 conv is followed by its BN; a pre-activation branch ends in a bare conv and is refused.
    """
    stem = [model.conv1, getattr(model, "bn1", None)]
    layers = []
    for path in [stem, *(list(b.branch) for b in model.blocks)]:
        for layer, after in zip(path, [*path[1:], None], strict=True):
            if not _is_conv3x3(layer):
                continue
            if after is None or not is_norm(after):
                follows = type(after).__name__ if after is not None else "nothing"
                raise ValueError(
                    f"a 3x3 conv followed by {follows}: layer responses need a BN "
                    f"after every 3x3 conv; accepted: post-activation nets (block='basic' or "
                    f"'bottleneck'), got block={model.block_kind!r}"
                )
            layers.append(after)
    return layers


def _is_conv3x3(module: nn.Module | None) -> bool:
    return isinstance(module, nn.modules.conv._ConvNd) and set(module.kernel_size) == {3}


def layer_responses(
    model: ResNet, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> list[float]:
    """Per 3x3 layer (``response_layers`` order), the std of its BN output over ``batches``.

    Each channel's std is taken over every sample and position of the split, then averaged over
    the layer's channels. Per channel, because a BN output is a per-channel affine map, and its
    spread around the channel's own mean is the size of what the layer adds; a std pooled over
    channels would also count the spread between channel means (the BN biases), which is an
    offset, not a response. In eval mode (running statistics), as the trained net is used.
    """
    layers = response_layers(model)
    moments: dict[int, torch.Tensor] = {}  # layer -> (2, channels): sums of x and x^2
    counts = [0] * len(layers)

    def hook(i: int) -> Callable[[nn.Module, object, torch.Tensor], None]:
        def record(_module: nn.Module, _inputs: object, out: torch.Tensor) -> None:
            # Summed at once: the stem's and the blocks' in-place ReLU overwrite ``out`` next.
            # Float64: sums of squares over a whole split lose digits in float32.
            x = out.detach().double().transpose(0, 1).flatten(1)  # (channels, samples x positions)
            sums = torch.stack([x.sum(1), (x * x).sum(1)])
            moments[i] = moments[i] + sums if i in moments else sums
            counts[i] += x.shape[1]

        return record

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    try:
        with eval_mode(model), torch.no_grad():
            for x, _ in batches:
                model(x)
    finally:
        for handle in handles:
            handle.remove()
    if not moments:
        raise ValueError("layer_responses() got no batches: nothing to measure")
    return [_mean_channel_std(moments[i], counts[i]) for i in range(len(layers))]


def _mean_channel_std(moments: torch.Tensor, n: int) -> float:
    mean, mean_sq = moments[0] / n, moments[1] / n
    # Population std (n is thousands of values or more); clamped: rounding can make it -0.
    return float((mean_sq - mean * mean).clamp_min(0).sqrt().mean())
