"""Survey points (GPS field visits, crop-type surveys, LUCAS-like samples) placed on a scene's pixel grid.

Each point becomes a SAM prompt in ``farmannot propose --points``: the parcel under the point is segmented
and kept as a draft with the point's label and attributes. This module only reads and places the points:
the file's CRS (or ``assume_crs``) -> the scene's CRS (pyproj) -> pixel-edge coordinates (``x`` = column +
fraction, as every farmannot geometry in scene pixels). Multi-points give one prompt per part; lines and
polygons are counted and left out; points off the scene are listed by their source id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from farmannot.errors import InputError
from farmannot.io.grid import SceneGrid, reproject
from farmannot.labels.convention import world_to_pixel
from farmannot.vectors.importer import (
    _TYPE_NAMES,
    ImportOptions,
    _jsonable,
    _source_ids,
    _transformer,
    feature_labels,
)
from farmannot.vectors.reader import VectorTable


@dataclass
class ScenePoints:
    """Points on a scene, in file order (a multi-point's parts one after another).

    Attributes:
        xy: ``(N, 2)`` pixel-edge coordinates on the scene.
        labels: Label of each point (``--label``, ``--label-field`` or the ``label`` field, then the map).
        attributes: Each point's attribute values, JSON-ready.
        source_ids: Where each point came from (``file:layer:fid``, or the file's own ``farmannot_id``).
        outside: Source ids of points off the scene.
        not_points: Geometry type -> count of features that are not points.
    """

    xy: np.ndarray
    labels: list[str]
    attributes: list[dict[str, Any]]
    source_ids: list[str]
    outside: list[str] = field(default_factory=list)
    not_points: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.xy)


def points_on_scene(table: VectorTable, grid: SceneGrid, options: ImportOptions | None = None) -> ScenePoints:
    """Place the point features of ``table`` on ``grid``.

    Raises:
        InputError: no CRS (without ``assume_crs``), a missing label field, no point features, or no point on
            the scene (the file's and the scene's extents in the message).
    """
    options = options or ImportOptions()
    labels = feature_labels(table, options)
    ids = _source_ids(table)
    geoms = table.geometry
    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    tids = np.where(present, shapely.get_type_id(geoms), -1)
    not_points: dict[str, int] = {}
    for t in tids[present & ~np.isin(tids, (0, 4))]:
        name = _TYPE_NAMES.get(int(t), str(t))
        not_points[name] = not_points.get(name, 0) + 1
    idx = np.flatnonzero(present & np.isin(tids, (0, 4)))
    if not len(idx):
        kinds = ", ".join(f"{v} {k}" for k, v in sorted(not_points.items())) or "no geometries"
        raise InputError(f"{table.path}: no point features ({kinds}); give a layer of points (--layer).")
    parts, owner = shapely.get_parts(geoms[idx], return_index=True)
    world = reproject(parts, _transformer(table.crs, grid.crs, table, options))
    xy = shapely.get_coordinates(world_to_pixel(world, grid.transform))
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < grid.width) & (xy[:, 1] >= 0) & (xy[:, 1] < grid.height)
    feat = idx[owner]
    if not inside.any():
        xs, ys = shapely.get_coordinates(world)[:, 0], shapely.get_coordinates(world)[:, 1]
        raise InputError(
            f"{table.path}: none of its {len(xy)} point(s) falls on the {grid.width} x {grid.height} px scene "
            f"(points span x {xs.min():.6g}..{xs.max():.6g}, y {ys.min():.6g}..{ys.max():.6g} in {grid.crs}); "
            f"check the CRS (file says {table.crs or 'none'}) and that this is the right scene.")
    names = list(table.fields)
    attrs = [{k: _jsonable(table.fields[k][i]) for k in names} for i in feat[inside]]
    return ScenePoints(xy=xy[inside], labels=[labels[i] for i in feat[inside]], attributes=attrs,
                       source_ids=[ids[i] for i in feat[inside]],
                       outside=[ids[i] for i in feat[~inside]], not_points=not_points)
