"""A small 1-D ResNet that looks trained, for the exact checks of block surgery and path probes."""

from __future__ import annotations

import torch

from reslab.models import cifar_resnet
from reslab.models.resnet import ResNet


def seq_net(depth: int = 14, **kwargs: object) -> ResNet:
    """A 1-D CIFAR ResNet (seed 0, eval mode) whose batch norms look trained: the running
    statistics of one batch, and random scales and shifts."""
    torch.manual_seed(0)
    net = cifar_resnet(depth, dims=1, in_channels=1, **kwargs)
    with torch.no_grad():
        net.train()(torch.randn(64, 1, 40))
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    return net.eval()
