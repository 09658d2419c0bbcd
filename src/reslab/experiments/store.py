"""A run directory that survives a crash: each finished task's record is written at once.

Layout: ``run.json`` (the experiment and the config that decides its numbers),
``records/<key>.json`` (one per finished task, written atomically, so a kill leaves whole records
or none), then the result files. A resumed run reads the records back and runs only the missing
tasks, as Ray Tune's ``Tuner.restore`` does; it is refused when the config differs from the one
the directory holds.
Records are written by the driver alone, keyed by task: a task that an executor retries (Ray
re-runs a task whose worker died) can only rewrite its own record with the same numbers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from reslab.experiments.jsonable import from_jsonable, read_json, to_jsonable, write_json
from reslab.experiments.spec import Experiment, ExperimentConfig, identity_fields

MANIFEST = "run.json"
RECORDS = "records"


def default_run_dir(experiment: str, root: Path | str = "runs") -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{experiment}-{stamp}"
    suffix = 1
    while path.exists():  # two runs in the same second must not share a directory
        suffix += 1
        path = Path(root) / f"{experiment}-{stamp}-{suffix}"
    return path


class RunStore:
    """The records of one run directory; ``open`` checks it before anything is computed."""

    def __init__(self, run_dir: Path, spec: Experiment[Any, Any, Any]) -> None:
        self.run_dir = Path(run_dir)
        self.spec = spec

    @property
    def records_dir(self) -> Path:
        return self.run_dir / RECORDS

    def check(self, config: ExperimentConfig, *, resume: bool) -> None:
        """Refuse a directory that holds something this run would overwrite or mix with."""
        if not self.run_dir.exists():
            return
        if not self.run_dir.is_dir():
            raise ValueError(f"out={str(self.run_dir)!r} exists and is not a directory")
        if not resume:
            if any(self.run_dir.iterdir()):
                raise ValueError(
                    f"out={str(self.run_dir)!r} is not empty; give --resume (resume=True) to "
                    "continue the run it holds, or another output directory"
                )
            return
        manifest = self.run_dir / MANIFEST
        if not manifest.is_file():
            raise ValueError(
                f"cannot resume {str(self.run_dir)!r}: it holds no {MANIFEST}, so no run of "
                "reslab started there; accepted: a directory an earlier run wrote"
            )
        saved = read_json(manifest)
        if saved.get("experiment") != self.spec.name:
            raise ValueError(
                f"cannot resume {str(self.run_dir)!r}: it holds a {saved.get('experiment')!r} "
                f"run, not {self.spec.name!r}"
            )
        if diff := config_diff(saved.get("config", {}), to_jsonable(identity_fields(config))):
            raise ValueError(f"cannot resume {str(self.run_dir)!r}: the config differs: {diff}")

    def open(self, config: ExperimentConfig) -> None:
        """Create the directory (checked writable) and record what runs in it."""
        try:
            self.records_dir.mkdir(parents=True, exist_ok=True)
            write_json(
                self.run_dir / MANIFEST,
                {"experiment": self.spec.name, "config": identity_fields(config)},
            )
        except OSError as err:
            raise ValueError(
                f"output directory {str(self.run_dir)!r} is not writable: {err.strerror}"
            ) from None

    def restore(self, keys: list[str]) -> dict[str, Any]:
        """The records already finished, of the tasks ``keys``."""
        done = {}
        for key in keys:
            path = self.records_dir / f"{key}.json"
            if path.is_file():
                done[key] = from_jsonable(self.spec.record, read_json(path))
        return done

    def save(self, key: str, record: Any) -> None:
        write_json(self.records_dir / f"{key}.json", record)


def config_diff(saved: dict[str, Any], now: dict[str, Any]) -> str:
    """``name: saved -> now`` for every field that differs, or '' when none does."""
    names = sorted(set(saved) | set(now))
    parts = [
        f"{n} {saved.get(n)!r} (saved) != {now.get(n)!r} (now)"
        for n in names
        if saved.get(n) != now.get(n)
    ]
    return "; ".join(parts)
