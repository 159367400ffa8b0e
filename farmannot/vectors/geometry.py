"""Pure geometry: map coordinates <-> pixel coordinates, polygons <-> labelme shapes, areas in metres.

Pixel coordinates follow the labelme codec and rasterio: ``(col, row) = ~transform * (x, y)``, so the top-left
corner of the scene is ``(0, 0)`` and pixel centres sit at ``i + 0.5``.

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
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from farmannot.io.labelme_json import Shape

BACKGROUND_LABEL = "_background_"
#: Labels that are never parcels (labelme's ``__ignore__`` marks pixels to leave out of training).
NON_PARCEL_LABELS = frozenset({BACKGROUND_LABEL, "__ignore__"})
#: Decimals kept for pixel coordinates written to annotations (a thousandth of a pixel).
PIXEL_DECIMALS = 3

# shapely geometry type ids
_POLYGON, _MULTIPOLYGON, _COLLECTION = 3, 6, 7


def as_affine6(transform: Sequence[float]) -> tuple[float, float, float, float, float, float]:
    """``(a, b, c, d, e, f)`` of an affine transform given as 6 or 9 numbers (rasterio order) or an Affine."""
    vals = tuple(float(v) for v in tuple(transform)[:6])
    if len(vals) != 6:
        raise ValueError(f"an affine transform needs 6 numbers, got {transform!r}")
    return vals  # type: ignore[return-value]


def _apply_affine(geoms: Any, m: tuple[float, float, float, float, float, float]) -> Any:
    a, b, c, d, e, f = m

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack([a * x + b * y + c, d * x + e * y + f])

    return shapely.transform(geoms, fn)


def _invert(m: tuple[float, ...]) -> tuple[float, float, float, float, float, float]:
    a, b, c, d, e, f = m
    det = a * e - b * d
    if det == 0:
        raise ValueError("the scene transform is not invertible")
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    return ia, ib, -(ia * c + ib * f), id_, ie, -(id_ * c + ie * f)


def world_to_pixel(geoms: Any, transform: Sequence[float]) -> Any:
    """Map coordinates (scene CRS) to pixel coordinates, vectorised over an array of geometries."""
    return _apply_affine(geoms, _invert(as_affine6(transform)))


def pixel_to_world(geoms: Any, transform: Sequence[float]) -> Any:
    """Pixel coordinates to map coordinates in the scene CRS, vectorised over an array of geometries."""
    return _apply_affine(geoms, as_affine6(transform))


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


def _ring_points(ring: BaseGeometry) -> list[list[float]]:
    xy = np.round(shapely.get_coordinates(ring)[:-1], PIXEL_DECIMALS)  # drop the closing vertex
    return xy.tolist()


def polygon_to_shapes(
    geom: BaseGeometry,
    label: str,
    *,
    group_id: int | None = None,
    source_id: str = "",
    attributes: dict[str, Any] | None = None,
    min_area_px: float = 0.5,
) -> list[Shape]:
    """One feature's pixel polygon as labelme shapes: every part, then every hole as ``_background_``.

    Args:
        geom: A Polygon or MultiPolygon in pixel coordinates.
        label: The label of the parts.
        group_id: Shared by the parts when there are several (ignored for a single part).
        source_id: The feature's id in its source file, kept in each shape's description.
        attributes: The feature's attributes, kept in the first part's description.
        min_area_px: Parts and holes smaller than this (in square pixels) are dropped.

    Returns:
        The shapes, parts first (in order), holes after them so that they paint over their part.
    """
    parts = [p for p in shapely.get_parts(geom) if p.area >= min_area_px]
    multi = len(parts) > 1
    shapes: list[Shape] = []
    holes: list[Shape] = []
    for k, part in enumerate(parts, start=1):
        extra: dict[str, Any] = {"part": k} if multi else {}
        shapes.append(Shape(
            label=label, points=_ring_points(part.exterior), shape_type="polygon",
            group_id=group_id if multi else None,
            description=description_text(source_id, (attributes or {}) if k == 1 else {}, **extra),
        ))
        for h, ring in enumerate(part.interiors, start=1):
            if Polygon(ring).area < min_area_px:
                continue
            holes.append(Shape(
                label=BACKGROUND_LABEL, points=_ring_points(ring), shape_type="polygon", group_id=None,
                description=description_text(source_id, {}, hole_of=k if multi else 1, hole=h),
            ))
    return shapes + holes


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


def shapes_to_parcels(shapes: Sequence[Shape]) -> tuple[list[Parcel], dict[str, int]]:
    """Rebuild parcels from labelme shapes with labelme's painting order.

    Every ``_background_`` shape is subtracted from the earlier shapes it overlaps (holes come back); shapes
    sharing a label and a ``group_id`` become one parcel (a MultiPolygon when the parts are apart).

    Returns:
        ``(parcels, skipped)``: parcels in order of first appearance; ``skipped`` counts shapes that are not
        polygons, by shape type.
    """
    geoms: list[BaseGeometry | None] = []
    skipped: dict[str, int] = {}
    for s in shapes:
        g = shape_polygon(s)
        if g is None:
            skipped[s.shape_type] = skipped.get(s.shape_type, 0) + 1
        geoms.append(g)
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
    CRS's ellipsoid (pyproj ``Geod``).
    """
    crs = CRS.from_user_input(crs)
    arr = np.asarray(geoms, dtype=object)
    if crs.is_geographic:
        geod = crs.get_geod() or Geod(ellps="WGS84")
        out = np.array([geod.geometry_area_perimeter(g) for g in arr], dtype=float).reshape(-1, 2)
        return np.abs(out[:, 0]), out[:, 1]
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return shapely.area(arr) * unit * unit, shapely.length(arr) * unit
