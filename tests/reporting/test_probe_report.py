"""The report of a saved probe and its line in the runs index: drawn from probe.json alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reslab.reporting import ReportError, write_index
from reslab.reporting.probe import write_probe_report


def lesion_probe() -> dict:
    rows = [
        {"block": 0, "name": "layer1.0", "changes_shape": False, "loss": 0.9, "err": 20.5,
         "loss_rise": 0.1, "err_rise": 2.5, "skipped": False},
        {"block": 1, "name": "layer2.0", "changes_shape": True, "loss": None, "err": None,
         "loss_rise": None, "err_rise": None, "skipped": True},
        {"block": 2, "name": "layer2.1", "changes_shape": False, "loss": 1.7, "err": 61.25,
         "loss_rise": 0.9, "err_rise": 43.25, "skipped": False},
    ]  # fmt: skip
    columns = ["block", "name", "changes_shape", "loss", "err", "loss_rise", "err_rise", "skipped"]
    return {
        "kind": "probe", "probe": "lesion",
        "model": {"source": "resnet50:IMAGENET1K_V2", "family": "torchvision", "params": 25557032},
        "data": {"spec": "imagefolder:/data/val", "split": "test", "samples": 64},
        "result": {"probe": "lesion", "columns": columns, "rows": rows, "plot": ["err"],
                   "samples": 64, "intact": {"loss": 0.8, "err": 18.0}},
        "provenance": {"torch": "2.x", "git_commit": "abc123",
                       "finished": "2026-01-02T12:00:00+00:00"},
    }  # fmt: skip


def test_probe_report_has_the_figure_the_numbers_and_no_verdict(tmp_path: Path) -> None:
    (tmp_path / "probe.json").write_text(json.dumps(lesion_probe()))
    html = write_probe_report(tmp_path).read_text()
    assert (tmp_path / "probe.png").read_bytes().startswith(b"\x89PNG")
    assert "Deleting one block at a time: resnet50:IMAGENET1K_V2" in html
    assert "data:image/png;base64," in html
    assert "61.25" in html and "43.25" in html and "Intact model: loss 0.8 nats, error 18%" in html
    assert '<td class="num best">43.25</td>' in html  # the deletion that hurts most
    assert "Veit et al. 2016" in html and "abc123" in html
    assert 'class="verdict' not in html and "no verdict" in html


def test_probe_runs_are_listed_in_the_index_as_done(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "probe-lesion"
    run.mkdir(parents=True)
    (run / "probe.json").write_text(json.dumps(lesion_probe()))
    write_probe_report(run)
    (tmp_path / "runs" / "probe-broken").mkdir()
    (tmp_path / "runs" / "probe-broken" / "probe.json").write_text("{")
    html = write_index(tmp_path / "runs").read_text()
    assert "probe lesion" in html and "resnet50:IMAGENET1K_V2 (a measurement: no verdict)" in html
    assert "2026-01-02" in html and 'href="probe-lesion/report.html"' in html
    assert "1 broken or incomplete" in html  # the unreadable one


def test_a_missing_probe_file_is_a_report_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"cannot read .*probe\.json"):
        write_probe_report(tmp_path)


def test_build_report_redraws_a_probe_folder(tmp_path: Path) -> None:
    from reslab.reporting import build_report

    (tmp_path / "probe.json").write_text(json.dumps(lesion_probe()))
    assert build_report(tmp_path) == tmp_path / "report.html"
    assert "resnet50:IMAGENET1K_V2" in (tmp_path / "report.html").read_text()
