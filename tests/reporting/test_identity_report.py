from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from reslab.experiments.driver import execute
from reslab.experiments.identity import EXPERIMENT, IdentityConfig
from reslab.experiments.registry import load_result
from reslab.reporting import build_report
from reslab.reporting.summary import table_cells

from .browser import is_blank, load_and_check


@pytest.fixture(scope="module")
def identity_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: extra threads only contend on a shared machine
    config = IdentityConfig(
        data="synthetic1d", depth=8, deep_depth=14, seeds=2, epochs=None, steps=8,
        continue_steps=5, batch_size=64, workers=1, device="cpu",
    )  # fmt: skip
    run_dir = tmp_path_factory.mktemp("identity")
    execute(EXPERIMENT, config, out=run_dir)
    torch.set_num_threads(threads)
    yield run_dir


def test_identity_report_renders(identity_run: Path, browser) -> None:
    path = build_report(identity_run)
    html = path.read_text()
    assert "do no harm: yes" in html and "Continued training" in html and "±" in html
    assert "appends 3 same-shape blocks" in html and "max abs diff is the largest" in html
    assert (identity_run / "identity.png").read_bytes().startswith(b"\x89PNG")
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == []
    assert images == 1
    assert not is_blank(screenshot)


def test_table_rows_carry_the_measured_numbers(identity_run: Path) -> None:
    columns, cells = table_cells(load_result(identity_run).summary["variants"])
    assert columns[:4] == ["variant", "seeds", "max abs diff", "eval loss0"]
    rows = {row[0]: dict(zip(columns, row, strict=True)) for row in cells}
    assert list(rows) == ["shallow", "residual", "plain", "plain_zero"]
    assert rows["residual"]["max abs diff"].mean == 0.0  # max |Δ logit|, both seeds
    shallow, residual = rows["shallow"], rows["residual"]
    assert residual["train loss0"].mean == pytest.approx(shallow["train loss0"].mean, abs=1e-6)
    assert rows["plain"]["max abs diff"].mean > 0.01 and rows["plain"]["seeds"] == 2
