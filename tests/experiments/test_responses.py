"""Layer responses (He et al. 2015, Figure 7) and the cost of a shortcut, measured on tiny nets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reslab.models import cifar_resnet
from reslab.models.resnet import ResNet
from reslab.probes.cost import WARMUP_STEPS, interleaved_step_ms, shortcut_additions
from reslab.probes.responses import layer_responses, response_layers


def tiny_net(depth: int = 8, shortcut: str = "A", block: str = "basic") -> ResNet:
    torch.manual_seed(0)
    return cifar_resnet(depth, block=block, shortcut=shortcut, dims=1, in_channels=1)


def data(n: int = 96) -> torch.Tensor:
    return torch.randn(n, 1, 40, generator=torch.Generator().manual_seed(1))


def batches(x: torch.Tensor, size: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x[i : i + size], torch.zeros(len(x[i : i + size]))) for i in range(0, len(x), size)]


def settle_running_stats(model: nn.Module, x: torch.Tensor) -> None:
    """Running statistics from a few train-mode passes, so that eval mode is not the identity."""
    model.train()
    with torch.no_grad():
        for i in range(3):
            model(x * (1 + 0.5 * i))


@pytest.mark.parametrize(("depth", "shortcut"), [(8, "A"), (14, "none"), (8, "B")])
def test_one_response_per_3x3_conv(depth: int, shortcut: str) -> None:
    model = tiny_net(depth, shortcut)
    convs3 = [m for m in model.modules() if isinstance(m, nn.Conv1d) and m.kernel_size == (3,)]
    layers = response_layers(model)
    assert len(layers) == len(convs3) == 1 + 2 * len(model.blocks) == depth - 1
    assert layers[0] is model.bn1  # the stem's 3x3 conv and its BN
    assert layers[1:3] == [model.blocks[0].bn1, model.blocks[0].bn2]
    assert len(layer_responses(model, batches(data(16)))) == depth - 1


def test_bottleneck_nets_have_one_3x3_per_block_and_preact_nets_are_refused() -> None:
    bottleneck = tiny_net(11, block="bottleneck")
    assert response_layers(bottleneck)[1:] == [b.bn2 for b in bottleneck.blocks]
    with pytest.raises(ValueError, match=r"post-activation nets .* got block='preact_basic'"):
        response_layers(tiny_net(8, block="preact_basic"))


def test_responses_match_a_direct_computation() -> None:
    model = tiny_net(8)
    x = data()
    settle_running_stats(model, x)
    layers = response_layers(model)
    outputs: list[torch.Tensor] = []
    # Cloned in the hook: the ReLU after each BN runs in place.
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: outputs.append(out.clone())) for m in layers
    ]
    model.eval()
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    # Per channel: the std over samples and positions (population), then the mean over channels.
    direct = [out.double().std(dim=(0, 2), unbiased=False).mean().item() for out in outputs]
    model.train()
    measured = layer_responses(model, batches(x, 40))  # 40, 40, 16: unequal batches
    assert measured == pytest.approx(direct, rel=1e-9)
    assert model.training  # the mode is restored
    assert all(not m._forward_hooks for m in layers)  # and the hooks removed


def test_bn_scale_sets_the_response_when_running_stats_fit_the_data() -> None:
    # BN weight gamma = c, bias 0, and running statistics equal to the data's own (one train-mode
    # pass over the whole set as one batch, cumulative averaging): in eval mode each channel is
    # then (x - mean) / std * c, whose std is c (up to BN's eps and its unbiased running
    # variance, n / (n - 1) with n = 96 x 40 or more per channel).
    model = tiny_net(8)
    x = data()
    scales = [0.25 + 0.1 * i for i in range(len(response_layers(model)))]
    for bn, c in zip(response_layers(model), scales, strict=True):
        nn.init.constant_(bn.weight, c)
        nn.init.zeros_(bn.bias)
    for bn in model.modules():
        if isinstance(bn, nn.BatchNorm1d):
            bn.reset_running_stats()
            bn.momentum = None
    model.train()
    with torch.no_grad():
        model(x)
    assert layer_responses(model, batches(x)) == pytest.approx(scales, rel=2e-3)


def test_responses_of_nothing_are_an_error() -> None:
    with pytest.raises(ValueError, match="no batches"):
        layer_responses(tiny_net(8), [])


def test_shortcut_additions_count_every_residual_block_output() -> None:
    # (16 channels x 40) + (32 x 20) + (64 x 10) per block of each stage; none in a plain net.
    assert shortcut_additions(tiny_net(14), (1, 40)) == 2 * (16 * 40 + 32 * 20 + 64 * 10)
    assert shortcut_additions(tiny_net(14, "none"), (1, 40)) == 0


class Logged(nn.Module):
    """A linear classifier that notes its name in ``log`` at each forward pass."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__()
        self.name, self.log, self.fc = name, log, nn.Linear(40, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.log.append(self.name)
        return self.fc(x.flatten(1))


def test_step_times_are_taken_in_turns_after_a_warm_up() -> None:
    log: list[str] = []
    models = {"plain": Logged("plain", log), "residual": Logged("residual", log)}
    x, y = data(8), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    ms = interleaved_step_ms(models, x, y, steps=4)
    assert set(ms) == {"plain", "residual"} and all(t > 0 for t in ms.values())
    rounds = [log[i : i + 2] for i in range(0, len(log), 2)]
    assert len(rounds) == WARMUP_STEPS + 4
    # The order flips every round, so neither net always runs right after the other.
    assert rounds[:4] == [["plain", "residual"], ["residual", "plain"]] * 2
    assert all(m.fc.weight.grad is not None for m in models.values())  # backward ran
    with pytest.raises(ValueError, match="steps=0 must be >= 1"):
        interleaved_step_ms(models, x, y, steps=0)
