"""Two pixel conventions and the conversion between them.

* **Pixel edges** (GIS, rasterio, ``farmannot.labels.polygonize`` output): pixel ``(row, col)`` covers the
  square ``[col, col + 1] x [row, row + 1]``; a polygon holds the pixels whose centres it contains.
* **labelme vertices**: labelme's converters (and ``farmannot.labels.rasterize``, which reproduces them)
  truncate vertex coordinates to integers and fill every pixel whose centre ``(col, row)`` lies inside the
  polygon *or on its outline*, with pixel centres at whole numbers.

A polygon copied from one convention to the other unchanged grows by about one pixel on its right and
bottom edges once rasterised (measured on the Itaipu parcels: 13 % more pixels). So:

* :func:`edges_to_labelme` (imports, SAM proposals, predictions) shrinks a pixel-edge polygon by
  :data:`SHRINK_PX` so that labelme fills the pixels the polygon covers: exactly for outlines on pixel edges,
  about as well as a vertex polygon can for slanted ones. A hole is converted as the region it is (labelme
  paints it as a later ``_background_`` shape), so it shrinks too.
* :func:`labelme_to_edges` (exports) returns exactly the pixels labelme fills, as the union of their pixel
  squares: its area is the mask's pixel count, its perimeter the mask's outline, and rasterio fills the same
  pixels from it. Feeding that outline back to :func:`edges_to_labelme` gives vertices labelme fills with the
  same pixels again (one-pixel-wide strips excepted: their truncated outline has no area).
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from rasterio import features
from rasterio.transform import Affine
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

# labelme truncates vertex coordinates to integers and then fills every pixel whose centre is inside the
# polygon or on its outline (see farmannot.labels.geometry). A pixel-edge polygon shrunk by d px, 0 < d < 1,
# has its vertices inside the border pixels; truncation moves them onto the border pixels' centres, so
# labelme fills exactly the pixels a pixel-aligned outline covers. For slanted outlines d = 0.35 px gave the
# fewest wrong pixels (rotated fields: 82 against 141 unconverted; Itaipu parcels: 39 against 88 of 683).
SHRINK_PX = 0.35
_BUFFER = {"join_style": "mitre", "mitre_limit": 2.0}


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
            out.extend(p for p in shapely.get_parts(poly) if not p.is_empty)
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


def footprint_pixels(footprints, width: int | None = None, height: int | None = None,
                     values=None) -> BaseGeometry:
    """The pixels rasterio fills from footprints painted in order (later over earlier), as pixel squares.

    Args:
        footprints: Geometries in rasterio pixel coordinates (e.g. :func:`farmannot.labels.geometry.labelme_footprint`).
        width, height: The image size; pixels outside it are left out (None: no limit).
        values: 1 (fill) or 0 (carve) per footprint; default all 1.

    Returns:
        Polygon or MultiPolygon whose vertices sit on pixel corners (empty when nothing is filled).
    """
    feet = [g for g in footprints]
    vals = [1] * len(feet) if values is None else list(values)
    fill = [g for g, v in zip(feet, vals) if v and g is not None and not g.is_empty]
    if not fill:
        return Polygon()
    x0, y0, x1, y1 = shapely.total_bounds(np.asarray(fill, dtype=object))
    c0, r0, c1, r1 = math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)
    if width is not None:
        c0, c1 = max(c0, 0), min(c1, int(width))
    if height is not None:
        r0, r1 = max(r0, 0), min(r1, int(height))
    if c1 <= c0 or r1 <= r0:
        return Polygon()
    tr = Affine.translation(c0, r0)
    pairs = [(g, v) for g, v in zip(feet, vals) if g is not None and not g.is_empty]
    grid = features.rasterize(pairs, out_shape=(r1 - r0, c1 - c0), transform=tr, fill=0, dtype="uint8")
    polys = [shapely.geometry.shape(g) for g, v in features.shapes(grid, mask=grid == 1, transform=tr) if v == 1]
    if not polys:
        return Polygon()
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def labelme_to_edges(geoms, width: int | None = None, height: int | None = None):
    """labelme vertices -> the pixel-edge polygon(s) made of the pixels labelme fills (pixel squares).

    Built from the footprint geometry of :func:`farmannot.labels.geometry.labelme_footprint`, which can miss
    a pixel where a slanted edge passes exactly half a pixel from a pixel centre, and keeps only the
    ``make_valid`` area of a polygon that truncation makes self-crossing. Where exact pixels matter (labels,
    exports) the shapes are drawn as labelme draws them, by :mod:`farmannot.labels.paint`.

    Args:
        geoms: Polygon(s) with labelme vertices (holes fill as labelme fills a polygon's rings).
        width, height: The image size, to leave out pixels beyond it (None: no limit).
    """
    from farmannot.labels.geometry import labelme_footprint

    single = not isinstance(geoms, (list, tuple, np.ndarray))
    arr = shapely.transform(np.asarray([geoms] if single else geoms, dtype=object), np.trunc)
    bad = ~shapely.is_valid(arr)
    if bad.any():  # truncation can fold a valid outline; keep the areal part, as labels.geometry.repair does
        arr[bad] = [_areal(g) for g in shapely.make_valid(arr[bad])]
    out = np.asarray([footprint_pixels([labelme_footprint(g)], width, height) for g in arr], dtype=object)
    return out[0] if single else out


def _areal(geom: BaseGeometry) -> BaseGeometry:
    polys = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon)]
    return shapely.union_all(polys) if polys else Polygon()


def edge_polygon_to_labelme(geom: BaseGeometry) -> BaseGeometry:
    """One geometry, pixel edges -> labelme vertices."""
    return edges_to_labelme(geom)


def labelme_polygon_to_edges(geom: BaseGeometry) -> BaseGeometry:
    """One geometry, labelme vertices -> pixel edges."""
    return labelme_to_edges(geom)
