"""Masks to polygons: exact pixel-edge tracing, then simplification that keeps neighbours apart.

Coordinates are image pixel coordinates with pixel ``(row, col)`` covering ``[col, col + 1] x [row, row + 1]``
(rasterio's convention, and where labelme's canvas draws the pixel). Without simplification, rasterising the
returned rings with the pixel-centre rule (``rasterio.features.rasterize``) gives back the input mask exactly.

labelme's own rasteriser (``labelme.utils.shape_to_mask``, and ``farmannot.labels`` which reproduces it)
reads a vertex ``(x, y)`` as the pixel at column ``x``, row ``y``, filling every pixel the outline touches.
Shapes written into labelme files therefore go through ``farmannot.labels.convention`` (the one owner of
the vertex convention: ``to_labelme_rings`` / ``from_labelme_rings`` for :class:`Rings`); this module only
traces and simplifies.

Tracing is rasterio's (``rasterio.features.shapes``, 4-connected, so parts touching only at a corner come
out as separate polygons and every ring is valid); simplification is shapely's. In the labelled variant the
regions of one label image are simplified together as a coverage (``shapely.coverage_simplify``), so two
touching fields keep one shared edge: they neither overlap nor open a gap, and they are never merged.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import rasterio.features
import shapely
from affine import Affine
from shapely.geometry import Polygon, shape

#: Default vertex tolerance in pixels: removes the staircase of pixel edges, keeps field corners.
DEFAULT_SIMPLIFY_PX = 1.5


class Rings(NamedTuple):
    """One polygon: an exterior ring and its holes, each an ``(N, 2)`` float array of ``x, y`` (not closed)."""

    exterior: np.ndarray
    holes: list[np.ndarray]

    @property
    def area(self) -> float:
        return float(self.to_shapely().area)

    def to_shapely(self) -> Polygon:
        return Polygon(self.exterior, [h for h in self.holes])


def open_ring(coords) -> np.ndarray:
    """Ring coordinates without the closing vertex (shapely repeats the first one at the end)."""
    arr = np.asarray(coords, dtype=np.float64)
    if len(arr) > 1 and np.array_equal(arr[0], arr[-1]):
        arr = arr[:-1]
    return arr


def _rings_from_polygon(poly: Polygon, min_area_px: float) -> Rings | None:
    if poly.is_empty or poly.area <= min_area_px or poly.area == 0:
        return None
    # Exterior counter-clockwise in x-right/y-down image space reads clockwise on screen; keep shapely's
    # orientation canonical (exterior CCW, holes CW in x/y) so outputs are deterministic.
    poly = shapely.geometry.polygon.orient(poly, sign=1.0)
    holes = [open_ring(h.coords) for h in poly.interiors if Polygon(h).area > min_area_px]
    return Rings(open_ring(poly.exterior.coords), holes)


def _polygons_of(geom) -> list[Polygon]:
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if hasattr(geom, "geoms"):
        out: list[Polygon] = []
        for g in geom.geoms:
            out.extend(_polygons_of(g))
        return out
    return []


def _trace(labels: np.ndarray, valid: np.ndarray) -> list[tuple[int, Polygon]]:
    """Exact pixel-edge polygons of each 4-connected region of equal label inside ``valid``."""
    out = []
    for geom, value in rasterio.features.shapes(labels, mask=valid, connectivity=4, transform=Affine.identity()):
        out.append((int(value), shape(geom)))
    return out


def _dp_ring(ring: np.ndarray, tol: float) -> np.ndarray:
    """Douglas-Peucker on one closed ring (OpenCV), returned open."""
    import cv2

    pts = np.asarray(ring, dtype=np.float32)
    if len(pts) > 1 and np.array_equal(pts[0], pts[-1]):
        pts = pts[:-1]
    return cv2.approxPolyDP(pts.reshape(-1, 1, 2), tol, True).reshape(-1, 2).astype(np.float64)


def _merge_touching(holes: np.ndarray) -> list[Polygon]:
    """Union holes that overlap or touch each other (groups found with an STRtree), others unchanged."""
    tree = shapely.STRtree(holes)
    left, right = tree.query(holes, predicate="intersects")
    parent = list(range(len(holes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(left.tolist(), right.tolist()):
        if a != b:
            parent[find(a)] = find(b)
    groups: dict[int, list[int]] = {}
    for i in range(len(holes)):
        groups.setdefault(find(i), []).append(i)
    out: list[Polygon] = []
    for idx in groups.values():
        geom = holes[idx[0]] if len(idx) == 1 else shapely.union_all(holes[idx])
        out.extend(_polygons_of(geom))
    return out


def _assemble(exterior: np.ndarray, holes: list[np.ndarray]) -> list[Polygon]:
    """Valid polygons from a simplified exterior and simplified holes, repairing only what conflicts.

    Douglas-Peucker moves every ring by at most the tolerance, so a hole can end up touching the outline or
    another hole; those few are merged or cut as a bay, instead of repairing the whole polygon (which is
    slow for speckled masks with thousands of holes).
    """
    ext = Polygon(exterior)
    exts = [ext] if ext.is_valid else _polygons_of(shapely.make_valid(ext))
    hole_polys = [p for h in holes if len(h) >= 3 for p in _polygons_of(shapely.make_valid(Polygon(h)))]
    hole_arr = np.array(hole_polys, dtype=object)
    out: list[Polygon] = []
    for part in exts:
        if part.area <= 0:
            continue
        if not len(hole_arr):
            out.append(part)
            continue
        shapely.prepare(part)
        inside = shapely.contains_properly(part, hole_arr)
        crossing = ~inside & shapely.intersects(part, hole_arr)
        kept = _merge_touching(hole_arr[inside]) if inside.any() else []
        poly = Polygon(part.exterior, [h.exterior for h in kept])
        if crossing.any():
            poly = poly.difference(shapely.union_all(hole_arr[crossing]))
        if not poly.is_valid:
            poly = shapely.make_valid(poly)
        out.extend(p for p in _polygons_of(poly) if p.area > 0)
    return out


def _simplified_polygons(coords: list, simplify_px: float) -> list[Polygon]:
    """GeoJSON polygon coordinates -> simplified, valid shapely polygons."""
    if simplify_px <= 0:
        return [Polygon(coords[0], coords[1:])]
    # Douglas-Peucker per ring: linear in the outline, even for speckled masks with thousands of holes
    # (topology-preserving simplification is quadratic in the number of rings).
    rings = [_dp_ring(r, simplify_px) for r in coords]
    if len(rings[0]) < 3:
        return []
    return _assemble(rings[0], rings[1:])


def drop_small_regions(binary: np.ndarray, min_area_px: float) -> np.ndarray:
    """Remove 4-connected parts and fill holes (8-connected background inside) of at most ``min_area_px`` pixels."""
    import cv2

    binary = np.ascontiguousarray(binary, dtype=np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=4)
    keep = stats[:, cv2.CC_STAT_AREA] > min_area_px
    keep[0] = False
    out = keep[lab].astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(1 - out, connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] <= min_area_px
    border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    small[border] = False
    if small.any():
        out[small[lab]] = 1
    return out


def mask_to_polygons(mask: np.ndarray, simplify_px: float = DEFAULT_SIMPLIFY_PX,
                     min_area_px: float = 0.0) -> list[Rings]:
    """Polygons (with holes, one per 4-connected part) of the True/non-zero pixels of ``mask``.

    Args:
        mask: 2-D boolean (or 0/non-zero) array.
        simplify_px: Douglas-Peucker tolerance in pixels (each ring, then repaired if it self-intersects);
            0 keeps the exact pixel edges.
        min_area_px: Parts and holes of at most this many pixels are removed before tracing (cheap, and
            what keeps speckled masks fast), and parts or holes whose simplified area is at most this are dropped.

    Returns:
        The parts, largest first, each as :class:`Rings` in pixel coordinates.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    binary = mask != 0
    rows, cols = np.flatnonzero(binary.any(axis=1)), np.flatnonzero(binary.any(axis=0))
    if not len(rows):
        return []
    # work on the bounding box plus a one-pixel margin (a field is usually a small part of the image)
    r0, r1 = max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, binary.shape[0])
    c0, c1 = max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 2, binary.shape[1])
    binary = binary[r0:r1, c0:c1].astype(np.uint8)
    if min_area_px > 0:
        binary = drop_small_regions(binary, min_area_px)
    out: list[Rings] = []
    for geom, _value in rasterio.features.shapes(binary, mask=binary.astype(bool), connectivity=4,
                                                 transform=Affine.translation(c0, r0)):
        for poly in _simplified_polygons(geom["coordinates"], simplify_px):
            rings = _rings_from_polygon(poly, min_area_px)
            if rings is not None:
                out.append(rings)
    out.sort(key=lambda r: -r.area)
    return out


def labels_to_polygons(labels: np.ndarray, simplify_px: float = DEFAULT_SIMPLIFY_PX,
                       min_area_px: float = 0.0, background: int = 0) -> dict[int, list[Rings]]:
    """Polygons per instance of a label image, touching instances kept apart with one shared edge.

    Args:
        labels: 2-D integer array of instance ids (``background`` is no instance).
        simplify_px: Tolerance in pixels; shared edges are simplified once, identically for both neighbours.
        min_area_px: Parts and holes at or below this area are dropped.
        background: The id that is not an instance.

    Returns:
        ``{instance id: [Rings, ...]}`` (an instance may have several parts), ids in ascending order.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be 2-D, got shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be an integer array, got {labels.dtype}")
    valid = labels != background
    if not valid.any():
        return {}
    work = labels.astype(np.int32) if labels.dtype != np.int32 else labels
    traced = _trace(work, valid)
    geoms = [p for _, p in traced]
    if simplify_px > 0:
        simplified = shapely.coverage_simplify(np.array(geoms, dtype=object), simplify_px, simplify_boundary=True)
    else:
        simplified = geoms
    out: dict[int, list[Rings]] = {}
    for (value, _), geom in zip(traced, simplified):
        for poly in _polygons_of(geom if geom.is_valid else shapely.make_valid(geom)):
            rings = _rings_from_polygon(poly, min_area_px)
            if rings is not None:
                out.setdefault(value, []).append(rings)
    return {k: sorted(v, key=lambda r: -r.area) for k, v in sorted(out.items())}


def rings_to_mask(rings: list[Rings], shape_hw: tuple[int, int], fills: list[bool] | None = None,
                  origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Rasterise rings back to a boolean mask with the pixel-centre rule (the inverse of tracing).

    Args:
        rings: Polygons in pixel coordinates, painted in order, later over earlier.
        shape_hw: The mask's rows and columns.
        fills: Per ring, whether it fills (a field) or frees what the rings before it filled (a
            ``_background_`` shape): labelme's and ``build-dataset``'s painting order. Default: all fill.
        origin: ``(row, col)`` of the mask's first pixel in the rings' coordinates (a window of a picture).
    """
    geoms = [r.to_shapely() for r in rings]
    if not geoms:
        return np.zeros(shape_hw, dtype=bool)
    values = [1] * len(geoms) if fills is None else [1 if f else 0 for f in fills]
    return rasterio.features.rasterize(zip(geoms, values), out_shape=shape_hw, fill=0,
                                       transform=Affine.translation(origin[1], origin[0]),
                                       dtype="uint8").astype(bool)
