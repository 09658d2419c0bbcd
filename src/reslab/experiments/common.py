"""What every experiment shares: provenance, seed statistics and saving results as data."""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime as _dt
import functools
import io
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from reslab.experiments.setup import chance_err
from reslab.io import atomic_write_text, save_npz_atomic
from reslab.training.env import environment


def provenance(
    device: torch.device | str = "cpu", seeds: list[int] | None = None
) -> dict[str, Any]:
    """Versions, device, git commit and seeds: what every result records beside its numbers."""
    env = environment(torch.device(device), seed=seeds[0] if seeds else 0)
    env.pop("seed")
    return {
        **env,
        "numpy": np.__version__,
        "seeds": seeds,
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def gap_and_threshold(a: Any, b: Any) -> tuple[float, float]:
    """Mean of ``a`` minus mean of ``b`` (seeds' values, e.g. training error in points), and the
    size a gap must exceed to count: 1 point or twice its standard error over seeds, whichever is
    larger, so a single lucky or unlucky seed cannot decide a verdict."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    se = math.sqrt(_sample_var(a) / len(a) + _sample_var(b) / len(b))
    return float(a.mean() - b.mean()), max(1.0, 2 * se)


def _sample_var(x: np.ndarray) -> float:
    return float(x.var(ddof=1)) if len(x) > 1 else 0.0


def finished(prov: dict[str, Any]) -> dict[str, Any]:
    """``prov`` (taken before the work) with when the work ended and its wall-clock seconds."""
    end = _dt.datetime.now(_dt.timezone.utc)
    start = _dt.datetime.fromisoformat(prov["started"])
    return {**prov, "finished": end.isoformat(timespec="seconds"),
            "wall_s": round((end - start).total_seconds())}  # fmt: skip


def mean_std(values: Any) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single seed)."""
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


_NONFINITE = {"inf": math.inf, "-inf": -math.inf}


def from_jsonable(tp: Any, value: Any) -> Any:
    """The inverse of ``to_jsonable``, guided by the type annotation ``tp``: dataclasses from
    dicts, tuples where the type says tuple, ``Path``, arrays, and floats that were written as
    None (nan), "inf" or "-inf". Where the type says ``Any``, the JSON value is returned as is;
    ``float | None`` reads None as None (a nan written there cannot be told apart).
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or isinstance(tp, typing.TypeVar) or origin is typing.Literal:
        return value
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:
            if _fits(option, value):
                return from_jsonable(option, value)
        return from_jsonable(options[0], value) if len(options) == 1 else value
    if tp is float:
        if value is None:
            return math.nan
        if isinstance(value, str) and value in _NONFINITE:
            return _NONFINITE[value]
        return float(value) if isinstance(value, (int, float)) else value
    if value is None:
        return None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_from_json(tp, value)
    if tp is Path:
        return Path(value)
    if tp is np.ndarray:
        return np.asarray(value)
    if tp is int and isinstance(value, str):  # a dict key: to_jsonable wrote str(k)
        return int(value)
    if tp is tuple or origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_jsonable(args[0], v) for v in value)
        if args and args != ((),):
            return tuple(from_jsonable(a, v) for a, v in zip(args, value, strict=True))
        return tuple(value)
    if tp is list or origin in _SEQUENCES:
        item = args[0] if args else Any
        return [from_jsonable(item, v) for v in value]
    if tp is dict or origin in _MAPPINGS:
        key, item = args if args else (Any, Any)
        return {from_jsonable(key, k): from_jsonable(item, v) for k, v in value.items()}
    return value


_SEQUENCES = (list, collections.abc.Sequence, collections.abc.MutableSequence)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def _fits(tp: Any, value: Any) -> bool:
    """Could ``value`` be what ``to_jsonable`` wrote for a ``tp``? (picks a union's member)"""
    origin = typing.get_origin(tp)
    if tp is Any or origin is typing.Literal:
        return True
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return number or value is None or (isinstance(value, str) and value in _NONFINITE)
    if tp in (str, Path):
        return isinstance(value, str)
    if tp in (tuple, list, np.ndarray) or origin is tuple or origin in _SEQUENCES:
        return isinstance(value, list)
    if tp is dict or origin in _MAPPINGS:
        return isinstance(value, dict)
    return False


def _dataclass_from_json(cls: type, data: dict[str, Any]) -> Any:
    """Keys that are not init fields are ignored; a field missing from ``data`` (a file written
    before the field existed) gets its default."""
    hints = _type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init and f.name in data]
    return cls(**{f.name: from_jsonable(hints.get(f.name, Any), data[f.name]) for f in fields})


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # string annotations (``from __future__``) evaluated


def write_json(path: Path, data: Any) -> None:
    """``data`` as JSON (``to_jsonable``), written atomically (``reslab.io.atomic_write``)."""
    atomic_write_text(path, json.dumps(to_jsonable(data), indent=2, allow_nan=False))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def default_run_dir(experiment: str, root: Path | str = "runs") -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{experiment}-{stamp}"
    suffix = 1
    while path.exists():  # two runs in the same second must not share a directory
        suffix += 1
        path = Path(root) / f"{experiment}-{stamp}-{suffix}"
    return path


def check_writable(run_dir: Path) -> Path:
    """Fail before any computation if results could not be saved."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ValueError(
            f"output directory {str(run_dir)!r} is not writable: {err.strerror}"
        ) from None
    return run_dir


ResultT = TypeVar("ResultT", bound="ExperimentResult")


class ExperimentResult:
    """Base for experiment results: dataclass fields go to results.json, arrays to raw.npz.

    Subclasses are dataclasses with an ``experiment`` class attribute; they override ``arrays()``
    for bulky numeric data and ``tables()`` for CSV files a spreadsheet can open.
    """

    experiment: str = ""

    def arrays(self) -> dict[str, np.ndarray]:
        return {}

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        return {}

    def save(self, run_dir: Path | str) -> Path:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        data = {"experiment": self.experiment, **to_jsonable(self)}
        write_json(run_dir / "config.json", data.get("config", {}))
        if arrays := self.arrays():
            save_npz_atomic(run_dir / "raw.npz", arrays, compressed=True)
        for name, rows in self.tables().items():
            _write_csv(run_dir / f"{name}.csv", rows)
        write_json(run_dir / "results.json", data)  # last: its presence marks a complete run
        return run_dir

    @classmethod
    def load(cls: type[ResultT], run_dir: Path | str) -> ResultT:
        """The result ``save(run_dir)`` wrote, rebuilt from results.json by the dataclass field
        types (``from_jsonable``): nested dataclasses, tuples, and the nan/inf that JSON cannot
        hold. Only what ``to_jsonable(self)`` wrote comes back: a subclass keeping data outside
        its fields (in ``arrays()`` only) reads ``load_arrays(run_dir)`` in its own ``load``."""
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__}.load needs a dataclass result")
        path = Path(run_dir) / "results.json"
        data = read_json(path)
        found = data.get("experiment")
        if cls.experiment and found != cls.experiment:
            raise ValueError(
                f"{str(path)!r} holds a {found!r} result, not {cls.experiment!r}; "
                f"load it with that experiment's result class"
            )
        return _dataclass_from_json(cls, data)


def load_arrays(run_dir: Path | str) -> dict[str, np.ndarray]:
    path = Path(run_dir) / "raw.npz"
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as npz:  # never unpickle: plain arrays only
        return {k: npz[k] for k in npz.files}


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    import csv

    if not rows:
        return
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(to_jsonable(rows))
    atomic_write_text(path, text.getvalue())


def scalar_rows(records: list[Any]) -> list[dict[str, Any]]:
    """One CSV row per run record: its scalar fields (its curves go to raw.npz)."""
    return [{k: v for k, v in vars(r).items() if not isinstance(v, (list, dict))} for r in records]


def run_curves(runs: list[Any], curves: dict[str, tuple[str, str]]) -> dict[str, np.ndarray]:
    """``<kind><depth>_seed<seed>_<name>`` -> the (2, n) array of a run's (x, y) fields, for each
    ``name: (x field, y field)`` of ``curves``: the layout the reports read back."""
    out = {}
    for r in runs:
        for name, (x, y) in curves.items():
            xy = [getattr(r, x), getattr(r, y)]
            out[f"{r.kind}{r.depth}_seed{r.seed}_{name}"] = np.array(xy, dtype=float)
    return out


def final_err_pct(result: Any, key: str, num_classes: int) -> float:
    """``result.final[key]`` of a ``TrainResult`` in percent; a diverged run counts at chance
    level (it has learned nothing), not as missing."""
    value = result.final.get(key)
    if result.status == "diverged" or value is None or not np.isfinite(value):
        return chance_err(num_classes)
    return 100 * value
