"""The pixel contract: labelme vertices <-> pixel edges <-> map geometry, in one place.

Every path that writes or reads shape vertices goes through this module: SAM clicks (the plugin canvas,
``sam.scene_views``), proposals and predictions (``predict.drafts``), vector imports (``vectors.importer``),
exports (``vectors.footprints`` traces the painted pixels with :func:`pixels_to_edges`) and the label
rasters (``labels.geometry`` grows shapes with :func:`labelme_footprint`; ``labels.paint`` draws them as
labelme does). Map geometry is the pixel-edge geometry moved by the scene's affine (:func:`pixel_to_world`
/ :func:`world_to_pixel`, rasterio's ``(col, row) = ~transform * (x, y)``).

Two pixel conventions:

* **Pixel edges** (GIS, rasterio, ``farmannot.labels.polygonize`` output): pixel ``(row, col)`` covers the
  square ``[col, col + 1] x [row, row + 1]``; a polygon holds the pixels whose centres it contains.
* **labelme vertices**: labelme's converters (and ``farmannot.labels.rasterize``, which reproduces them)
  truncate vertex coordinates to integers and fill every pixel whose centre ``(col, row)`` lies inside the
  polygon *or on its outline*, with pixel centres at whole numbers.

A polygon copied from one convention to the other unchanged grows by about one pixel on its right and
bottom edges once rasterised (measured on the Itaipu parcels: 13 % more pixels). So:

* :func:`edges_to_labelme` (SAM clicks, imports, proposals, predictions) shrinks a pixel-edge polygon by
  :data:`SHRINK_PX` so that labelme fills the pixels the polygon covers: exactly for outlines on pixel edges,
  about as well as a vertex polygon can for slanted ones. A hole is converted as the region it is (labelme
  paints it as a later ``_background_`` shape), so it shrinks too.
* :func:`labelme_to_edges` returns exactly the pixels labelme fills (drawn by ``labels.paint``, labelme's own
  drawing, as the exports draw them), as the union of their pixel squares: its area is the mask's pixel
  count, its perimeter the mask's outline, and rasterio fills the same pixels from it. Feeding that outline
  back to :func:`edges_to_labelme` gives vertices labelme fills with the same pixels again.
* :func:`to_labelme_rings` / :func:`from_labelme_rings` are the same two conversions for
  :class:`farmannot.labels.polygonize.Rings` (a traced mask part and its holes), as the click path uses them.

Which shrink wins was measured (``bench/pixel_convention.py``: rotated fields, the sample Landsat fields and
the Itaipu parcels, the written vertices filled by ``labelme.utils.shape_to_mask``; docs/BENCHMARKS.md): 0.35 px fills exactly the
traced pixels and, on simplified outlines, about half the wrong pixels of eroding by 0.5 px and moving the
vertices back by 0.5 px (which puts them exactly on the truncation boundary, where rounding can drop a row).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
import shapely.affinity
from rasterio import features
from rasterio.transform import Affine
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from farmannot.labels.polygonize import Rings, open_ring

# labelme truncates vertex coordinates to integers and then fills every pixel whose centre is inside the
# polygon or on its outline (see labelme_footprint). A pixel-edge polygon shrunk by d px, 0 < d < 1, has its
# vertices inside the border pixels; truncation moves them onto the border pixels' centres, so labelme fills
# exactly the pixels a pixel-aligned outline covers. For slanted outlines d = 0.35 px gave the fewest wrong
# pixels with the least bias (bench/pixel_convention.py: rotated fields 764 of 32,150 against 947 at 0.5 px
# and 1,198 unconverted; Itaipu parcels 39 of 683 against 88 unconverted).
SHRINK_PX = 0.35
_BUFFER = {"join_style": "mitre", "mitre_limit": 2.0}
# labelme_footprint: half-width of the horizontal segment, a hair under 0.5 so ties fall as PIL's rounding
# does; the vertical hair (so the first and last rows count, as PIL's closed scanline range does) is far
# thinner, so that even along an edge 100 px wide per row it moves the boundary by less than the horizontal hair.
_HALF = 0.5 - 1e-6
_EPS = 1e-9


def labelme_footprint(geom: BaseGeometry) -> BaseGeometry:
    """Grow a geometry in labelme's integer grid into the region whose pixel centres labelme fills.

    labelme (PIL) truncates each vertex to an integer pixel index and fills, on each pixel row, every pixel
    whose centre lies within half a pixel of the polygon's span on that row. The result lives in rasterio
    pixel coordinates (pixel ``(r, c)`` covers ``[c, c+1] x [r, r+1]``): the Minkowski sum with a horizontal
    segment of half-width just under 0.5 px (and a hair vertically, so the polygon's top and bottom rows
    count as PIL counts them), shifted by half a pixel; rasterio's centre-sampling rasteriser fills labelme's
    pixels from it.
    """
    if geom.is_empty:
        return geom
    segs = []
    for part in shapely.get_parts(geom):
        rings = [part.exterior, *part.interiors] if isinstance(part, Polygon) else [part]
        for ring in rings:
            c = shapely.get_coordinates(ring)
            if len(c) >= 2:
                segs.append(np.stack([c[:-1], c[1:]], axis=1))
    corners = np.array([[-_HALF, -_EPS], [_HALF, -_EPS], [_HALF, _EPS], [-_HALF, _EPS]])
    if segs:
        s = np.concatenate(segs)  # (n, 2 ends, 2)
        pts = (s[:, :, None, :] + corners[None, None]).reshape(len(s), 8, 2)
        hulls = shapely.convex_hull(shapely.multipoints(pts))
        grown = shapely.union_all(np.concatenate([hulls, [geom]]))
    else:
        grown = geom
    return shapely.affinity.translate(grown, 0.5, 0.5)


def _shrink(arr: np.ndarray) -> np.ndarray:
    shrunk = shapely.buffer(arr, -SHRINK_PX, **_BUFFER)
    gone = shapely.is_empty(shrunk) & ~shapely.is_empty(arr)
    return np.where(gone, arr, shrunk)


def _shrink_with_holes(geom: BaseGeometry) -> BaseGeometry:
    """Shrink each exterior and each hole as a region of its own; holes stay in the exterior part that holds them."""
    out = []
    for part in shapely.get_parts(geom):
        exts = shapely.get_parts(_shrink(np.asarray([Polygon(part.exterior)], dtype=object))[0])
        holes = shapely.get_parts(_shrink(np.asarray([Polygon(r) for r in part.interiors], dtype=object)))
        for ext in exts:
            inner = [h for h in holes if ext.contains(h)]
            poly = Polygon(ext.exterior, [h.exterior for h in inner])
            cut = [h for h in holes if h not in inner and ext.intersects(h)]  # a hole within 0.35 px of the rim
            if cut:
                poly = poly.difference(shapely.union_all(cut))
            # the difference can leave a sliver of zero width as a line where a hole meets the rim: not a region
            out.extend(p for p in shapely.get_parts(poly) if isinstance(p, Polygon) and not p.is_empty)
    if not out:
        return Polygon()
    return out[0] if len(out) == 1 else MultiPolygon(out)


def edges_to_labelme(geoms):
    """Pixel-edge polygon(s) -> labelme vertices that labelme's rasteriser fills with the same pixels.

    Exteriors shrink by :data:`SHRINK_PX`; each hole, written as a later ``_background_`` shape, shrinks as a
    region of its own (so it comes back as a smaller hole). Parts or holes narrower than a pixel would vanish
    when shrunk; those keep their outline. One geometry or an array.
    """
    single = not isinstance(geoms, (list, tuple, np.ndarray))
    arr = np.asarray([geoms] if single else geoms, dtype=object)
    out = _shrink(arr)
    parts, owner = shapely.get_parts(arr, return_index=True)
    holed = np.unique(owner[shapely.get_num_interior_rings(parts) > 0])
    for i in holed:  # few geometries have holes
        out[i] = _shrink_with_holes(arr[i])
    return out[0] if single else out


def labelme_to_edges(geoms, width: int | None = None, height: int | None = None):
    """labelme vertices -> the pixel-edge polygon(s) made of the pixels labelme fills (pixel squares).

    Each polygon part is drawn as labelme draws a polygon shape and each of its holes carved as a later
    ``_background_`` shape (as :func:`edges_to_labelme` writes them), by :mod:`farmannot.labels.paint`
    (labelme's own PIL drawing, truncation included); the pixels become squares by :func:`pixels_to_edges`,
    as exports do (``vectors.footprints``). Its area is the pixel count and rasterio fills the same pixels.

    Args:
        geoms: Polygon(s) with labelme vertices; one geometry or an array.
        width, height: The image size, to leave out pixels beyond it (None: no limit).
    """
    single = not isinstance(geoms, (list, tuple, np.ndarray))
    arr = np.asarray([geoms] if single else geoms, dtype=object)
    out = np.asarray([_painted_edges(g, width, height) for g in arr], dtype=object)
    return out[0] if single else out


def _painted_edges(geom: BaseGeometry, width: int | None, height: int | None) -> BaseGeometry:
    from farmannot.io.labelme_json import Shape
    from farmannot.labels.paint import Drawing

    shapes, carve = [], []
    for part in shapely.get_parts(geom):
        if not isinstance(part, Polygon) or part.is_empty:
            continue
        for k, ring in enumerate([part.exterior, *part.interiors]):
            shapes.append(Shape("_background_" if k else "field", np.asarray(ring.coords)[:-1].tolist()))
            carve.append(k > 0)
    if not shapes:
        return Polygon()
    drawing = Drawing.of(shapes)
    c0, r0 = drawing.bounds[:, :2].min(axis=0).tolist()
    c1, r1 = (drawing.bounds[:, 2:].max(axis=0) + 1).tolist()
    c0, r0 = max(c0, 0), max(r0, 0)
    if width is not None:
        c1 = min(c1, int(width))
    if height is not None:
        r1 = min(r1, int(height))
    if c1 <= c0 or r1 <= r0:
        return Polygon()
    which = drawing.paint(list(range(len(shapes))), c0, r0, c1 - c0, r1 - r0)
    filled = np.asarray([False, *[not c for c in carve]])[which]
    polys, _ = pixels_to_edges(filled, (c0, r0))
    if not len(polys):
        return Polygon()
    return polys[0] if len(polys) == 1 else MultiPolygon(list(polys))


def _areal(geom: BaseGeometry) -> BaseGeometry:
    polys = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon)]
    return shapely.union_all(polys) if polys else Polygon()


def pixels_to_edges(pixels: np.ndarray, origin: tuple[float, float] = (0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """The non-zero pixels of an integer image as pixel squares: one polygon (holes included) per
    4-connected region of equal value (rasterio's tracing), vertices on pixel corners.

    Args:
        pixels: 2-D integer or boolean array; 0 is nothing.
        origin: Column and row of ``pixels[0, 0]`` (the polygons are in those pixel coordinates).

    Returns:
        ``(polygons, values)`` as arrays, in rasterio's order.
    """
    arr = np.asarray(pixels)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    polys, values = [], []
    for g, v in features.shapes(arr, mask=arr != 0, transform=Affine.translation(*origin)):
        rings = [np.asarray(r, dtype=np.float64) for r in g["coordinates"]]
        polys.append(shapely.polygons(rings[0], holes=rings[1:] or None))
        values.append(v)
    return np.asarray(polys, dtype=object), np.asarray(values, dtype=arr.dtype)


def to_labelme_rings(rings: Rings) -> list[Rings]:
    """Pixel-edge rings (a traced mask part and its holes) -> labelme vertices, by :func:`edges_to_labelme`.

    The holes come back as the labelme vertices of each hole as a region of its own (written as later
    ``_background_`` shapes). A part with a one-pixel neck may come back as several parts.
    """
    out: list[Rings] = []
    for part in shapely.get_parts(edges_to_labelme(rings.to_shapely())):
        if part.is_empty:
            continue
        part = shapely.geometry.polygon.orient(part, 1.0)
        out.append(Rings(open_ring(part.exterior.coords), [open_ring(h.coords) for h in part.interiors]))
    return out


def from_labelme_rings(exterior, holes=()) -> Rings:
    """labelme vertices (a field and its ``_background_`` holes) -> rings in pixel coordinates whose
    pixel-centre rasterisation (``polygonize.rings_to_mask``) is the pixels labelme fills: each ring is the
    :func:`labelme_footprint` of the truncated vertices (fill and outline, as PIL draws a self-crossing
    outline too); the largest part when it falls apart."""
    def grow(points) -> Polygon:
        pts = np.trunc(np.asarray(points, dtype=np.float64))
        poly = Polygon(pts)
        if poly.is_valid:
            foot = labelme_footprint(poly)
        else:  # PIL fills the areal part and draws the whole outline
            outline = labelme_footprint(LineString(np.vstack([pts, pts[:1]])))
            foot = shapely.union_all([outline, shapely.affinity.translate(_areal(shapely.make_valid(poly)), .5, .5)])
        parts = [p for p in shapely.get_parts(foot) if isinstance(p, Polygon) and p.area > 0]
        return max(parts, key=lambda p: p.area) if parts else Polygon()

    ext = grow(exterior)
    return Rings(open_ring(ext.exterior.coords) if not ext.is_empty else np.zeros((0, 2)),
                 [open_ring(g.exterior.coords) for h in holes if not (g := grow(h)).is_empty])


# -- map geometry <-> pixel edges (the scene's affine, vectorised over arrays of geometries) ----------------
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


def on_pixel_edges(geoms: np.ndarray, tol: float = 0.01) -> np.ndarray:
    """Whether every vertex of each geometry lies within ``tol`` px of a pixel corner."""
    xy, i = shapely.get_coordinates(geoms, return_index=True)
    off = np.abs(xy - np.round(xy)).max(axis=1) > tol if len(xy) else np.zeros(0, bool)
    return np.bincount(i[off], minlength=len(geoms)) == 0
