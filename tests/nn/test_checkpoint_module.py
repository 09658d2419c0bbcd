from __future__ import annotations

import copy

import torch
from torch import nn

from reslab.nn.checkpoint import checkpoint_module, frozen_norm_stats


def small() -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(4, 8, 3, padding=1), nn.BatchNorm1d(8), nn.Dropout(0.5),
                         nn.ReLU(), nn.Conv1d(8, 4, 1))  # fmt: skip


def test_same_output_gradients_and_norm_statistics_as_a_plain_call() -> None:
    torch.manual_seed(0)
    plain = small().train()
    ckpt = copy.deepcopy(plain)
    x = torch.randn(6, 4, 10, requires_grad=True)
    torch.manual_seed(1)
    y = plain(x)
    y.square().sum().backward()
    x2 = x.detach().clone().requires_grad_()
    torch.manual_seed(1)
    y2 = checkpoint_module(ckpt, x2)
    y2.square().sum().backward()
    assert torch.equal(y, y2)  # same dropout mask: the RNG state is restored for recomputation
    torch.testing.assert_close(x2.grad, x.grad)
    for p, q in zip(plain.parameters(), ckpt.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad)
    bn, bn2 = plain[1], ckpt[1]
    assert int(bn2.num_batches_tracked) == 1  # counted once, not once more in backward
    assert torch.equal(bn.running_mean, bn2.running_mean)
    assert torch.equal(bn.running_var, bn2.running_var)


def test_frozen_norm_stats_restores_buffers() -> None:
    bn = nn.BatchNorm2d(3).train()
    before = [b.clone() for b in bn.buffers()]
    with frozen_norm_stats(nn.Sequential(bn)):
        bn(torch.randn(4, 3, 2, 2) + 5)
        assert int(bn.num_batches_tracked) == 1 and bn.running_mean.abs().sum() > 0
    assert all(torch.equal(b, a) for b, a in zip(bn.buffers(), before, strict=True))
