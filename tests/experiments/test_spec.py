"""The one experiment interface: configs, presets, the registry and the run directory."""

from __future__ import annotations

import dataclasses
import json
import pickle
import sys
import types
import typing
from pathlib import Path
from typing import Any

import pytest

from reslab.experiments import ExperimentConfig, get_experiment, list_experiments, register
from reslab.experiments.common import KindTask, RunTask, SeedTask
from reslab.experiments.degradation import DegradationConfig, RunRecord
from reslab.experiments.spec import Task, configure, define, identity_fields
from reslab.experiments.store import RunStore, config_diff

SPEC = get_experiment("degradation")


def test_every_experiment_has_the_one_shape() -> None:
    for spec in list_experiments():
        assert spec.name and spec.title and spec.claim and spec.paper and spec.quick_time
        assert {"quick", "paper"} <= set(spec.presets)
        assert issubclass(spec.config_type, ExperimentConfig)
        assert all(type(c) is spec.config_type for c in spec.presets.values())
        # One record type, or a union of them where tasks of different jobs return different
        # records (degradation: trainings and cost timings).
        assert all(
            dataclasses.is_dataclass(r) for r in typing.get_args(spec.record) or [spec.record]
        )
        for f in dataclasses.fields(spec.config_type):  # the CLI's --help comes from here
            assert f.metadata.get("help"), f"{spec.name}.{f.name} has no help text"


def test_every_config_field_round_trips_through_json() -> None:
    from reslab.experiments.jsonable import from_jsonable, to_jsonable

    for spec in list_experiments():
        for config in spec.presets.values():
            text = json.dumps(to_jsonable(config))
            assert from_jsonable(spec.config_type, json.loads(text)) == config


def test_registry_names_the_accepted_experiments() -> None:
    with pytest.raises(ValueError, match=r"'nosuch' is unknown; accepted: .*degradation"):
        get_experiment("nosuch")


def test_registering_a_second_experiment_under_a_name_is_refused() -> None:
    clash = dataclasses.replace(SPEC, run_task=lambda task: task)
    with pytest.raises(ValueError, match="'degradation' is already registered"):
        register(clash)
    assert register(SPEC) is SPEC  # the same one again (a module re-import) is fine


def test_configure_applies_changes_and_replaces_the_budget() -> None:
    quick = SPEC.presets["quick"]
    assert configure(quick, {"steps": 30}).epochs is None
    assert configure(quick, {"epochs": 3}) == dataclasses.replace(quick, epochs=3)
    assert configure(quick, {"seeds": 5, "depths": (20, 32)}).depths == (20, 32)
    with pytest.raises(ValueError, match="not both"):
        configure(quick, {"epochs": 3, "steps": 30}).check()
    with pytest.raises(ValueError, match="depht is not a setting of DegradationConfig; accepted:"):
        configure(quick, {"depht": 20})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seeds": 0}, "seeds=0 must be >= 1"),
        ({"workers": -1}, "workers=-1"),
        ({"runs_per_gpu": 0}, "runs_per_gpu=0"),
        ({"executor": "slurm"}, "executor='slurm' is unknown; accepted: local, ray"),
    ],
)
def test_the_common_checks(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        DegradationConfig(**changes).check()


def test_execution_fields_do_not_decide_the_numbers() -> None:
    fields = identity_fields(DegradationConfig(workers=4, executor="ray"))
    assert "workers" not in fields and "executor" not in fields and "runs_per_gpu" not in fields
    assert fields["depths"] == (20, 56) and fields["seeds"] == 3


def record(seed: int) -> RunRecord:
    return RunRecord("plain", 20, seed, [1], [50.0], [1], [50.0], 50.0, 50.0, "completed", None, 1)


def test_store_refuses_a_non_empty_directory_without_resume(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(ValueError, match=r"is not empty; give --resume \(resume=True\)"):
        RunStore(tmp_path, SPEC).check(DegradationConfig(), resume=False)
    RunStore(tmp_path / "new", SPEC).check(DegradationConfig(), resume=False)  # absent: fine


def test_store_resumes_only_the_same_config(tmp_path: Path) -> None:
    store = RunStore(tmp_path, SPEC)
    store.open(DegradationConfig(seeds=3))
    store.save("plain20-seed1", record(1))
    store.check(DegradationConfig(seeds=3, workers=1, executor="ray"), resume=True)
    with pytest.raises(ValueError, match=r"config differs: seeds 3 \(saved\) != 2 \(now\)"):
        store.check(DegradationConfig(seeds=2), resume=True)
    assert store.restore(["plain20-seed0", "plain20-seed1"]) == {"plain20-seed1": record(1)}


def test_store_refuses_to_resume_what_it_did_not_start(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("")
    with pytest.raises(ValueError, match=r"holds no run\.json"):
        RunStore(tmp_path, SPEC).check(DegradationConfig(), resume=True)
    other = dataclasses.replace(SPEC, name="other")
    RunStore(tmp_path / "o", other).open(DegradationConfig())
    with pytest.raises(ValueError, match="holds a 'other' run, not 'degradation'"):
        RunStore(tmp_path / "o", SPEC).check(DegradationConfig(), resume=True)


def test_a_record_is_written_whole_or_not_at_all(tmp_path: Path, monkeypatch) -> None:
    store = RunStore(tmp_path, SPEC)
    store.open(DegradationConfig())
    monkeypatch.setattr("reslab.io.os.replace", _fail)
    with pytest.raises(OSError):
        store.save("plain20-seed0", record(0))
    assert list(store.records_dir.iterdir()) == []  # no partial file, no temp file left


def _fail(*args: typing.Any) -> None:
    raise OSError("disk full")


def test_config_diff_names_each_field() -> None:
    assert config_diff({"a": 1, "b": [1]}, {"a": 1, "b": [1]}) == ""
    assert (
        config_diff({"a": 1}, {"a": 2, "c": 0})
        == "a 1 (saved) != 2 (now); c None (saved) != 0 (now)"
    )


def test_a_fixed_step_experiment_names_its_own_budget_rule() -> None:
    from reslab.experiments.driver import check, make_config

    with pytest.raises(ValueError, match="trains a fixed number of steps"):
        check(get_experiment("gradients"), make_config("gradients", epochs=3))


@pytest.mark.parametrize("name", [e.name for e in list_experiments()])
def test_every_preset_passes_its_own_checks(name: str) -> None:
    # A preset that its own checks refuse can never run (the landscape paper preset once asked
    # for 51 interpolation points, which miss alpha = 0).
    from contextlib import suppress

    from reslab.data import DataError

    spec = get_experiment(name)
    for preset in spec.presets.values():
        preset.check()
        with suppress(DataError):  # a paper dataset absent offline: the other checks passed
            spec.check(preset)


class _BatchTask(SeedTask[Any]):
    KEY = "{variant}_b{batch}_seed{seed}"
    variant: str
    batch: int = 8


@dataclasses.dataclass(frozen=True)
class _DeclaredTask(Task[Any]):  # the explicit form, as older declarations have it
    KEY = "{net}_seed{seed}"
    config: Any
    net: str
    seed: int


def test_a_task_subclass_is_a_frozen_dataclass_of_its_own_fields() -> None:
    task = _BatchTask("cfg", "wide", seed=3)
    assert [f.name for f in dataclasses.fields(task)] == ["config", "seed", "variant", "batch"]
    assert task.key == "wide_b8_seed3" and dataclasses.replace(task, batch=2).key == "wide_b2_seed3"
    assert task == _BatchTask("cfg", "wide", seed=3) and pickle.loads(pickle.dumps(task)) == task
    with pytest.raises(TypeError):
        _BatchTask("cfg", "wide", 8, 3)  # type: ignore[misc]  # the seed is always named
    for obj in (task, _DeclaredTask("cfg", "a", 0)):
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.seed = 1  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            del obj.config  # type: ignore[misc]


def test_an_explicitly_declared_task_keeps_its_field_order() -> None:
    task = _DeclaredTask("cfg", "dense", 2)
    assert (task.net, task.seed, task.key) == ("dense", 2, "dense_seed2")


def test_the_shared_tasks_keep_their_keys() -> None:
    assert RunTask("cfg", "plain", 56, seed=1).key == "plain56_seed1"
    assert KindTask("cfg", "residual", seed=0).key == "residual_seed0"
    assert SeedTask("cfg", seed=4).key == "seed4"
    record = types.SimpleNamespace(kind="plain", depth=20, seed=2, final_test_err=9.1)
    assert RunTask.key_of(record) == "plain20_seed2"  # a record is named like its task


def test_define_reads_the_texts_the_module_states(monkeypatch) -> None:
    module = types.ModuleType("reslab_demo.shortcuts_again")
    module.__dict__.update(
        TITLE="A title", CLAIM="a claim", PAPER="A paper, Table 1", QUICK_TIME="1 min",
        PRESETS=SPEC.presets, tasks=SPEC.tasks, summarize=SPEC.summarize, judge=SPEC.judge,
    )  # fmt: skip
    monkeypatch.setitem(sys.modules, module.__name__, module)
    spec = define(module.__name__, record=RunRecord, run_task=SPEC.run_task)
    assert (spec.name, spec.title, spec.claim, spec.paper, spec.quick_time) == (
        "shortcuts_again", "A title", "a claim", "A paper, Table 1", "1 min"
    )  # fmt: skip
    assert define(module.__name__, record=RunRecord, run_task=SPEC.run_task, name="x").name == "x"
    del module.CLAIM, module.QUICK_TIME
    with pytest.raises(ValueError, match="states no CLAIM, QUICK_TIME"):
        define(module.__name__, record=RunRecord, run_task=SPEC.run_task)
