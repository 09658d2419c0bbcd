from __future__ import annotations

from pathlib import Path

import pytest

from reslab.experiments.registry import load_result
from reslab.reporting.summary import table_cells

from .browser import rendered_report


@pytest.fixture(scope="module")
def identity_run(tiny_run) -> Path:
    return tiny_run("identity", seeds=2, steps=8, continue_steps=5)


def test_identity_report_renders(identity_run: Path, browser) -> None:
    html = rendered_report(identity_run, browser, ("identity.png",), 1)
    assert "do no harm: yes" in html and "Continued training" in html and "±" in html
    assert "appends 3 same-shape blocks" in html and "max abs diff is the largest" in html


def test_table_rows_carry_the_measured_numbers(identity_run: Path) -> None:
    columns, cells = table_cells(load_result(identity_run).summary["variants"])
    assert columns[:4] == ["variant", "seeds", "max abs diff", "eval loss0"]
    rows = {row[0]: dict(zip(columns, row, strict=True)) for row in cells}
    assert list(rows) == ["shallow", "residual", "plain", "plain_zero"]
    assert rows["residual"]["max abs diff"].mean == 0.0  # max |Δ logit|, both seeds
    shallow, residual = rows["shallow"], rows["residual"]
    assert residual["train loss0"].mean == pytest.approx(shallow["train loss0"].mean, abs=1e-6)
    assert rows["plain"]["max abs diff"].mean > 0.01 and rows["plain"]["seeds"] == 2
