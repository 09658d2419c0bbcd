"""Parameter, depth and multiply-add counts against torchvision and the papers."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
import torch
from torch import nn

from reslab import create_model, list_models, model_info
from reslab.models import cifar_resnet, count_depth, count_macs, count_params, get_entry

# torchvision.models.<name>().parameters(), summed (also the numbers in torchvision's docs).
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "wide_resnet50_2": 68_883_240,
    "vgg19": 143_667_240,
}

# (as printed in the paper, the unit of its last digit).
PAPER_PARAMS = {
    # He et al. 2015, Table 6 (CIFAR-10, option A).
    "resnet20": (0.27e6, 0.01e6),
    "resnet32": (0.46e6, 0.01e6),
    "resnet44": (0.66e6, 0.01e6),
    "resnet56": (0.85e6, 0.01e6),
    "resnet110": (1.7e6, 0.1e6),
    "resnet1202": (19.4e6, 0.1e6),
    # He et al. 2016, Tables 2-3; Zagoruyko & Komodakis 2016, Table 4.
    "preact_resnet110": (1.7e6, 0.1e6),
    "preact_resnet164": (1.7e6, 0.1e6),
    "wide_resnet28_10": (36.5e6, 0.1e6),
}

# He et al. 2015, Table 1, "FLOPs" (multiply-adds) at 224x224.
PAPER_GMACS = {"resnet18": 1.8, "resnet34": 3.6, "resnet50": 3.8, "resnet101": 7.6,
               "resnet152": 11.3}  # fmt: skip


def on_meta(name: str, **overrides: Any) -> nn.Module:
    with torch.device("meta"):  # shapes only: nothing allocated, nothing computed
        return create_model(name, **overrides)


@functools.cache
def info(name: str) -> dict[str, Any]:
    return model_info(name)


@pytest.mark.parametrize(("name", "params"), TORCHVISION_PARAMS.items())
def test_params_equal_torchvision(name: str, params: int) -> None:
    assert count_params(on_meta(name)) == params


@pytest.mark.parametrize(("name", "paper"), PAPER_PARAMS.items())
def test_params_round_to_the_paper(name: str, paper: tuple[float, float]) -> None:
    value, unit = paper
    assert abs(count_params(on_meta(name)) - value) <= unit / 2
    assert get_entry(name).paper_params == value


def test_preact_resnet1001_params() -> None:
    # He et al. 2016 (Table 3) print 10.2M. Counting the architecture they describe (333
    # pre-activation bottlenecks at 16/32/64 bottleneck widths, 1x1 projections, final BN + fc)
    # gives 10,327,706, the exact figure osmr/imgclsmob's CIFAR-10 table lists for its
    # PreResNet-1001. The 0.13M gap is the paper's own accounting, not a different architecture.
    assert count_params(on_meta("preact_resnet1001")) == 10_327_706


def test_plain_nets_have_as_many_parameters_as_option_a_resnets() -> None:
    for depth in (20, 32, 44, 56, 110):
        assert count_params(on_meta(f"plain{depth}")) == count_params(on_meta(f"resnet{depth}"))
    # ImageNet: only resnet's projection shortcuts (option B) add parameters.
    projections = count_params(on_meta("resnet18")) - count_params(on_meta("plain18"))
    assert projections == sum(cin * cout + 2 * cout for cin, cout in ((64, 128), (128, 256),
                                                                      (256, 512)))  # fmt: skip


@pytest.mark.parametrize("name", [n for n in list_models() if re.search(r"\d", n)])
def test_depth_is_the_number_in_the_name(name: str) -> None:
    depth = int(re.search(r"\d+", name).group())  # type: ignore[union-attr]
    entry = get_entry(name)
    assert (entry.depth or count_depth(on_meta(name))) == depth


def test_wide_resnet_counts_depth_its_own_way() -> None:
    # WRN-28-10's 28 counts its 1x1 shortcut projections; the main path has 26 weighted layers.
    assert count_depth(on_meta("wide_resnet28_10")) == 26
    assert model_info("wide_resnet28_10", macs=False)["depth"] == 28


@pytest.mark.parametrize(
    ("name", "depth"),
    [("resnet20", 20), ("resnet56", 56), ("resnet50", 50), ("resnet152", 152),
     ("preact_resnet164", 164), ("vgg19", 19)],
)  # fmt: skip
def test_model_info_depth(name: str, depth: int) -> None:
    assert model_info(name, macs=False)["depth"] == depth


def cifar_basic_macs(n: int, width: int = 16, side: int = 32, classes: int = 10) -> int:
    """Closed form for a 3-stage CIFAR net of 3x3 basic blocks with option-A shortcuts."""
    macs = 3 * width * 9 * side * side  # stem
    cin = width
    for stage in range(3):
        cout, hw = width * 2**stage, (side // 2**stage) ** 2
        macs += cin * cout * 9 * hw + (2 * n - 1) * cout * cout * 9 * hw
        cin = cout
    return macs + cin * classes


def test_resnet20_macs_match_the_closed_form() -> None:
    # ~41M multiply-adds, the figure commonly quoted for ResNet-20 on CIFAR-10.
    assert cifar_basic_macs(3) == 40_551_040
    assert info("resnet20")["macs"] == 40_551_040
    assert info("resnet56")["macs"] == cifar_basic_macs(9)
    assert count_macs(on_meta("plain20"), (3, 32, 32)) == 40_551_040  # option A adds none


def test_resnet50_macs_measured() -> None:
    # torch.utils.flop_counter at 1x3x224x224 (torchvision's ResNet v1.5 layout); He et al. print
    # 3.8G for the v1 layout, whose stride on the first 1x1 saves the 3x3's work in 3 blocks.
    assert info("resnet50")["macs"] == pytest.approx(4.089e9, rel=1e-3)
    v1 = count_macs(on_meta("resnet50", stride_in_1x1=True), (3, 224, 224))
    assert v1 < info("resnet50")["macs"]


@pytest.mark.parametrize(("name", "gmacs"), PAPER_GMACS.items())
def test_imagenet_macs_within_ten_percent_of_table_1(name: str, gmacs: float) -> None:
    measured = info(name)["macs"]
    assert measured == pytest.approx(gmacs * 1e9, rel=0.10)
    assert get_entry(name).paper_macs == gmacs * 1e9


def test_vgg19_is_about_five_times_resnet34() -> None:
    # He et al. 2015, 3.3: VGG-19 19.6 GFLOPs vs 3.6 for the 34-layer nets.
    assert info("vgg19")["macs"] == pytest.approx(19.6e9, rel=0.01)
    assert info("vgg19")["params"] == TORCHVISION_PARAMS["vgg19"]


def test_model_info_fields() -> None:
    i = info("resnet56")
    assert i["name"] == "resnet56" and i["family"] == "cifar"
    assert i["params"] == 853_018 and i["input_size"] == (3, 32, 32)
    assert i["paper_params"] == 0.85e6 and i["paper_macs"] is None
    assert "Table 6" in i["source"]


def test_model_info_of_an_unregistered_model_and_custom_input() -> None:
    model = cifar_resnet(8, dims=1, in_channels=1)  # depth 8 = 6*1 + 2
    i = model_info(model)
    assert (i["name"], i["family"], i["depth"], i["input_size"]) == ("ResNet", None, 8, (1, 40))
    assert i["params"] == count_params(model)
    assert model_info(model, input_size=(1, 80))["macs"] == pytest.approx(2 * i["macs"], rel=1e-3)


def test_model_info_of_a_registered_instance_keeps_its_name_and_mode() -> None:
    model = create_model("resnet20", num_classes=100).train()
    i = model_info(model)
    assert i["name"] == "resnet20" and i["params"] == 269_722 + 64 * 90 + 90
    assert model.training  # count_macs restores the mode it found
