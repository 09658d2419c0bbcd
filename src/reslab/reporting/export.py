"""Loss surfaces of a saved run, exported for other tools.

- ``h5``: one HDF5 file per surface in the layout of Li et al.'s loss-landscape code
  (github.com/tomgoldstein/loss-landscape, ``plot_surface.py``): datasets ``xcoordinates``,
  ``ycoordinates``, ``train_loss`` and ``train_acc`` (in percent, as their ``evaluation.py``),
  the last two of shape (len(x), len(y)) whose flat buffer runs over x fastest, y slowest
  (their ``crunch`` fills ``losses.ravel()[i]`` in ``np.meshgrid(x, y)`` order, and
  ``plot_2D.py``/``h52vtp.py`` read it back that way), so ``plot_2D.plot_2d_contour`` and
  ``h52vtp.h5_to_vtp`` read our files. A trajectory surface also holds ``proj_xcoord``,
  ``proj_ycoord`` (their ``project_trajectory``) and ``explained_variance_ratio_`` (their PCA
  direction file): pass the one file as surf_file, dir_file and proj_file of
  ``plot_2D.plot_contour_trajectory(..., surf_name='train_loss')``.
- ``vtk``: a VTK XML structured grid (``.vts``) that ParaView opens: points (x, y, loss), the
  loss as height (non-finite losses, where a plain net overflowed, at the largest finite one),
  and the exact ``loss`` and ``acc`` as point data.

Both writers are optional extras (``pip install 'reslab[export]'``): h5py, and pyevtk, a small
pure-Python writer of VTK XML files, chosen over meshio or pyvista because it needs neither
the VTK C++ library nor anything beyond NumPy.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from reslab.experiments.result import load_arrays
from reslab.io import atomic_write
from reslab.reporting.registry import ReportError, load_results

FORMATS = ("h5", "vtk")
SUFFIX = {"h5": ".h5", "vtk": ".vts"}
EXPORT_DIR = "export"
MISSING_EXTRA = "pip install 'reslab[export]'"
_SURFACE = re.compile(r"^(?P<prefix>.+?)(?P<traj>_traj)?_loss$")


class ExportError(ReportError):
    """A run's surfaces cannot be exported; the message says why and what to do."""


@dataclass(frozen=True)
class Surface:
    name: str  # file stem: <kind>_seed<s>_surface (random directions) or ..._trajectory (PCA)
    xs: np.ndarray
    ys: np.ndarray
    loss: np.ndarray  # (len(ys), len(xs)): loss[j, i] at (xs[i], ys[j])
    acc: np.ndarray  # same shape, a fraction in [0, 1]
    path: np.ndarray | None = None  # (snapshots, 2): the training path in the plane
    explained: np.ndarray | None = None  # explained variance ratio of the two axes


def parse_formats(values: Sequence[str]) -> list[str]:
    """``["h5,vtk"]``, ``["h5", "vtk"]`` -> ``["h5", "vtk"]``; an unknown name is an error."""
    out: list[str] = []
    for value in values:
        for name in (part.strip().lower() for part in value.split(",")):
            if name not in FORMATS:
                raise ExportError(
                    f"export format {name!r} is unknown; accepted: {', '.join(FORMATS)}"
                )
            if name not in out:
                out.append(name)
    return out


def run_surfaces(run_dir: str | Path) -> list[Surface]:
    """Every 2-D surface saved in a run's raw.npz (the landscape experiment's layout)."""
    load_results(run_dir)  # a clear error for a missing or unfinished run
    arrays = load_arrays(run_dir)
    surfaces = []
    for key in sorted(arrays):
        match = _SURFACE.match(key)
        if match is None or arrays[key].ndim != 2 or key.endswith("_interp_loss"):
            continue
        prefix, traj = match["prefix"], match["traj"] or ""
        xs_key, ys_key = (f"{prefix}_traj_xs", f"{prefix}_traj_ys") if traj else ("xs", "ys")
        acc = arrays.get(f"{prefix}{traj}_acc")
        if xs_key not in arrays or ys_key not in arrays or acc is None:
            continue
        xs, ys, loss = arrays[xs_key], arrays[ys_key], arrays[key]
        if loss.shape != (len(ys), len(xs)) or acc.shape != loss.shape:
            continue
        surfaces.append(Surface(
            name=f"{prefix}_{'trajectory' if traj else 'surface'}", xs=xs, ys=ys, loss=loss,
            acc=acc, path=arrays.get(f"{prefix}_traj_path") if traj else None,
            explained=arrays.get(f"{prefix}_traj_explained") if traj else None,
        ))  # fmt: skip
    if not surfaces:
        raise ExportError(
            f"run {str(run_dir)!r} holds no loss surfaces to export (a landscape run does)"
        )
    return surfaces


def export_run(run_dir: str | Path, formats: Sequence[str]) -> list[Path]:
    """Write every surface of the run in each format into ``run_dir/export``; returns the paths.
    Checks the run and the extras before writing anything."""
    surfaces = run_surfaces(run_dir)
    writers = {"h5": write_h5, "vtk": write_vts}
    for fmt in formats:
        _writer(fmt)
    out = Path(run_dir) / EXPORT_DIR
    out.mkdir(exist_ok=True)
    return [
        writers[fmt](surface, out / f"{surface.name}{SUFFIX[fmt]}")
        for surface in surfaces
        for fmt in formats
    ]


def write_h5(surface: Surface, path: Path) -> Path:
    h5py = _writer("h5")
    nx, ny = len(surface.xs), len(surface.ys)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f["xcoordinates"] = surface.xs
        f["ycoordinates"] = surface.ys
        # Our (ny, nx) grid raveled is x fastest: the same buffer as theirs, in their shape.
        f["train_loss"] = surface.loss.reshape(-1).reshape(nx, ny)
        f["train_acc"] = (100.0 * surface.acc).reshape(-1).reshape(nx, ny)
        if surface.path is not None:
            f["proj_xcoord"] = surface.path[:, 0]
            f["proj_ycoord"] = surface.path[:, 1]
        if surface.explained is not None:
            f["explained_variance_ratio_"] = surface.explained
    return atomic_write(path, buffer.getvalue())


def write_vts(surface: Surface, path: Path) -> Path:
    hl = _writer("vtk")
    nx, ny = len(surface.xs), len(surface.ys)
    # (nx, ny, 1) arrays indexed [i, j, 0] at (xs[i], ys[j]); pyevtk writes them x fastest.
    gx, gy = np.meshgrid(surface.xs, surface.ys, indexing="ij")
    loss, acc = surface.loss.T, surface.acc.T
    finite = loss[np.isfinite(loss)]
    height = np.where(np.isfinite(loss), loss, finite.max() if finite.size else 0.0)
    fields = [gx, gy, height, loss, acc]
    gx, gy, height, loss, acc = (np.asfortranarray(a.reshape(nx, ny, 1), dtype=np.float64)
                                 for a in fields)  # fmt: skip
    # pyevtk appends the extension itself: write beside the target, then replace atomically.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        written = hl.gridToVTK(tmp, gx, gy, height, pointData={"loss": loss, "acc": acc})
        os.replace(written, path)
    finally:
        Path(f"{tmp}.vts").unlink(missing_ok=True)
    return path


def _writer(fmt: str) -> ModuleType:
    """The optional library behind ``fmt``, or one line saying how to install it."""
    try:
        if fmt == "h5":
            import h5py

            return h5py
        from pyevtk import hl

        return hl
    except ImportError:
        raise ExportError(
            f"{'h5py' if fmt == 'h5' else 'pyevtk'} is not installed: {MISSING_EXTRA}"
        ) from None
