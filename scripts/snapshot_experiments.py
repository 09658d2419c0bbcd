"""Run every registered experiment at its tests' tiny configuration and keep what it produced, so
that a refactor can be shown to change no number: records, summaries, verdicts and raw arrays.

    python scripts/snapshot_experiments.py run OUT_DIR          # one run directory per experiment
    python scripts/snapshot_experiments.py compare BEFORE AFTER # exits 1 on any difference

Fields that measure the machine rather than the net (wall times, step times, provenance) are
left out of the comparison; everything else must match exactly. Record files are compared by
content, not by name, so renamed task keys still compare.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

# Keys whose values measure the machine (times, process memory), not the experiment's nets.
VOLATILE = (
    "wall_s", "step_ms", "step_ratio", "_ms_", "seconds", "started", "finished", "cpu_s",
    "per_s", "train_s", "measure_s", "_mb", "mb_per_sample", "memory",
)  # fmt: skip
# Verdict text that quotes such measurements: masked before the texts are compared.
VOLATILE_TEXT = {"densenet": re.compile(r"\(b\) memory.*")}


def tiny_configs(tmp: Path) -> dict[str, Any]:
    """The tests' tiny configuration of every experiment (the same fields before and after)."""
    from tests.experiments import (
        test_densenet,
        test_depth,
        test_highway,
        test_identity,
        test_landscape,
        test_lesion,
        test_paths,
        test_placement,
        test_shortcuts,
        test_transformer,
        test_unet,
    )
    from tests.experiments.test_gradients import TINY as GRAD

    from reslab.experiments.registry import get_experiment

    text = tmp / "richard.txt"
    text.write_text(test_transformer.TEXT, encoding="utf-8")
    degr = get_experiment("degradation").config_type(
        data="synthetic1d", depths=(8, 14), seeds=2, epochs=2, workers=1, cost_steps=1
    )
    grad = get_experiment("gradients").config_type(
        **{**GRAD, "seeds": 2, "batches": 2, "variants": ("scale",)},
        depths=(8, 14), train_max_depth=8, steps=2,
    )  # fmt: skip
    return {
        "degradation": degr, "gradients": grad, "densenet": test_densenet.TINY,
        "depth": test_depth.TINY, "highway": test_highway.TINY, "identity": test_identity.TINY,
        "landscape": test_landscape.TINY, "lesion": test_lesion.TINY, "paths": test_paths.TINY,
        "placement": test_placement.TINY, "shortcuts": test_shortcuts.TINY,
        "transformer": test_transformer.tiny(text), "unet": test_unet.TINY,
    }  # fmt: skip


def run(out: Path, only: list[str]) -> None:
    from reslab.experiments.driver import execute
    from reslab.experiments.registry import get_experiment

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    for name, config in tiny_configs(out).items():
        if only and name not in only:
            continue
        print(name, flush=True)
        execute(get_experiment(name), config, out=out / name)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not any(s in k for s in VOLATILE)}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def digest(run_dir: Path) -> dict[str, Any]:
    # The run's own directory (a text dataset written there) is not part of its numbers.
    text = (run_dir / "results.json").read_text().replace(str(run_dir.parent), "OUT")
    results = json.loads(text)
    if pattern := VOLATILE_TEXT.get(run_dir.name):
        verdict = results["verdict"]
        verdict["text"] = pattern.sub("(machine)", verdict["text"])
    records = sorted(json.dumps(_clean(r), sort_keys=True) for r in results["records"])
    arrays: dict[str, Any] = {}
    if (run_dir / "raw.npz").exists():
        with np.load(run_dir / "raw.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    return {
        "config": _clean(results["config"]), "summary": _clean(results["summary"]),
        "verdict": _clean(results["verdict"]), "records": records, "arrays": arrays,
    }  # fmt: skip


def _canon(name: str) -> str:
    # Renames of the one-key-per-task change (arrays are named by their task's key): '-' and '_'
    # made alike, and the transformer's warm/nowarm spelled as warmup1/warmup0.
    name = name.replace("-", "_")
    return name.replace("_nowarm_", "_warmup0_").replace("_warm_", "_warmup1_")


def compare(before: Path, after: Path) -> int:
    failures = 0
    for run_dir in sorted(p for p in before.iterdir() if (p / "results.json").exists()):
        a, b = digest(run_dir), digest(after / run_dir.name)
        problems = [k for k in ("config", "summary", "verdict", "records") if a[k] != b[k]]
        arr_a = {_canon(k): v for k, v in a["arrays"].items()}
        arr_b = {_canon(k): v for k, v in b["arrays"].items()}
        if set(arr_a) != set(arr_b):
            problems.append(f"array names {sorted(set(arr_a) ^ set(arr_b))[:6]}")
        else:
            problems += [
                f"array {k}"
                for k in arr_a
                if not np.array_equal(arr_a[k], arr_b[k], equal_nan=True)
            ]
        same = not problems
        failures += not same
        detail = "identical" if same else "DIFFERS: " + ", ".join(problems)
        print(f"{run_dir.name:12s} {len(a['records']):3d} records, {len(a['arrays']):3d} arrays: "
              f"{detail}")  # fmt: skip
    return 1 if failures else 0


if __name__ == "__main__":
    verb, *args = sys.argv[1:]
    if verb == "run":
        run(Path(args[0]), args[1:])
    elif verb == "compare":
        sys.exit(compare(Path(args[0]), Path(args[1])))
    else:
        sys.exit(f"unknown verb {verb!r}; accepted: run, compare")
