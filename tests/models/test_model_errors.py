"""Bad names, bad overrides and bad inputs fail early, naming the value and what is accepted."""

from __future__ import annotations

import pytest
import torch

from reslab import create_model
from reslab.models import cifar_resnet, wide_resnet_cifar


def test_unknown_model_suggests_the_closest_names() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'resnet5'; closest: .*resnet5[06]") as e:
        create_model("resnet5")
    assert "resnet50" in str(e.value) and "resnet56" in str(e.value)
    with pytest.raises(ValueError, match=r"unknown model 'zzz' \(see `reslab models`"):
        create_model("zzz")


def test_unknown_override_names_it_and_lists_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match=r"resnet20 does not accept the override 'foo'") as e:
        create_model("resnet20", foo=1)
    assert "accepted overrides: block, shortcut, width" in str(e.value)
    with pytest.raises(ValueError, match=r"vgg19 does not accept the override 'shortcut'"):
        create_model("vgg19", shortcut="B")
    with pytest.raises(ValueError, match=r"resnet50 does not accept the override 'dims'"):
        create_model("resnet50", dims=1)


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("resnet20", {"shortcut": "D"}, r"shortcut='D' is not accepted; accepted values: A, B, C"),
        ("resnet50", {"shortcut": "D"}, r"shortcut='D' is not accepted; accepted values: A, B, C"),
        ("resnet20", {"block": "foo"}, r"block='foo' is not accepted; accepted values: basic"),
        ("resnet20", {"dims": 3}, r"dims=3 is not supported; accepted values: 1 .*, 2"),
        ("resnet20", {"drop_path_rate": -0.1}, r"drop_path_rate=-0.1 .*0 <= rate < 1"),
        ("resnet18", {"groups": 32}, r"only apply to block='bottleneck'; got block='basic'"),
    ],
)
def test_bad_override_values(name: str, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model(name, **overrides)


def test_depth_that_does_not_fit() -> None:
    with pytest.raises(ValueError, match=r"depth=21 does not fit a 3-stage basic net; .*6n\+2"):
        cifar_resnet(21)
    with pytest.raises(ValueError, match=r"depth=50 does not fit .*preact_bottleneck .*9n\+2"):
        cifar_resnet(50, block="preact_bottleneck")
    with pytest.raises(ValueError, match=r"depth=2 does not fit"):
        cifar_resnet(2)
    with pytest.raises(ValueError, match=r"depth=27 does not fit a wide ResNet; .*6n\+4"):
        wide_resnet_cifar(27)


@pytest.mark.parametrize("name", ["resnet20", "resnet18", "vgg19", "preact_resnet110"])
def test_wrong_input_channels(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name)
        x = torch.zeros(2, 1, 32, 32)
    with pytest.raises(ValueError, match=r"expects images \(N, C, H, W\) with C=3 channels; got "
                                         r"input of shape \(2, 1, 32, 32\)"):  # fmt: skip
        model(x)


def test_one_dimensional_input_to_a_two_dimensional_net() -> None:
    model = create_model("resnet20")
    with pytest.raises(ValueError, match=r"expects images .* got input of shape \(2, 3, 40\)"):
        model(torch.zeros(2, 3, 40))


def test_image_input_to_a_one_dimensional_net() -> None:
    model = create_model("resnet20", dims=1, in_channels=1)
    with pytest.raises(ValueError, match=r"expects sequences \(N, C, L\) with C=1 channels"):
        model(torch.zeros(2, 1, 32, 32))
