"""from_jsonable and the shared measurements: the field types say how JSON values come back."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from reslab.experiments.jsonable import from_jsonable, read_json, to_jsonable, write_json


@dataclass
class Inner:
    name: Literal["a", "b"]
    values: list[float]
    best: float | None = None


@dataclass
class Demo:
    pair: tuple[int, str]
    sizes: tuple[int, ...]
    inner: Inner
    by_depth: dict[int, float]
    where: Path
    grid: np.ndarray
    either: int | str
    maybe: list[float | None]
    nested: dict[str, list[Inner]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    added_later: int = 7


def demo() -> Demo:
    return Demo(
        pair=(3, "x"), sizes=(20, 56), inner=Inner("a", [1.0, float("inf")], best=2.0),
        by_depth={20: 0.5, 56: -float("inf")}, where=Path("runs/a"), grid=np.eye(2),
        either="s", maybe=[None, 1.5], nested={"k": [Inner("b", [])]},
        extra={"t": (1, 2), "n": None},
    )  # fmt: skip


def save_load(obj: Demo, tmp_path: Path) -> Demo:
    write_json(tmp_path / "demo.json", obj)
    return from_jsonable(Demo, read_json(tmp_path / "demo.json"))


def test_load_rebuilds_by_field_types(tmp_path: Path) -> None:
    loaded = save_load(demo(), tmp_path)
    assert (loaded.pair, loaded.sizes, loaded.where) == ((3, "x"), (20, 56), Path("runs/a"))
    assert loaded.inner == Inner("a", [1.0, math.inf], 2.0)
    assert loaded.by_depth == {20: 0.5, 56: -math.inf}  # int keys, written as strings
    np.testing.assert_array_equal(loaded.grid, np.eye(2))
    assert loaded.either == "s" and loaded.maybe == [None, 1.5]
    assert loaded.nested == {"k": [Inner("b", [])]}
    assert loaded.extra == {"t": [1, 2], "n": None}  # Any: the JSON value as is


def test_missing_fields_get_defaults_and_unknown_keys_are_ignored(tmp_path: Path) -> None:
    data = to_jsonable(demo())
    del data["added_later"]
    data["removed_since"] = 1
    assert from_jsonable(Demo, json.loads(json.dumps(data))).added_later == 7


@dataclass
class Timing:
    name: str
    ms: float
    note: str = ""


def test_a_union_of_records_is_told_apart_by_required_fields() -> None:
    # An experiment whose tasks return different records loads each as its own type; a field
    # with a default may be missing (a file written before it existed) without changing the type.
    either = Inner | Timing
    assert from_jsonable(either, to_jsonable(Timing("t", 1.5))) == Timing("t", 1.5)
    assert from_jsonable(either, {"name": "a", "values": [1.0]}) == Inner("a", [1.0])
    assert from_jsonable(Timing | Inner, {"name": "b", "values": []}) == Inner("b", [])
    assert from_jsonable(either, {"name": "t", "ms": 2}) == Timing("t", 2.0)


@pytest.mark.parametrize(
    ("tp", "value", "expected"),
    [
        (float, None, math.nan),
        (float, "inf", math.inf),
        (float, "-inf", -math.inf),
        (float, 3, 3.0),
        (float | None, None, None),
        (float | None, "inf", math.inf),
        (int | float, 3, 3),
        (list[float], [None, "inf", 1.0], [math.nan, math.inf, 1.0]),
        (tuple[float, ...], [1, "-inf"], (1.0, -math.inf)),
        (dict[str, tuple[int, int]], {"a": [1, 2]}, {"a": (1, 2)}),
        (str, "inf", "inf"),  # only a float field reads "inf" as a number
        (Any, {"x": [1]}, {"x": [1]}),
    ],
)
def test_from_jsonable(tp: Any, value: Any, expected: Any) -> None:
    out = from_jsonable(tp, value)
    assert type(out) is type(expected)
    np.testing.assert_equal(out, expected)  # nan == nan here


def test_from_jsonable_inverts_to_jsonable() -> None:
    values = [float("nan"), float("inf"), -float("inf"), 0.1]
    back = from_jsonable(list[float], json.loads(json.dumps(to_jsonable(values))))
    np.testing.assert_array_equal(back, values)


def test_provenance_is_taken_before_the_work_and_finished_after() -> None:
    from reslab.experiments.common import finished, provenance

    prov = provenance("cpu", [0, 1])
    time.sleep(1.1)
    done = finished(prov)
    assert done["started"] == prov["started"] and done["seeds"] == [0, 1]
    assert done["finished"] > done["started"] and done["wall_s"] >= 1


def test_saved_runs_record_start_end_and_wall_time(tiny_run) -> None:
    prov = json.loads((tiny_run("degradation") / "results.json").read_text())["provenance"]
    span = datetime.fromisoformat(prov["finished"]) - datetime.fromisoformat(prov["started"])
    assert abs(prov["wall_s"] - span.total_seconds()) <= 1  # both stamps are whole seconds


def test_run_curves_lay_out_runs_for_npz() -> None:
    from reslab.experiments.common import run_curves

    @dataclass
    class Run:
        kind: str
        depth: int
        seed: int
        steps: list[int]
        err: list[float]
        wall_s: float

    runs = [Run("plain", 20, 0, [10, 20], [50.0, 40.0], 1.5)]
    arrays = run_curves(runs, {"train": ("steps", "err")})
    assert list(arrays) == ["plain20_seed0_train"]
    np.testing.assert_array_equal(arrays["plain20_seed0_train"], [[10, 20], [50.0, 40.0]])


def test_direction_names_the_side_a_gap_beyond_the_threshold_lies_on() -> None:
    from reslab.experiments.common import direction
    from reslab.experiments.stats import Threshold

    one_point = Threshold(absolute=1.0)
    assert direction([10, 10.2, 9.8], [5, 5.1, 4.9], one_point)[1] == "worse"
    assert direction([5, 5.1, 4.9], [10, 10.2, 9.8], one_point)[1] == "better"
    assert direction([5.5, 5.4, 5.6], [5, 5.1, 4.9], one_point)[1] == "tied"  # 0.5 points
    comparison, _ = direction([40.0, 40.2, 40.4], [1.5, 1.7, 1.9], one_point)
    assert comparison.effect == pytest.approx(40.2 - 1.7)  # of the values over the reference
