"""Pure geometry: polygons <-> labelme shapes, areas in metres.

Map coordinates <-> pixel coordinates (``world_to_pixel`` / ``pixel_to_world``) belong to the pixel contract,
``farmannot.labels.convention``: ``(col, row) = ~transform * (x, y)``, so the top-left corner of the scene is
``(0, 0)`` and pixel centres sit at ``i + 0.5``.

labelme polygons have no holes and labelme's rasterising lets later shapes paint over earlier ones. So a
polygon with holes becomes its exterior followed by one ``_background_`` shape per hole, and the way back
(:func:`shapes_to_parcels`) subtracts every ``_background_`` shape from the earlier shapes it covers: the
same rule a rasteriser applies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Geod
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from farmannot.io.labelme_json import Shape

BACKGROUND_LABEL = "_background_"
#: Labels that are never parcels (labelme's ``__ignore__`` marks pixels to leave out of training).
NON_PARCEL_LABELS = frozenset({BACKGROUND_LABEL, "__ignore__"})
#: Decimals kept for pixel coordinates written to annotations (a thousandth of a pixel).
PIXEL_DECIMALS = 3

# shapely geometry type ids
_POLYGON, _MULTIPOLYGON, _COLLECTION = 3, 6, 7


def polygonal(geom: BaseGeometry | None) -> BaseGeometry | None:
    """The polygonal part of ``geom`` (``make_valid`` may return lines and points beside polygons), or None."""
    if geom is None or geom.is_empty:
        return None
    tid = shapely.get_type_id(geom)
    if tid in (_POLYGON, _MULTIPOLYGON):
        return geom
    if tid == _COLLECTION:
        parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (_POLYGON, _MULTIPOLYGON)]
        if parts:
            return shapely.union_all(parts)
    return None


def drop_small(geoms: np.ndarray, min_area_px: float) -> np.ndarray:
    """Parts and holes smaller than ``min_area_px`` square pixels removed (a feature with no part left: empty)."""
    if min_area_px <= 0 or not len(geoms):
        return geoms
    parts, i = shapely.get_parts(geoms, return_index=True)
    small_part = shapely.area(parts) < min_area_px
    n_holes = shapely.get_num_interior_rings(parts)
    small_hole = np.zeros(len(parts), bool)
    for j in np.flatnonzero(n_holes > 0):
        small_hole[j] = any(Polygon(r).area < min_area_px for r in parts[j].interiors)
    todo = np.unique(i[small_part | small_hole])
    if not len(todo):
        return geoms
    out = geoms.copy()
    for k in todo.tolist():
        kept = [Polygon(p.exterior, [r for r in p.interiors if Polygon(r).area >= min_area_px])
                for p in shapely.get_parts(geoms[k]) if p.area >= min_area_px]
        out[k] = kept[0] if len(kept) == 1 else (MultiPolygon(kept) if kept else Polygon())
    return out


# ------------------------------------------------------------------------------------ polygons -> shapes
def description_text(source_id: str, attributes: dict[str, Any], **extra: Any) -> str:
    """The shape description written on import: one JSON object a person can read and a re-import can match."""
    obj: dict[str, Any] = {"source_id": source_id, **extra}
    if attributes:
        obj["attributes"] = attributes
    return json.dumps(obj, ensure_ascii=False, default=str)


def parse_description(text: str | None) -> dict[str, Any]:
    """The JSON object :func:`description_text` wrote, or ``{}`` for any other description."""
    if not text or not text.lstrip().startswith("{"):
        return {}
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return obj if isinstance(obj, dict) else {}


def _ring_lists(rings: np.ndarray) -> list[list[list[float]]]:
    """Vertex lists of many rings at once (rounded, closing vertex dropped)."""
    if len(rings) == 0:
        return []
    xy, idx = shapely.get_coordinates(rings, return_index=True)
    xy = np.round(xy, PIXEL_DECIMALS).tolist()
    ends = np.searchsorted(idx, np.arange(len(rings)), side="right")
    starts = np.concatenate([[0], ends[:-1]])
    return [xy[a:b - 1] for a, b in zip(starts.tolist(), ends.tolist())]


def features_to_shapes(
    geoms: Sequence[BaseGeometry],
    labels: Sequence[str],
    *,
    source_ids: Sequence[str] | None = None,
    attributes: Sequence[dict[str, Any]] | None = None,
    first_group_id: int = 1,
    min_area_px: float = 0.5,
) -> list[list[Shape]]:
    """Pixel polygons of many features as labelme shapes, vectorised over all parts and rings.

    Per feature: every part (parts of a multi-part feature share a new ``group_id``), then every hole as a
    ``_background_`` shape, so that it paints over its part. The source id goes into each description, the
    attributes into the first part's.

    Args:
        geoms: Polygon or MultiPolygon per feature, pixel coordinates.
        labels: Label per feature.
        source_ids: Id per feature in its source file.
        attributes: Attributes per feature.
        first_group_id: The group id of the first multi-part feature; the next ones count up.
        min_area_px: Parts and holes smaller than this (in square pixels) are dropped.

    Returns:
        One list of shapes per feature (empty when nothing is left).
    """
    n = len(geoms)
    source_ids = source_ids if source_ids is not None else [""] * n
    attributes = attributes if attributes is not None else [{}] * n
    parts, feat = shapely.get_parts(np.asarray(geoms, dtype=object), return_index=True)
    keep = shapely.area(parts) >= min_area_px
    parts, feat = parts[keep], feat[keep]
    ext_points = _ring_lists(shapely.get_exterior_ring(parts))
    n_holes = shapely.get_num_interior_rings(parts)
    hole_part = np.repeat(np.arange(len(parts)), n_holes)
    hole_no = np.concatenate([np.arange(k) for k in n_holes]) if len(parts) else np.zeros(0, int)
    holes = shapely.get_interior_ring(parts[hole_part], hole_no)
    hole_ok = shapely.area(shapely.polygons(holes)) >= min_area_px if len(holes) else np.zeros(0, bool)
    hole_points = _ring_lists(holes[hole_ok])
    hole_part, hole_no = hole_part[hole_ok], hole_no[hole_ok]
    parts_of = np.bincount(feat, minlength=n)
    out: list[list[Shape]] = [[] for _ in range(n)]
    holes_out: list[list[Shape]] = [[] for _ in range(n)]
    part_no = np.zeros(len(parts), dtype=int)
    gids: dict[int, int] = {}
    next_gid = first_group_id
    for j, (i, pts) in enumerate(zip(feat.tolist(), ext_points)):
        multi = parts_of[i] > 1
        k = len(out[i]) + 1
        part_no[j] = k
        if multi and i not in gids:
            gids[i], next_gid = next_gid, next_gid + 1
        extra: dict[str, Any] = {"part": k} if multi else {}
        out[i].append(Shape(label=labels[i], points=pts, shape_type="polygon", group_id=gids.get(i),
                            description=description_text(source_ids[i], attributes[i] if k == 1 else {}, **extra)))
    for j, h, pts in zip(hole_part.tolist(), hole_no.tolist(), hole_points):
        i = int(feat[j])
        holes_out[i].append(Shape(label=BACKGROUND_LABEL, points=pts, shape_type="polygon", group_id=None,
                                  description=description_text(source_ids[i], {}, hole_of=int(part_no[j]),
                                                               hole=h + 1)))
    return [a + b for a, b in zip(out, holes_out)]


def polygon_to_shapes(
    geom: BaseGeometry,
    label: str,
    *,
    group_id: int | None = None,
    source_id: str = "",
    attributes: dict[str, Any] | None = None,
    min_area_px: float = 0.5,
) -> list[Shape]:
    """One feature's pixel polygon as labelme shapes (see :func:`features_to_shapes`).

    Args:
        geom: A Polygon or MultiPolygon in pixel coordinates.
        label: The label of the parts.
        group_id: Shared by the parts when there are several (ignored for a single part).
        source_id: The feature's id in its source file, kept in each shape's description.
        attributes: The feature's attributes, kept in the first part's description.
        min_area_px: Parts and holes smaller than this (in square pixels) are dropped.
    """
    return features_to_shapes([geom], [label], source_ids=[source_id], attributes=[attributes or {}],
                              first_group_id=1 if group_id is None else group_id, min_area_px=min_area_px)[0]


# ------------------------------------------------------------------------------------ shapes -> parcels
@dataclass
class Parcel:
    """One parcel rebuilt from an annotation's shapes (pixel coordinates).

    Attributes:
        label: The shapes' label.
        group_id: The labelme group id (parts of one parcel share it), or None.
        geometry: Polygon or MultiPolygon with the holes that later ``_background_`` shapes cut.
        shape_indices: Positions of the shapes that make the parcel, in the annotation.
        description: The first shape's description.
    """

    label: str
    group_id: int | None
    geometry: BaseGeometry
    shape_indices: list[int] = field(default_factory=list)
    description: str = ""


def shape_polygon(shape: Shape) -> BaseGeometry | None:
    """A shape as a valid pixel polygon (polygon, rectangle, circle), or None for points, lines and masks."""
    pts = np.asarray(shape.points, dtype=float)
    if shape.shape_type == "polygon" and len(pts) >= 3:
        geom = shapely.polygons(pts)
    elif shape.shape_type == "rectangle" and len(pts) >= 2:
        (x0, y0), (x1, y1) = pts[0], pts[1]
        geom = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    elif shape.shape_type == "circle" and len(pts) >= 2:
        r = float(np.hypot(*(pts[1] - pts[0])))
        geom = shapely.Point(pts[0]).buffer(r, quad_segs=16)
    else:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return polygonal(geom)


def shape_polygons(shapes: Sequence[Shape]) -> list[BaseGeometry | None]:
    """:func:`shape_polygon` for many shapes, with the polygons (nearly all of them) built in one go."""
    out: list[BaseGeometry | None] = [None] * len(shapes)
    poly = [i for i, s in enumerate(shapes) if s.shape_type == "polygon" and len(s.points) >= 3]
    if poly:
        counts = [len(shapes[i].points) for i in poly]
        coords = np.asarray([p for i in poly for p in shapes[i].points], dtype=float)
        rings = shapely.linearrings(coords, indices=np.repeat(np.arange(len(poly)), counts))
        geoms = shapely.polygons(rings)
        bad = ~shapely.is_valid(geoms)
        if bad.any():
            geoms[bad] = [polygonal(g) for g in shapely.make_valid(geoms[bad])]
        for i, g in zip(poly, geoms):
            out[i] = g
    for i, s in enumerate(shapes):
        if out[i] is None and not (s.shape_type == "polygon" and len(s.points) >= 3):
            out[i] = shape_polygon(s)
    return out


def shapes_to_parcels(shapes: Sequence[Shape]) -> tuple[list[Parcel], dict[str, int]]:
    """Rebuild parcels from labelme shapes with labelme's painting order.

    Every ``_background_`` shape is subtracted from the earlier shapes it overlaps (holes come back); shapes
    sharing a label and a ``group_id`` become one parcel (a MultiPolygon when the parts are apart).

    Returns:
        ``(parcels, skipped)``: parcels in order of first appearance; ``skipped`` counts shapes that are not
        polygons, by shape type.
    """
    geoms = shape_polygons(shapes)
    skipped: dict[str, int] = {}
    for s, g in zip(shapes, geoms):
        if g is None:
            skipped[s.shape_type] = skipped.get(s.shape_type, 0) + 1
    fg = [i for i, s in enumerate(shapes) if geoms[i] is not None and s.label not in NON_PARCEL_LABELS]
    bg = [i for i, s in enumerate(shapes) if geoms[i] is not None and s.label == BACKGROUND_LABEL]
    carved = {i: geoms[i] for i in fg}
    if fg and bg:
        tree = shapely.STRtree([geoms[i] for i in fg])
        for j in bg:
            for k in tree.query(geoms[j], predicate="intersects"):
                i = fg[int(k)]
                if i < j:
                    carved[i] = polygonal(carved[i].difference(geoms[j])) or Polygon()
    groups: dict[tuple[str, int] | int, list[int]] = {}
    for i in fg:
        s = shapes[i]
        key: tuple[str, int] | int = (s.label, s.group_id) if s.group_id is not None else i
        groups.setdefault(key, []).append(i)
    parcels: list[Parcel] = []
    for members in groups.values():
        parts = [carved[i] for i in members if not carved[i].is_empty]
        if not parts:
            continue
        geom = parts[0] if len(parts) == 1 else polygonal(shapely.union_all(parts))
        if geom is None or geom.is_empty:
            continue
        first = shapes[members[0]]
        parcels.append(Parcel(first.label, first.group_id, geom, members, first.description))
    return parcels, skipped


# ------------------------------------------------------------------------------------------- measures
def area_perimeter_m(geoms: Sequence[BaseGeometry], crs: str | CRS) -> tuple[np.ndarray, np.ndarray]:
    """Area in square metres and perimeter in metres of geometries in ``crs``.

    Projected CRSs: planar measures scaled by the CRS's linear unit. Geographic CRSs: geodesic measures on the
    CRS's ellipsoid (pyproj ``Geod``). Holes count in both: subtracted from the area, added to the perimeter.
    """
    crs = CRS.from_user_input(crs)
    arr = np.asarray(geoms, dtype=object)
    if crs.is_geographic:
        # pyproj sums signed ring areas (so rings must be oriented: exteriors counter-clockwise, holes
        # clockwise) and leaves holes out of the perimeter; the perimeter here counts every ring, as shapely does
        geod = crs.get_geod() or Geod(ellps="WGS84")
        oriented = shapely.orient_polygons(arr, exterior_cw=False)
        area = np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in oriented], dtype=float)
        perim = np.array([sum(geod.geometry_length(r) for r in shapely.get_rings(shapely.get_parts(g)))
                          for g in arr], dtype=float)
        return area, perim
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return shapely.area(arr) * unit * unit, shapely.length(arr) * unit
