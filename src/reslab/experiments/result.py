"""One result shape for every experiment, saved as data: results.json, CSV tables, raw.npz.

results.json holds ``experiment``, ``config``, ``provenance``, ``verdict`` (``ok``, ``text``,
``numbers``), ``summary`` (named tables and values) and ``records`` (one per task). Reports and
users read it back with ``Result.load``, which rebuilds the typed config and records.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Generic

import numpy as np

from reslab.experiments.jsonable import from_jsonable, read_json, to_jsonable, write_json
from reslab.experiments.spec import C, Experiment, R, Summary, Verdict
from reslab.io import atomic_write_text, save_npz_atomic

RESULTS_FILE = "results.json"


@dataclass
class Result(Generic[C, R]):
    experiment: str
    config: C
    provenance: dict[str, Any]
    verdict: Verdict
    summary: Summary
    records: list[R] = field(default_factory=list)
    # The experiment itself, handed over by whoever makes or loads the result; results.json
    # keeps its name (``experiment``) alone.
    spec: Experiment[C, Any, R] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.spec is not None and self.spec.name != self.experiment:
            raise ValueError(f"experiment={self.experiment!r} but spec is {self.spec.name!r}")

    def arrays(self) -> dict[str, np.ndarray]:
        """The experiment's bulky numbers (curves, grids), computed from the records."""
        if self.spec is None:
            raise ValueError(f"the result of {self.experiment!r} was made without its spec")
        return self.spec.arrays(self.config, self.records)

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """The summary's tables, plus one row of scalars per record: what the CSV files hold."""
        tables = {k: v for k, v in self.summary.items() if is_table(v)}
        rows = [_scalars(to_jsonable(r)) for r in self.records]
        return {**tables, "records": rows} if rows else tables

    def save(self, run_dir: Path | str) -> Path:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "config.json", self.config)
        if arrays := self.arrays():
            save_npz_atomic(run_dir / "raw.npz", arrays, compressed=True)
        for name, rows in self.tables().items():
            write_csv(run_dir / f"{name}.csv", rows)
        saved = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "spec"}
        write_json(run_dir / RESULTS_FILE, saved)  # last: its presence marks a complete run
        return run_dir

    @classmethod
    def load(cls, run_dir: Path | str, spec: Experiment[Any, Any, Any]) -> Result[Any, Any]:
        """The result ``save`` wrote, with its config and records rebuilt as ``spec``'s
        dataclasses (``registry.load_result`` finds the spec from the file)."""
        return cls.from_json(read_json(Path(run_dir) / RESULTS_FILE), spec)

    @classmethod
    def from_json(cls, data: dict[str, Any], spec: Experiment[Any, Any, Any]) -> Result[Any, Any]:
        """The result from the parsed results.json ``data`` of ``spec``'s experiment."""
        if data.get("experiment") != spec.name:
            raise ValueError(f"experiment={data.get('experiment')!r}; accepted: {spec.name!r}")
        return cls(
            experiment=spec.name,
            config=from_jsonable(spec.config_type, data["config"]),
            provenance=data.get("provenance", {}),
            verdict=from_jsonable(Verdict, data["verdict"]),
            summary=data.get("summary", {}),
            records=[from_jsonable(spec.record, r) for r in data.get("records", [])],
            spec=spec,
        )


def is_table(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(r, dict) for r in value)


def _scalars(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A record's scalars as one CSV row: nested measurements flattened as ``<field>_<key>``;
    curves (lists) stay in results.json / raw.npz."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(_scalars(value, f"{prefix}{key}_"))
        elif not isinstance(value, list):
            out[prefix + key] = value
    return out


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    text = io.StringIO(newline="")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(to_jsonable(rows))
    atomic_write_text(path, text.getvalue())


def load_arrays(run_dir: Path | str) -> dict[str, np.ndarray]:
    path = Path(run_dir) / "raw.npz"
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as npz:  # never unpickle: plain arrays only
        return {k: npz[k] for k in npz.files}
