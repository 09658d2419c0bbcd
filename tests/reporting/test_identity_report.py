from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from reslab.experiments.identity import IdentityConfig, run
from reslab.reporting import build_report, load_results
from reslab.reporting.identity import summary_rows

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
    run(config).save(run_dir)
    torch.set_num_threads(threads)
    yield run_dir


def test_identity_report_renders(identity_run: Path, browser) -> None:
    path = build_report(identity_run)
    html = path.read_text()
    assert "do no harm: yes" in html and "max |Δ logit| at insertion" in html and "±" in html
    assert (identity_run / "identity.png").read_bytes().startswith(b"\x89PNG")
    errors, screenshot, images, _ = load_and_check(path, browser)
    assert errors == []
    assert images == 1
    assert not is_blank(screenshot)


def test_table_rows_carry_the_measured_numbers(identity_run: Path) -> None:
    results = load_results(identity_run)
    rows = {row[0]: row for row in summary_rows(results["summary"])}
    assert list(rows) == [
        "shallow net, continued", "+ zero-init residual blocks", "+ plain layers, He init",
        "+ plain layers, zero init",
    ]  # fmt: skip
    assert rows["+ zero-init residual blocks"][1].mean == 0.0  # max |Δ logit|, both seeds
    shallow, residual = rows["shallow net, continued"], rows["+ zero-init residual blocks"]
    assert residual[3].mean == pytest.approx(shallow[3].mean, abs=1e-6)  # first-batch loss
    assert rows["+ plain layers, He init"][1].mean > 0.01
