from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from reslab import list_models
from reslab.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["models", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_table_lists_matching_models_with_their_counts() -> None:
    code, out, _ = invoke("resnet5*")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["name", "family", "depth", "params", "paper", "MACs", "paper",
                                "input"]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[1:3]}
    assert rows["resnet50"][1:7] == ["imagenet", "50", "25.56M", "-", "4.09G", "3.8G"]
    assert rows["resnet56"][1:7] == ["cifar", "56", "0.85M", "0.85M", "125.49M", "-"]
    assert len(lines) == 4  # header, two rows, the note on "paper"


def test_whole_registry_without_macs_is_listed() -> None:
    code, out, _ = invoke("--no-macs")
    assert code == 0, out
    rows = out.splitlines()[1:-1]
    assert [r.split()[0] for r in rows] == list_models()
    vgg = next(r.split() for r in rows if r.startswith("vgg19"))
    assert vgg[2:7] == ["19", "143.67M", "144.00M", "-", "19.6G"]


def test_json_is_a_list_of_model_info_dicts() -> None:
    code, out, _ = invoke("resnet20", "plain2*", "--json")
    assert code == 0, out
    infos = json.loads(out)
    assert [i["name"] for i in infos] == ["resnet20", "plain20"]
    assert infos[0]["params"] == 269_722 and infos[0]["macs"] == 40_551_040
    assert infos[0]["depth"] == 20 and infos[0]["input_size"] == [3, 32, 32]
    assert infos[1]["params"] == infos[0]["params"] and infos[1]["paper_params"] is None


def test_compare_prints_side_by_side_with_ratios() -> None:
    code, out, _ = invoke("--compare", "resnet34", "vgg19", "plain34", "resnet50")
    assert code == 0, out
    rows = {line[:20].strip(): line[20:].split() for line in out.splitlines()[1:]}
    assert out.splitlines()[0].split() == ["resnet34", "vgg19", "plain34", "resnet50"]
    # He et al. 2015, 3.3: ResNet-34 has 18% of VGG-19's FLOPs; ResNet-50 is 16 layers deeper
    # than ResNet-34 for 17% more parameters.
    assert rows["params"] == ["21,797,672", "143,667,240", "21,623,848", "25,557,032"]
    assert rows["MACs"] == ["3.66G", "19.63G", "3.64G", "4.09G"]
    assert rows["depth"] == ["34", "19", "34", "50"]
    ratios = [line.split()[-4:] for line in out.splitlines() if line.startswith("  vs resnet34")]
    assert ratios == [["1.00x", "0.56x", "1.00x", "1.47x"], ["1.00x", "6.59x", "0.99x", "1.17x"],
                      ["1.00x", "5.36x", "0.99x", "1.12x"]]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resnet5"], "unknown model 'resnet5'; closest: resnet56, resnet50"),
        (["foo*"], "no model matches 'foo*'"),
        (["--compare", "resnet34", "vgg91"], "unknown model 'vgg91'; closest: vgg19"),
        (["--compare", "resnet34"], "--compare needs at least two names"),
    ],
)
def test_bad_names_exit_non_zero_with_a_message_and_no_traceback(
    args: list[str], message: str
) -> None:
    code, out, err = invoke(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


def test_gpt_is_listed_with_nanogpts_count() -> None:
    code, out, _ = invoke("gpt")
    assert code == 0, out
    row = out.splitlines()[1].split()
    # 10.75M with the position embeddings, which nanoGPT's printed 10.65M leaves out.
    assert row[:5] == ["gpt", "transformer", "6", "10.75M", "10.65M"]
    assert row[-1] == "256"


def test_highway_nets_are_listed_with_the_papers_depths() -> None:
    code, out, _ = invoke("*_mlp*")
    assert code == 0
    for kind in ("highway", "plain", "residual"):
        for depth in (10, 20, 50, 100):
            assert f"{kind}_mlp{depth}" in out
    code, out, _ = invoke("highway_cifar19")
    assert code == 0 and "2.26M" in out and "2.30M" in out
