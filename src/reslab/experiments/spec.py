"""What an experiment is: a config, independent tasks, a record per task, a summary and a verdict.

Every claim reslab measures has this one shape (as Ray Tune's trials and timm's registered
builders do): the driver (``experiments.driver``) checks the config, makes the tasks, runs each
one with ``run_task`` on an executor, keeps every record in the run directory as it arrives,
then calls ``summarize`` and ``judge``. An experiment is therefore one ``Experiment(...)`` value
and the plain functions it names; see docs/ARCHITECTURE.md, "How to add an experiment".
"""

from __future__ import annotations

import dataclasses
import string
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from reslab.experiments.stats import OUTCOMES, SYMBOL, Threshold, combine
from reslab.training.config import TrainConfig, validate
from reslab.training.overrides import apply_overrides, set_field
from reslab.training.precision import resolve_device
from reslab.training.recipes import load_recipe

EXECUTORS = ("local", "ray")
# Seeds a protocol tunes on (an lr, a gate bias, a threshold) start here, apart from the
# confirmation seeds its verdict uses (He et al.'s and every paper's tuning is on other runs).
CALIBRATION_SEED0 = 1000


def option(default: Any, help: str, *, cli: bool = True, execution: bool = False) -> Any:
    """A config field with its ``--help`` text (the CLI is generated from it).

    ``execution``: how the run is carried out, not what it measures (workers, executor...):
    such fields may differ when a run directory is resumed. ``cli=False``: no command-line option.
    """
    meta = {"help": help, "cli": cli, "execution": execution}
    return field(default=default, metadata=meta)


@dataclass(kw_only=True)
class ExperimentConfig:
    """The fields every experiment has; an experiment's config subclasses this."""

    preset: str = option("quick", "The preset this config started from.", cli=False)
    data: str = option("mnist1d", "Dataset: mnist1d (embedded), cifar10, synthetic, ...")
    data_dir: str | None = option(None, "Directory holding an existing copy of the dataset.")
    seeds: int = option(3, "Number of (confirmation) seeds: first_seed .. first_seed+N-1.")
    first_seed: int = option(
        0, "First confirmation seed: a rule changed after seeing results needs fresh seeds."
    )
    epochs: int | None = option(None, "Epochs per training run (replaces the preset's --steps).")
    steps: int | None = option(None, "Iterations per training run (replaces the preset's epochs).")
    overrides: tuple[str, ...] = option((), "Training override section.field=value (repeatable).")
    device: str = option("auto", "auto (cuda if present), cpu, cuda, cuda:N.")
    workers: int = option(
        0, "Parallel runs (0: 2 processes on a CPU, one per GPU slot).", execution=True
    )
    executor: str = option("local", "Where runs go: local (process pool) or ray.", execution=True)
    ray_address: str | None = option(
        None, "Ray cluster: auto or HOST:PORT (default: start a local Ray).", execution=True
    )
    runs_per_gpu: int = option(1, "Runs packed on each GPU at once.", execution=True)

    @property
    def seed_range(self) -> range:
        """The confirmation seeds: the ones a verdict rests on."""
        return range(self.first_seed, self.first_seed + self.seeds)

    def check(self) -> None:
        """The errors every config can hold; an experiment's own ``check`` adds its own."""
        # An experiment with a fixed number of steps (gradients) rejects epochs in its own check.
        budget_is_a_choice = _optional(self, "epochs") and _optional(self, "steps")
        if budget_is_a_choice and self.epochs is not None and self.steps is not None:
            raise ValueError(
                f"epochs={self.epochs} and steps={self.steps}: give epochs or steps, not both"
            )
        for name in ("seeds", "runs_per_gpu"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if not 0 <= self.first_seed <= CALIBRATION_SEED0 - self.seeds:
            raise ValueError(
                f"first_seed={self.first_seed} with seeds={self.seeds}: confirmation seeds must "
                f"stay in 0..{CALIBRATION_SEED0 - 1}, apart from the calibration seeds"
            )
        if self.workers < 0:
            raise ValueError(f"workers={self.workers} must be >= 0 (0: automatic)")
        if self.executor not in EXECUTORS:
            raise ValueError(
                f"executor={self.executor!r} is unknown; accepted: {', '.join(EXECUTORS)}"
            )
        resolve_device(self.device)  # ConfigError naming the accepted devices


def default(name: str, value: Any) -> Any:
    """A base field of ``TrainedConfig``/``ExperimentConfig`` with this experiment's default: the
    type, the help text and the checks stay declared once, in the base."""
    for base in (TrainedConfig, ExperimentConfig):
        known = {f.name: f for f in dataclasses.fields(base)}
        if name in known:
            return field(default=value, metadata=known[name].metadata)
    raise ValueError(f"{name!r} is not a field of TrainedConfig")


@dataclass(kw_only=True)
class TrainedConfig(ExperimentConfig):
    """The fields of every experiment that trains nets with a recipe, declared once; the driver
    validates the recipe they make (``check``) before any run starts."""

    recipe: str = option("paper", "Training recipe: paper, preact, fast, mnist1d, highway, gpt.")
    batch_size: int = option(128, "Batch size.")
    log_every: int = option(10, "Iterations between training-error points.")

    def recipe_fields(self) -> tuple[tuple[str, Any], ...]:
        """Recipe fields (``section.field``, value) this experiment sets on every run, beyond the
        data, the length, the seed and the logging."""
        return ()

    def train_config(self, seed: int, *extra: tuple[str, Any]) -> TrainConfig:
        """The recipe with the data, length, seed and logging, this experiment's fields, then a
        task's ``extra`` fields (an lr, a warm-up); the user's overrides go last, so they win."""
        cfg = load_recipe(self.recipe)
        for key, value in (
            ("data.name", self.data), ("data.batch_size", self.batch_size),
            ("train.epochs", self.epochs), ("train.steps", self.steps), ("train.seed", seed),
            ("train.log_every", self.log_every), *self.recipe_fields(), *extra,
        ):  # fmt: skip
            cfg = set_field(cfg, key, value)
        return apply_overrides(cfg, self.overrides)

    def check(self) -> None:
        super().check()
        validate(self.train_config(0))  # ConfigError for a bad recipe or --set override


def identity_fields(config: ExperimentConfig) -> dict[str, Any]:
    """The fields that decide the numbers: all but the execution fields."""
    return {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if not f.metadata.get("execution")
    }


@dataclass
class Verdict:
    """Did the measurement reproduce the claim? Computed from ``numbers`` by ``stats``, never
    forced. ``outcome`` is reproduced, contradicted or inconclusive (``stats.OUTCOMES``); ``ok``
    is ``outcome == "reproduced"``. A claim of several parts gives each part's outcome in
    ``parts`` and combines them with ``stats.combine``."""

    ok: bool
    text: str  # one line, with the numbers it rests on
    numbers: dict[str, Any] = field(default_factory=dict)
    outcome: str = ""  # "" in results saved before outcomes existed: read from ``ok``
    parts: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.outcome:
            self.outcome = "reproduced" if self.ok else "contradicted"
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome={self.outcome!r}; accepted: {', '.join(OUTCOMES)}")
        if self.ok != (self.outcome == "reproduced"):
            raise ValueError(f"ok={self.ok} contradicts outcome={self.outcome!r}")

    @classmethod
    def of(
        cls, parts: Mapping[str, str], text: str, numbers: dict[str, Any] | None = None
    ) -> Verdict:
        """The verdict of a claim whose parts have these outcomes (``stats.combine``)."""
        outcome = combine(parts.values())
        return cls(outcome == "reproduced", text, numbers or {}, outcome, dict(parts))

    @property
    def symbol(self) -> str:
        return SYMBOL[self.outcome]


# What a run of an experiment that reports only its final errors sets (no per-epoch evaluation,
# no checkpoints: a task is short and its record is what is kept).
FINAL_EVAL_ONLY: tuple[tuple[str, Any], ...] = (
    ("train.eval_every", 10**9),
    ("train.eval_train", True),
    ("train.checkpoint_every", 0),
)


C = TypeVar("C", bound=ExperimentConfig)


class _Immutable:
    """Refuses every assignment and deletion: a task is a value (its ``__init__``, a frozen
    dataclass's, sets its fields with ``object.__setattr__``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


@typing.dataclass_transform(frozen_default=True, field_specifiers=(field,))
@dataclass(frozen=True)
class Task(_Immutable, Generic[C]):
    """One independent unit of an experiment: the config it runs under, then its own fields.
    ``KEY`` formats the task's fields into its one name: the record file
    (``records/<key>.json``) and the prefix of its arrays in raw.npz, so ``key_of(record)``
    gives a record the same name from the record's own fields.

    A subclass is a frozen dataclass without saying so: it declares only its ``KEY`` and the
    fields it adds (``class UnetTask(SeedTask[UnetConfig])``)."""

    KEY: ClassVar[str]
    config: C

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)
        # An explicit ``@dataclass(frozen=True)`` on the subclass processes it once more and
        # refuses to replace a ``__setattr__`` of the class's own: leave both to ``_Immutable``,
        # which refuses the same assignments.
        del cls.__setattr__, cls.__delattr__

    @property
    def key(self) -> str:
        return self.key_of(self)

    @classmethod
    def key_of(cls, obj: Any) -> str:
        return string.Formatter().vformat(cls.KEY, (), _Fields(obj))


class _Fields(dict):  # type: ignore[type-arg]
    """``str.format`` over an object's attributes."""

    def __init__(self, obj: Any) -> None:
        super().__init__()
        self.obj = obj

    def __missing__(self, name: str) -> Any:
        return getattr(self.obj, name)


T = TypeVar("T")
R = TypeVar("R")
Summary = dict[str, Any]  # named tables (lists of row dicts) and plain values


def _no_check(config: Any) -> None:
    return None


def _no_arrays(config: Any, records: list[Any]) -> dict[str, np.ndarray]:
    return {}


def _shared_process(config: Any) -> bool:
    return False


@dataclass(frozen=True)
class Experiment(Generic[C, T, R]):
    """One registered experiment.

    ``tasks(config, workdir)`` lists the independent units: frozen dataclasses, each with a
    ``key`` (unique and file-safe) that names its record file and its arrays in raw.npz;
    ``workdir`` is the run directory, where a
    task may keep files it can resume from (None when nothing is saved). ``run_task(task)`` is a
    top-level function (picklable for process pools and Ray) returning one ``record`` dataclass.
    ``summarize(config, records)`` gives the tables, with the paper's numbers beside them;
    ``judge(config, summary)`` the verdict. ``record`` is a dataclass, or a union of them where
    tasks of different jobs return different records (told apart by their required fields).
    ``arrays`` adds bulky numbers for raw.npz; ``fresh_process`` asks for every task in a new
    process (peak-memory measurements).
    """

    name: str
    title: str
    claim: str
    paper: str
    presets: Mapping[str, C]
    record: type[R] | types.UnionType
    tasks: Callable[[C, Path | None], list[T]]
    run_task: Callable[[T], R]
    summarize: Callable[[C, list[R]], Summary]
    judge: Callable[[C, Summary], Verdict]
    check: Callable[[C], None] = _no_check
    arrays: Callable[[C, list[R]], dict[str, np.ndarray]] = _no_arrays
    fresh_process: Callable[[C], bool] = _shared_process
    # Tasks that need the first tasks' records (confirmation runs at what calibration chose):
    # ``followup(config, records)`` -> more tasks, run after the first ones.
    followup: Callable[[C, list[R]], list[T]] | None = None
    # The minimum effect of each part of the claim, declared before any run (``stats``).
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    quick_time: str = ""  # measured wall time of the quick preset on 2 CPU cores

    @property
    def config_type(self) -> type[C]:
        return type(self.presets["quick"])

    def preset(self, name: str) -> C:
        if name not in self.presets:
            raise ValueError(f"preset={name!r} is unknown; accepted: {', '.join(self.presets)}")
        return self.presets[name]


# The texts an experiment module states once, as module constants, and the ``Experiment`` fields
# they fill: ``TITLE``, ``CLAIM`` (one line, with the paper's terms), ``PAPER`` (where the claim
# is made) and ``QUICK_TIME`` (the measured wall time of the quick preset on 2 idle CPU cores, the
# one place it is kept; every one from one ``reslab run --all`` on 2 idle cores, 2026-12-07,
# docs/measurements.md).
TEXTS = {"title": "TITLE", "claim": "CLAIM", "paper": "PAPER", "quick_time": "QUICK_TIME"}


def define(
    module: str,
    *,
    record: type[Any] | types.UnionType,
    run_task: Callable[[Any], Any],
    name: str | None = None,
    title: str | None = None,
    claim: str | None = None,
    paper: str | None = None,
    quick_time: str | None = None,
) -> Experiment[Any, Any, Any]:
    """The experiment that ``module`` defines in the one shape, named after the module: its
    ``TEXTS`` constants, ``PRESETS``, ``tasks``, ``summarize`` and ``judge``, and where it has them
    ``check``, ``arrays``, ``fresh_process``, ``followup`` and ``THRESHOLDS``, found by those names
    (as pytest finds its tests). A name or text given here is used instead of the module's."""
    namespace = vars(sys.modules[module])
    given = {"name": name, "title": title, "claim": claim, "paper": paper, "quick_time": quick_time}
    texts = {"name": module.rpartition(".")[2]} | {
        key: namespace[constant] for key, constant in TEXTS.items() if constant in namespace
    }
    texts |= {key: text for key, text in given.items() if text is not None}
    if missing := sorted(TEXTS[key] for key in TEXTS.keys() - texts.keys()):
        raise ValueError(f"{module} states no {', '.join(missing)}")
    optional = {"check": "check", "arrays": "arrays", "fresh_process": "fresh_process",
                "thresholds": "THRESHOLDS", "followup": "followup"}  # fmt: skip
    return Experiment(
        **texts, presets=namespace["PRESETS"], record=record, tasks=namespace["tasks"],
        run_task=run_task, summarize=namespace["summarize"], judge=namespace["judge"],
        **{k: namespace[v] for k, v in optional.items() if v in namespace},
    )  # fmt: skip


def configure(base: C, changes: Mapping[str, Any]) -> C:
    """``base`` with ``changes`` (the CLI passes only the options given). Either of
    ``epochs``/``steps`` replaces the preset's whole training budget, so the other one is
    cleared: a preset of 20 epochs asked for ``steps=50`` runs 50 steps. Both given stay both,
    and ``ExperimentConfig.check`` refuses them."""
    changes = dict(changes)
    names = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a setting of "
            f"{type(base).__name__}; accepted: {', '.join(sorted(names))}"
        )
    budget = {k for k in ("epochs", "steps") if changes.get(k) is not None}
    if len(budget) == 1:
        other = ({"epochs", "steps"} - budget).pop()
        if _optional(base, other):
            changes.setdefault(other, None)
    return dataclasses.replace(base, **changes)


def _optional(config: Any, name: str) -> bool:
    # A budget field that cannot be None (gradients' fixed ``steps``) is not cleared.
    hint = next(f.type for f in dataclasses.fields(config) if f.name == name)
    return "None" in str(hint)
