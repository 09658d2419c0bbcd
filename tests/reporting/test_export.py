"""Surface exports: HDF5 files in Li et al.'s loss-landscape layout and VTK structured grids,
read back (h5py; the .vts XML and its appended binary data by hand) and compared with the saved
grids exactly; the CLI's --export option and its errors."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from tests.reporting.test_landscape_report import saved_run
from typer.testing import CliRunner

from reslab.cli import app
from reslab.experiments.result import load_arrays
from reslab.reporting.export import (
    ExportError,
    Surface,
    export_run,
    parse_formats,
    run_surfaces,
    write_h5,
    write_vts,
)

h5py = pytest.importorskip("h5py")
pytest.importorskip("pyevtk")
runner = CliRunner()
NAMES = ["plain_seed0_surface", "plain_seed0_trajectory", "residual_seed0_surface",
         "residual_seed0_trajectory"]  # fmt: skip


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return saved_run(tmp_path)[0]


def read_vts(path: Path) -> tuple[tuple[int, int, int], dict[str, np.ndarray]]:
    """(points per axis, {name: values in VTK order, x fastest}) of a .vts with raw appended
    data, as pyevtk writes it: each array a byte count (the header type) then its bytes."""
    raw = path.read_bytes()
    head, _, rest = raw.partition(b'<AppendedData encoding="raw">')
    data = rest[rest.index(b"_") + 1 :]
    root = ET.fromstring(head + b"</VTKFile>")
    assert root.get("type") == "StructuredGrid" and root.get("byte_order") == "LittleEndian"
    header = np.dtype({"UInt64": "<u8", "UInt32": "<u4"}[root.get("header_type", "UInt32")])
    types = {"Float64": "<f8", "Float32": "<f4"}
    x0, x1, y0, y1, z0, z1 = map(int, root.find("StructuredGrid").get("WholeExtent").split())
    arrays = {}
    for array in root.iter("DataArray"):
        offset = int(array.get("offset"))
        nbytes = int(np.frombuffer(data, header, 1, offset)[0])
        dtype = np.dtype(types[array.get("type")])
        start = offset + header.itemsize
        values = np.frombuffer(data, dtype, count=nbytes // dtype.itemsize, offset=start)
        arrays[array.get("Name")] = values.reshape(-1, int(array.get("NumberOfComponents", 1)))
    return (x1 - x0 + 1, y1 - y0 + 1, z1 - z0 + 1), arrays


def test_every_surface_of_a_run_is_found_with_its_axes(run_dir: Path) -> None:
    arrays = load_arrays(run_dir)
    surfaces = {s.name: s for s in run_surfaces(run_dir)}
    assert sorted(surfaces) == NAMES
    plain = surfaces["plain_seed0_surface"]
    assert np.array_equal(plain.loss, arrays["plain_seed0_loss"]) and plain.path is None
    traj = surfaces["residual_seed0_trajectory"]
    assert np.array_equal(traj.xs, arrays["residual_seed0_traj_xs"])
    assert np.array_equal(traj.acc, arrays["residual_seed0_traj_acc"])
    assert np.array_equal(traj.path, arrays["residual_seed0_traj_path"])


def test_h5_files_hold_the_grids_in_li_et_al_layout(run_dir: Path) -> None:
    written = export_run(run_dir, ["h5"])
    assert [p.name for p in written] == [f"{n}.h5" for n in NAMES]
    arrays = load_arrays(run_dir)
    for path in written:
        prefix = path.stem.rsplit("_", 1)[0] + ("_traj" if "trajectory" in path.stem else "")
        xs_key, ys_key = (f"{prefix}_xs", f"{prefix}_ys") if "traj" in prefix else ("xs", "ys")
        with h5py.File(path, "r") as f:
            x, y = f["xcoordinates"][:], f["ycoordinates"][:]
            assert np.array_equal(x, arrays[xs_key]) and np.array_equal(y, arrays[ys_key])
            assert f["train_loss"].shape == (len(x), len(y))
            # Their plot_2D/h52vtp pair train_loss.ravel() with np.meshgrid(x, y) raveled.
            assert np.array_equal(f["train_loss"][:].ravel(), arrays[f"{prefix}_loss"].ravel())
            assert np.array_equal(f["train_acc"][:].ravel(),
                                  100.0 * arrays[f"{prefix}_acc"].ravel())  # fmt: skip
            if "traj" in prefix:
                assert np.array_equal(f["proj_xcoord"][:], arrays[f"{prefix}_path"][:, 0])
                assert np.array_equal(f["explained_variance_ratio_"][:],
                                      arrays[f"{prefix}_explained"])  # fmt: skip
            else:
                assert "proj_xcoord" not in f


def test_h5_index_order_on_a_non_square_grid(tmp_path: Path) -> None:
    xs, ys = np.linspace(-1, 1, 5), np.linspace(0, 3, 4)
    gx, gy = np.meshgrid(xs, ys)
    loss = 10 * gx + gy  # tells x from y
    write_h5(Surface("s", xs, ys, loss, loss / 100), tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f["train_loss"].shape == (5, 4)  # (len(x), len(y)), as their crunch creates it
        x, y = np.meshgrid(f["xcoordinates"][:], f["ycoordinates"][:])  # as h52vtp reads it
        assert np.array_equal(f["train_loss"][:].ravel(), (10 * x + y).ravel())


def test_vts_files_hold_the_grid_as_a_height_field_with_point_data(run_dir: Path) -> None:
    written = export_run(run_dir, ["vtk"])
    assert [p.name for p in written] == [f"{n}.vts" for n in NAMES]
    assert not [p for p in written[0].parent.iterdir() if p.name.startswith(".")]  # no temps
    surfaces = {s.name: s for s in run_surfaces(run_dir)}
    for path in written:
        s = surfaces[path.stem]
        dims, arrays = read_vts(path)
        assert dims == (len(s.xs), len(s.ys), 1)
        gx, gy = np.meshgrid(s.xs, s.ys)  # (ny, nx) raveled: x fastest, VTK's point order
        np.testing.assert_array_equal(arrays["points"], np.stack(
            [gx.ravel(), gy.ravel(), s.loss.ravel()], axis=1))  # fmt: skip
        assert np.array_equal(arrays["loss"].ravel(), s.loss.ravel())
        assert np.array_equal(arrays["acc"].ravel(), s.acc.ravel())


def test_vts_height_of_overflowed_points_is_the_largest_finite_loss(tmp_path: Path) -> None:
    xs = ys = np.array([-1.0, 0.0, 1.0])
    loss = np.arange(9, dtype=float).reshape(3, 3)
    loss[0, 2], loss[2, 2] = np.inf, np.nan
    write_vts(Surface("s", xs, ys, loss, np.zeros((3, 3))), tmp_path / "s.vts")
    _, arrays = read_vts(tmp_path / "s.vts")
    assert arrays["points"][:, 2].tolist() == [0, 1, 7, 3, 4, 5, 6, 7, 7]
    loss_back = arrays["loss"].ravel()
    assert loss_back[2] == np.inf and np.isnan(loss_back[8])  # the point data stays exact


def test_format_names_parse_and_errors_name_the_accepted_ones() -> None:
    assert parse_formats(["h5,vtk"]) == ["h5", "vtk"] == parse_formats(["H5", "vtk", "h5"])
    with pytest.raises(ExportError, match=r"'png' is unknown; accepted: h5, vtk"):
        parse_formats(["h5,png"])


def test_cli_exports_next_to_the_report(run_dir: Path) -> None:
    result = runner.invoke(app, ["report", str(run_dir), "--export", "h5", "--export", "vtk"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.split()
    assert lines[0] == str(run_dir / "report.html") and len(lines) == 1 + 2 * len(NAMES)
    assert sorted(p.name for p in (run_dir / "export").iterdir()) == sorted(
        [f"{n}.h5" for n in NAMES] + [f"{n}.vts" for n in NAMES]
    )
    again = runner.invoke(app, ["report", str(run_dir), "--export", "h5,vtk"])
    assert again.exit_code == 0 and again.stdout.split() == lines


def test_cli_rejects_an_unknown_format(run_dir: Path) -> None:
    result = runner.invoke(app, ["report", str(run_dir), "--export", "h5,png"],
                           env={"COLUMNS": "250"})
    assert result.exit_code == 2
    assert "'png' is unknown; accepted: h5, vtk" in result.output
    assert not (run_dir / "export").exists() and not (run_dir / "report.html").exists()


def test_cli_run_without_surfaces_is_one_error_line(run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "degradation"  # a finished run whose raw.npz holds curves, no surfaces
    run.mkdir()
    (run / "results.json").write_text(json.dumps({"experiment": "degradation"}))
    np.savez(run / "raw.npz", plain_8_test_err=np.ones((2, 5)), xs=np.arange(5.0))
    result = runner.invoke(app, ["report", str(run), "--export", "h5"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: run {str(run)!r} holds no loss surfaces to export (a landscape run does)"
    ]
    assert not (run / "export").exists()


def test_cli_missing_extra_is_one_line(run_dir: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    result = runner.invoke(app, ["report", str(run_dir), "--export", "vtk,h5"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: h5py is not installed: pip install 'reslab[export]'"
    ]
    assert not (run_dir / "export").exists()  # checked before anything is written
