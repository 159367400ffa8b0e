"""Work units inside a scene: blocks of tile windows, each with only the shapes that can paint it.

A scene's tile windows (row-major, :func:`farmannot.io.windows.tile_windows`) are grouped into square blocks
of :data:`UNIT_TILES` x :data:`UNIT_TILES` windows; a block is the unit a local worker process or a Dask worker
builds, so one large scene spreads over every core. Each unit carries the label plan of the shapes whose pixel
bounds meet its windows (padded by the boundary margin), found with a shapely ``STRtree`` over the shapes'
bounds: a unit's memory follows its area, not the annotation's size. Each tile's labels are drawn from the
same shapes in the same file order as from the whole plan, so the tiles are the same bytes however the scene
is cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from rasterio.windows import Window

from farmannot.io.windows import tile_offsets
from farmannot.labels.rasterize import LabelPlan

#: Side of a work unit in tile windows (3 x 3 = 9 tiles; a 3,072 px scene of 256 px tiles is 16 units).
UNIT_TILES = 3


@dataclass(frozen=True)
class Unit:
    """A block of a scene's tile windows.

    Attributes:
        index: The unit's place among the scene's units (row-major blocks).
        windows: Indices of its windows in the scene's row-major window list, increasing.
        bounds: ``(col0, row0, col1, row1)``: the pixels its windows cover, end exclusive.
    """

    index: int
    windows: tuple[int, ...]
    bounds: tuple[int, int, int, int]


def scene_units(width: int, height: int, tile: int, overlap: int = 0, unit_tiles: int = UNIT_TILES) -> list[Unit]:
    """The work units of a ``width`` x ``height`` scene cut in ``tile`` px windows (every window in one unit)."""
    cols, rows = tile_offsets(width, tile, overlap), tile_offsets(height, tile, overlap)
    units = []
    for br in range(0, len(rows), unit_tiles):
        for bc in range(0, len(cols), unit_tiles):
            rr, cc = range(br, min(br + unit_tiles, len(rows))), range(bc, min(bc + unit_tiles, len(cols)))
            idx = tuple(r * len(cols) + c for r in rr for c in cc)
            bounds = (cols[cc[0]], rows[rr[0]], min(width, cols[cc[-1]] + tile), min(height, rows[rr[-1]] + tile))
            units.append(Unit(len(units), idx, bounds))
    return units


def unit_window(unit: Unit) -> Window:
    c0, r0, c1, r1 = unit.bounds
    return Window(c0, r0, c1 - c0, r1 - r0)


def unit_plans(plan: LabelPlan, units: list[Unit], pad: int) -> list[LabelPlan]:
    """Each unit's label plan: the shapes whose pixel bounds meet the unit's area grown by ``pad`` px (the
    boundary margin a tile's labels look beyond it), in file order."""
    b = plan.drawing.bounds
    # inclusive integer bounds widened by a quarter pixel: a one-pixel shape is a box, not a point, and a box
    # meets the closed query box below exactly when the integer ranges overlap
    tree = shapely.STRtree(shapely.box(b[:, 0] - 0.25, b[:, 1] - 0.25, b[:, 2] + 0.25, b[:, 3] + 0.25)) \
        if len(b) else None
    out = []
    for u in units:
        c0, r0, c1, r1 = u.bounds
        q = shapely.box(c0 - pad, r0 - pad, c1 - 1 + pad, r1 - 1 + pad)
        idx = np.sort(tree.query(q)) if tree is not None else np.zeros(0, np.int64)
        out.append(plan.subset(idx))
    return out
