from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import reslab.reporting as reporting_pkg
from reslab.reporting import (
    Report,
    ReportError,
    build_report,
    list_reports,
    register_report,
    registry,
)


@pytest.fixture(autouse=True)
def empty_registry(monkeypatch):
    monkeypatch.setattr(registry, "_REPORTS", {})


def make_run(root: Path, results: object, name: str = "run") -> Path:
    run = root / name
    run.mkdir(parents=True)
    text = results if isinstance(results, str) else json.dumps(results)
    (run / "results.json").write_text(text, encoding="utf-8")
    return run


def test_build_report_dispatches_on_experiment(tmp_path: Path):
    seen: list[Path] = []

    @register_report("toy")
    def toy(run_dir: Path) -> Report:
        seen.append(run_dir)
        results = json.loads((run_dir / "results.json").read_text())
        return Report(f"toy, depth {results['depth']}")

    run = make_run(tmp_path, {"experiment": "toy", "depth": 56})
    path = build_report(run)
    assert path == run / "report.html" and seen == [run]
    assert "<title>toy, depth 56</title>" in path.read_text(encoding="utf-8")
    assert "toy" in list_reports()


def test_report_module_is_imported_on_first_use(tmp_path: Path, monkeypatch):
    # An experiment's report lives in reslab/reporting/<name>.py; emulate one on the package path.
    pkg_dir = tmp_path / "extra"
    pkg_dir.mkdir()
    (pkg_dir / "lazyexp.py").write_text(
        "from reslab.reporting import Report, register_report\n"
        "@register_report('lazyexp')\n"
        "def build(run_dir):\n"
        "    return Report('lazy report')\n"
    )
    monkeypatch.setattr(reporting_pkg, "__path__", [*reporting_pkg.__path__, str(pkg_dir)])
    monkeypatch.delitem(sys.modules, "reslab.reporting.lazyexp", raising=False)
    try:
        assert "lazyexp" in list_reports()  # discovered before it is imported
        path = build_report(make_run(tmp_path, {"experiment": "lazyexp"}))
        assert "<title>lazy report</title>" in path.read_text(encoding="utf-8")
    finally:
        sys.modules.pop("reslab.reporting.lazyexp", None)


def test_a_report_module_with_a_broken_import_is_not_called_unknown(tmp_path, monkeypatch):
    pkg_dir = tmp_path / "extra"
    pkg_dir.mkdir()
    (pkg_dir / "brokenexp.py").write_text("import a_module_that_does_not_exist\n")
    monkeypatch.setattr(reporting_pkg, "__path__", [*reporting_pkg.__path__, str(pkg_dir)])
    try:
        with pytest.raises(ModuleNotFoundError, match="a_module_that_does_not_exist"):
            build_report(make_run(tmp_path, {"experiment": "brokenexp"}))
    finally:
        sys.modules.pop("reslab.reporting.brokenexp", None)


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ("{not json", r"is not valid JSON: Expecting property name .* line 1 column 2"),
        ("[1, 2]", r"holds a JSON list; accepted: an object"),
        ({"depth": 56}, r"has experiment=None; accepted: a non-empty string"),
        ({"experiment": "nosuch"}, r"experiment='nosuch' has no report; accepted: .*toy"),
        ({"experiment": "../../etc"}, r"experiment='../../etc' has no report"),
    ],
)
def test_bad_results_give_clear_errors(tmp_path: Path, results, message):
    register_report("toy")(lambda run_dir: Report("toy"))
    run = make_run(tmp_path, results)
    with pytest.raises(ReportError, match=message):
        build_report(run)
    assert not (run / "report.html").exists()


def test_missing_run_or_results(tmp_path: Path):
    with pytest.raises(ReportError, match="does not exist or is not a directory"):
        build_report(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match=r"results.json' is missing: not a finished run"):
        build_report(tmp_path / "empty")


def test_builder_must_return_a_report(tmp_path: Path):
    register_report("toy")(lambda run_dir: "<html>")
    with pytest.raises(ReportError, match=r"returned str; accepted: reslab\.reporting\.Report"):
        build_report(make_run(tmp_path, {"experiment": "toy"}))


def test_registration_is_strict():
    def first(run_dir):
        return Report("a")

    register_report("toy")(first)
    register_report("toy")(first)  # the same function again (a module re-import) is fine
    with pytest.raises(ValueError, match="'toy' is already registered"):
        register_report("toy")(lambda run_dir: Report("b"))
    for bad in ("Toy", "html", "a-b", ""):
        with pytest.raises(ValueError, match=f"experiment name {bad!r} is invalid"):
            register_report(bad)
