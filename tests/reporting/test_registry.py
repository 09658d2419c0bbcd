"""The generic report: every experiment's run gets one, with its figures when it has some."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

import reslab.reporting as reporting_pkg
from reslab.reporting import ReportError, build_report, get_figures, register_figures, registry
from reslab.reporting.summary import table_cells


def make_run(root: Path, results: object, name: str = "run") -> Path:
    run = root / name
    run.mkdir(parents=True)
    text = results if isinstance(results, str) else json.dumps(results)
    (run / "results.json").write_text(text, encoding="utf-8")
    return run


@pytest.fixture
def run_copy(tiny_run, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_run("degradation"), tmp_path / "run"))


def test_generic_report_has_banner_figures_tables_numbers_and_provenance(run_copy) -> None:
    html = build_report(run_copy).read_text(encoding="utf-8")
    results = json.loads((run_copy / "results.json").read_text())
    assert results["verdict"]["text"].split(" — ")[0] in html
    assert "He et al. 2015, section 4.2 and Figure 6" in html  # the paper, from the registry
    assert "Training curves" in html  # the experiment's own figure function
    assert "train err" in html and "±" in html  # mean ± std merged from the summary table
    assert "test err (paper)" in html  # the paper's column, beside ours
    assert "plain_gap" in html  # the numbers the verdict used
    assert "git_commit" in html and "depths" in html  # provenance and config


def test_an_experiment_without_figures_still_gets_the_report(run_copy, monkeypatch) -> None:
    monkeypatch.setattr(registry, "get_figures", lambda name: None)
    html = build_report(run_copy).read_text(encoding="utf-8")
    assert "Training curves" not in html and "Summary" in html and "plain_gap" in html


def test_figure_module_is_imported_on_first_use(tmp_path: Path, monkeypatch) -> None:
    # An experiment's figures live in reslab/reporting/<name>.py; emulate one on the path.
    pkg_dir = tmp_path / "extra"
    pkg_dir.mkdir()
    (pkg_dir / "lazyexp.py").write_text(
        "from reslab.reporting import register_figures\n"
        "@register_figures('lazyexp')\n"
        "def figures(result, report, run_dir):\n"
        "    report.add_text('lazy figures')\n"
    )
    monkeypatch.setattr(reporting_pkg, "__path__", [*reporting_pkg.__path__, str(pkg_dir)])
    monkeypatch.setattr(registry, "_FIGURES", {})
    try:
        assert get_figures("lazyexp").__name__ == "figures"
        assert get_figures("nosuch") is None  # no module: the generic report alone
    finally:
        sys.modules.pop("reslab.reporting.lazyexp", None)


def test_a_figure_module_with_a_broken_import_is_not_silently_skipped(tmp_path, monkeypatch):
    pkg_dir = tmp_path / "extra"
    pkg_dir.mkdir()
    (pkg_dir / "brokenexp.py").write_text("import a_module_that_does_not_exist\n")
    monkeypatch.setattr(reporting_pkg, "__path__", [*reporting_pkg.__path__, str(pkg_dir)])
    try:
        with pytest.raises(ModuleNotFoundError, match="a_module_that_does_not_exist"):
            get_figures("brokenexp")
    finally:
        sys.modules.pop("reslab.reporting.brokenexp", None)


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ("{not json", r"is not valid JSON: Expecting property name .* line 1 column 2"),
        ("[1, 2]", r"holds a JSON list; accepted: an object"),
        ({"depth": 56}, r"has experiment=None; accepted: a non-empty string"),
        ({"experiment": "nosuch"}, r"experiment='nosuch' is unknown; accepted: .*degradation"),
        ({"experiment": "degradation"}, r"cannot be read back: 'config'"),
    ],
)
def test_bad_results_give_clear_errors(tmp_path: Path, results, message) -> None:
    run = make_run(tmp_path, results)
    with pytest.raises(ReportError, match=message):
        build_report(run)
    assert not (run / "report.html").exists()


def test_missing_run_or_results(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="does not exist or is not a directory"):
        build_report(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match=r"results.json' is missing: not a finished run"):
        build_report(tmp_path / "empty")


def test_registration_is_strict(monkeypatch) -> None:
    monkeypatch.setattr(registry, "_FIGURES", {})

    def first(result, report, run_dir):
        return None

    register_figures("toy")(first)
    register_figures("toy")(first)  # the same function again (a module re-import) is fine
    with pytest.raises(ValueError, match="'toy' are already registered"):
        register_figures("toy")(lambda result, report, run_dir: None)
    for bad in ("Toy", "a-b", ""):
        with pytest.raises(ValueError, match=f"experiment name {bad!r} is invalid"):
            register_figures(bad)


def test_summary_tables_merge_mean_and_std_and_head_the_papers_numbers() -> None:
    rows = [{"depth": 20, "seeds": 3, "err_mean": 8.0, "err_std": 0.5, "paper_err": 8.75}]
    columns, cells = table_cells(rows)
    assert columns == ["depth", "seeds", "err", "err (paper)"]
    mean_std = cells[0][2]
    assert (mean_std.mean, mean_std.std, mean_std.n) == (8.0, 0.5, 3)
    assert cells[0][3] == 8.75
