"""Work units inside a scene: blocks of tile windows, each with only the shapes that can paint it.

A scene's tile windows (row-major, :func:`farmannot.io.windows.tile_windows`) are grouped into square blocks
of :data:`UNIT_TILES` x :data:`UNIT_TILES` windows; a block is the unit a local worker process or a Dask worker
builds, so one large scene spreads over every core. Each unit carries the label plan of the shapes whose pixel
bounds meet its windows (padded by the boundary margin), found with a shapely ``STRtree`` over the units'
boxes: a unit's memory follows its area, not the annotation's size. Each tile's labels are drawn from the
same shapes in the same file order as from the whole plan, so the tiles are the same bytes however the scene
is cut.

While the annotation streams, each batch's shapes go to their units' files in the output folder
(:class:`UnitPlanStore`, ``.farmannot/plans/``: every worker that writes the tiles sees it), so neither the
process that plans the scene nor the one that schedules it holds the whole scene's plan; a unit reads its own
(:meth:`StoredPlan.load`) when it runs. Each run of the planning writes a folder of its own
(``plans/SCENE/RUN/``, a random name), and only that run's scene removes it: a planning task that cannot be
stopped (a Dask task after a failed build) or runs twice (a Dask worker lost) never writes into, deletes or
feeds another run's files; the shared ``plans/`` folder is emptied only under the build's output lock
(:func:`remove_plans`, at the start and the end of a build). A scene that fails has its plans removed at
once (:func:`remove_scene_plans`): a unit checks its run's folder before each tile and before its record
(:meth:`StoredPlan.withdrawn`), so a unit of a failed scene or an ended build that is still running on a
cluster writes at most the tile it is on.
"""

from __future__ import annotations

import io
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from rasterio.windows import Window

from farmannot.io.atomic import write_bytes
from farmannot.io.windows import tile_offsets
from farmannot.labels.geometry import RepairReport
from farmannot.labels.paint import Drawing
from farmannot.labels.rasterize import LabelPlan

#: Side of a work unit in tile windows (3 x 3 = 9 tiles; a 3,072 px scene of 256 px tiles is 16 units).
UNIT_TILES = 3
#: Where each unit's label plan waits for its unit (``OUT/.farmannot/plans/SCENE/RUN/UNIT.PART.npz``, ``RUN``
#: one planning run's random name), removed when the scene is finished and at the start and end of the build.
PLANS_DIR = ".farmannot/plans"
#: Shapes' arrays buffered before they are written to their units' files.
PLAN_BUFFER_BYTES = 8 << 20


@dataclass(frozen=True)
class Unit:
    """A block of a scene's tile windows.

    Attributes:
        index: The unit's place among the scene's units (row-major blocks).
        windows: Indices of its windows in the scene's row-major window list, increasing.
        bounds: ``(col0, row0, col1, row1)``: the pixels its windows cover, end exclusive.
        rects: Its windows as ``(col_off, row_off, width, height)``, in the order of ``windows`` (as
            :func:`farmannot.io.windows.tile_windows` gives them).
    """

    index: int
    windows: tuple[int, ...]
    bounds: tuple[int, int, int, int]
    rects: tuple[tuple[int, int, int, int], ...]


def scene_units(width: int, height: int, tile: int, overlap: int = 0, unit_tiles: int = UNIT_TILES) -> list[Unit]:
    """The work units of a ``width`` x ``height`` scene cut in ``tile`` px windows (every window in one unit)."""
    cols, rows = tile_offsets(width, tile, overlap), tile_offsets(height, tile, overlap)
    units = []
    for br in range(0, len(rows), unit_tiles):
        for bc in range(0, len(cols), unit_tiles):
            rr, cc = range(br, min(br + unit_tiles, len(rows))), range(bc, min(bc + unit_tiles, len(cols)))
            idx = tuple(r * len(cols) + c for r in rr for c in cc)
            bounds = (cols[cc[0]], rows[rr[0]], min(width, cols[cc[-1]] + tile), min(height, rows[rr[-1]] + tile))
            rects = tuple((cols[c], rows[r], min(tile, width - cols[c]), min(tile, height - rows[r]))
                          for r in rr for c in cc)
            units.append(Unit(len(units), idx, bounds, rects))
    return units


def unit_window(unit: Unit) -> Window:
    c0, r0, c1, r1 = unit.bounds
    return Window(c0, r0, c1 - c0, r1 - r0)


def units_tree(units: list[Unit], pad: int) -> shapely.STRtree:
    """A shapely ``STRtree`` over the units' areas grown by ``pad`` px (closed boxes, last pixel included)."""
    ub = np.array([u.bounds for u in units], np.int64).reshape(-1, 4)
    return shapely.STRtree(shapely.box(ub[:, 0] - pad, ub[:, 1] - pad, ub[:, 2] - 1 + pad, ub[:, 3] - 1 + pad))


def unit_shapes(bounds: np.ndarray, units: list[Unit], pad: int,
                tree: shapely.STRtree | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Which unit each shape goes to: ``(unit, shape)`` index pairs, sorted by unit then shape, of the shapes whose
    pixel bounds (``(n, 4)``, inclusive) meet a unit's area grown by ``pad`` px (the boundary margin a tile's
    labels look beyond it). The shapes' boxes are queried in ``tree`` (:func:`units_tree`, made here if not
    given)."""
    b = np.asarray(bounds).reshape(-1, 4)
    if not len(b) or not units:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    tree = units_tree(units, pad) if tree is None else tree
    # inclusive integer bounds widened by a quarter pixel: a one-pixel shape is a box, not a point, and a box
    # meets a unit's closed box exactly when the integer ranges overlap
    shape_i, unit_i = tree.query(shapely.box(b[:, 0] - 0.25, b[:, 1] - 0.25, b[:, 2] + 0.25, b[:, 3] + 0.25))
    order = np.lexsort((shape_i, unit_i))
    return unit_i[order].astype(np.int64), shape_i[order].astype(np.int64)


@dataclass(frozen=True)
class StoredPlan:
    """A work unit's label plan in the output folder (:class:`UnitPlanStore`): a few names, pickled to any
    worker that sees the folder; :meth:`load` reads it where the unit runs. ``folder`` is the planning run's
    own (``plans/SCENE/RUN``)."""

    folder: str
    unit: int
    parts: int
    width: int
    height: int
    n_parcels: int

    def withdrawn(self) -> bool:
        """Whether the planning run's folder is gone: its scene failed or finished, or its build ended. A unit
        still running then (a Dask task cannot be stopped) writes nothing more."""
        return not Path(self.folder).is_dir()

    def load(self) -> LabelPlan:
        chunks = []
        for k in range(self.parts):
            with np.load(Path(self.folder) / f"{self.unit}.{k}.npz", allow_pickle=False) as z:
                chunks.append({name: z[name] for name in z.files})
        if not chunks:
            return LabelPlan(Drawing.of([]), [], [], self.width, self.height, RepairReport(), self.n_parcels)
        whole = {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}
        return LabelPlan.from_arrays(whole, self.width, self.height, self.n_parcels)


def plans_folder(out: str | Path, scene: str) -> Path:
    """The folder of a scene's planning runs (each run's files in a folder of its own inside)."""
    return Path(out) / PLANS_DIR / scene


def remove_plans(out: str | Path) -> None:
    """Every scene's stored plans gone, ``plans/`` itself included: only under the build's output lock (at
    its start: a killed run's; at its end: those of scenes that failed or were cut short)."""
    shutil.rmtree(Path(out) / PLANS_DIR, ignore_errors=True)


def remove_scene_plans(out: str | Path, scene: str) -> None:
    """Every planning run's files of a scene that failed or finished gone, so its units still running stop
    (:meth:`StoredPlan.withdrawn`)."""
    shutil.rmtree(plans_folder(out, scene), ignore_errors=True)


def remove_run(folder: str | Path) -> None:
    """One planning run's files gone (its folder, named by its :class:`StoredPlan` s); the folders above it are
    left, as another run may be creating its own in them."""
    shutil.rmtree(folder, ignore_errors=True)


class UnitPlanStore:
    """Each work unit's label plan written to the output folder while the annotation streams, so no process
    holds the whole scene's plan: each batch's plan (:class:`farmannot.labels.rasterize.LabelPlanner`) is cut
    into its units' shapes (:func:`unit_shapes`) and buffered as flat arrays, which go to ``UNIT.PART.npz``
    files once they pass ``buffer_bytes``, in a folder of this store's own (``plans/SCENE/RUN``: :attr:`folder`).
    Memory: one batch and the buffer.
    """

    def __init__(self, out: str | Path, scene: str, units: list[Unit], pad: int,
                 buffer_bytes: int = PLAN_BUFFER_BYTES) -> None:
        self.folder = plans_folder(out, scene) / uuid.uuid4().hex
        self.folder.mkdir(parents=True, exist_ok=True)
        self.units, self.pad, self.limit = units, pad, buffer_bytes
        self.tree = units_tree(units, pad)
        self.buffer: dict[int, list[dict[str, np.ndarray]]] = {}
        self.size = 0
        self.parts = [0] * len(units)

    def add(self, plan: LabelPlan) -> None:
        """The next shapes of the file (a batch's plan), shared out to the units they meet."""
        unit_i, shape_i = unit_shapes(plan.drawing.bounds, self.units, self.pad, self.tree)
        cut = np.searchsorted(unit_i, np.arange(len(self.units) + 1))
        for k in np.flatnonzero(np.diff(cut)).tolist():
            chunk = plan.subset(shape_i[cut[k]:cut[k + 1]]).arrays()
            self.buffer.setdefault(k, []).append(chunk)
            self.size += sum(a.nbytes for a in chunk.values())
        if self.size > self.limit:
            self.flush()

    def flush(self) -> None:
        for k, chunks in self.buffer.items():
            blob = io.BytesIO()
            np.savez(blob, **{name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]})
            # read back by this build only (removed at its end, planned again after a crash): no fsync
            write_bytes(self.folder / f"{k}.{self.parts[k]}.npz", blob.getvalue(), sync=False)
            self.parts[k] += 1
        self.buffer, self.size = {}, 0

    def finish(self, width: int, height: int, n_parcels: int) -> list[StoredPlan]:
        """Every unit's plan, as the names :meth:`StoredPlan.load` reads it by."""
        self.flush()
        return [StoredPlan(str(self.folder), k, n, width, height, n_parcels) for k, n in enumerate(self.parts)]
