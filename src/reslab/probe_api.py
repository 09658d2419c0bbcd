"""``reslab.run_probe``: the Python twin of ``reslab probe KIND``: load a model and data, run one
probe (``reslab.probes.run``), and save ``probe.json`` (the measurement, the model's source and
provenance) with its ``report.html``. Everything that can fail is done before anything is written.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reslab.io import atomic_write_text
from reslab.models import count_params
from reslab.probes.run import (
    check_probe,
    load_model,
    load_probe_data,
    probe_batches,
    probe_model,
)
from reslab.training.env import environment
from reslab.training.precision import resolve_device


def run_probe(
    kind: str, *, data: str, source: str | None = None, model_file: str | Path | None = None,
    data_dir: str | Path | None = None, split: str = "test", samples: int = 256,
    batch_size: int = 64, device: str = "auto", out: str | Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Probe ``kind`` (gradients, lesion, responses) of the model ``source`` / ``model_file``
    (``reslab.load_pretrained``'s formats) on ``samples`` samples of ``data``'s ``split``. Returns
    what ``probe.json`` holds; with ``out`` (a new or empty folder) writes it and report.html."""
    check_probe(kind)
    out_dir = _check_out(out)
    started = dt.datetime.now(dt.timezone.utc)
    dev = resolve_device(device)
    model = load_model(source, model_file)
    bundle = load_probe_data(data, model, data_dir=data_dir)
    model.to(dev)
    batches = probe_batches(bundle, split=split, samples=samples, batch_size=batch_size,
                            device=dev)  # fmt: skip
    result = probe_model(kind, model, batches)
    info = model.pretrained_info
    described = {
        **info.to_dict(),
        "class": type(model).__name__,
        "params": count_params(model),
        "blocks": len(getattr(model, "blocks", [])),
        "model_file": str(model_file) if model_file is not None else None,
    }
    data_used = {
        "spec": data,
        "data_dir": str(data_dir) if data_dir else None,
        "split": split,
        "samples": result.samples,
        "batch_size": batch_size,
        "source": bundle.source,
        "input_size": list(bundle.input_size),
        "mean": list(bundle.mean),
        "std": list(bundle.std),
    }
    saved = {
        "kind": "probe",
        "probe": kind,
        "model": described,
        "data": data_used,
        "result": result.to_dict(),
        "provenance": _provenance(dev, started),
    }
    if out_dir is not None:
        _write(saved, out_dir)
    return saved


def _check_out(out: str | Path | None) -> Path | None:
    if out is None:
        return None
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"out={out} is not empty; accepted: a new or empty folder")
    return out


def _provenance(device: torch.device, started: dt.datetime) -> dict[str, Any]:
    """What experiments record (versions, device, git commit), and when the probe ran."""
    env = environment(device, seed=0)
    env.pop("seed")  # nothing is drawn at random: the samples are evenly spaced
    end = dt.datetime.now(dt.timezone.utc)
    return {**env, "numpy": np.__version__,
            "started": started.isoformat(timespec="seconds"),
            "finished": end.isoformat(timespec="seconds"),
            "wall_s": round((end - started).total_seconds(), 1)}  # fmt: skip


def _write(saved: dict[str, Any], out: Path) -> None:
    import json

    from reslab.reporting.probe import PROBE_FILE, write_probe_report

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / PROBE_FILE, json.dumps(saved, indent=2, allow_nan=False) + "\n")
    write_probe_report(out)
