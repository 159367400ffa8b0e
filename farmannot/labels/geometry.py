"""labelme shapes -> shapely geometries in scene pixel coordinates, repaired and clipped to the image.

Pixel convention (labelme's own converter, ``labelme.utils.shape_to_mask``): PIL truncates each vertex to
an integer pixel index and fills, on each pixel row, every pixel whose centre lies within half a pixel of
the polygon's span on that row. ``farmannot.labels.convention.labelme_footprint`` (the pixel contract's
owner) builds that footprint as a geometry (the vertices truncated, then a Minkowski sum with a horizontal
segment of one pixel), so rasterio's centre-sampling
rasteriser reproduces labelme's masks: labelme 6.3.1's ``shapes_to_label`` exactly on its semantic-segmentation
examples, and its polygon, rectangle and mask primitives exactly; circles differ by a few rim pixels (PIL's
integer ellipse).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import PIL.Image
import PIL.ImageDraw
import rasterio.features
import shapely
from affine import Affine
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity, make_valid

from farmannot.io.labelme_json import Shape
from farmannot.labels.convention import labelme_footprint

#: Shape types that describe an area and so take part in the label rasters.
AREA_TYPES = ("polygon", "rectangle", "oriented_rectangle", "circle", "mask")
#: The fewest points labelme draws an area shape from (``shape_to_mask`` refuses fewer).
MIN_DRAWN_POINTS = {"polygon": 3, "oriented_rectangle": 3, "rectangle": 2, "circle": 2}


def too_few_points(shape: Shape) -> bool:
    """Whether ``shape`` has fewer points than labelme draws its type from (a two-point polygon, a one-point
    circle or rectangle): such a shape paints nothing."""
    return len(shape.points) < MIN_DRAWN_POINTS.get(shape.shape_type, 0)


@dataclass
class RepairReport:
    """What was repaired or dropped while turning one annotation's shapes into geometries."""

    repaired: list[dict] = field(default_factory=list)
    clipped: list[dict] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"repaired": self.repaired, "clipped": self.clipped, "dropped": self.dropped}

    @property
    def empty(self) -> bool:
        return not (self.repaired or self.clipped or self.dropped)


def _truncate(points: list[list[float]]) -> np.ndarray:
    # PIL (and so labelme) casts vertex coordinates to int: truncation toward zero.
    return np.trunc(np.asarray(points, dtype=np.float64))


def raw_geometry(shape: Shape) -> BaseGeometry | None:
    """The area a shape covers in labelme's integer vertex grid, before repair (``None``: not an area)."""
    t = shape.shape_type
    if t not in AREA_TYPES:
        return None
    if too_few_points(shape):
        return Polygon()
    if t == "mask":
        return _mask_geometry(shape)
    pts = _truncate(shape.points)
    if t in ("polygon", "oriented_rectangle"):
        if len(pts) < 3:
            return Polygon()
        return Polygon(pts)
    if t == "rectangle":
        (x0, y0), (x1, y1) = pts[0], pts[-1]
        return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    # circle: centre and a point on the rim, as labelme stores it. PIL draws the ellipse inscribed in the
    # truncated bounding box (pixels x0..x1 inclusive); a radius 0.1 px short of that box matches its
    # integer ellipse algorithm on labelme's example up to 16 rim pixels of 8,144.
    (cx, cy), (px, py) = np.asarray(shape.points[:2], dtype=np.float64)
    d = math.hypot(px - cx, py - cy)
    x0, y0, x1, y1 = (math.trunc(v) for v in (cx - d, cy - d, cx + d, cy + d))
    unit = Point((x0 + x1) / 2, (y0 + y1) / 2).buffer(1.0, quad_segs=32)
    return shapely.affinity.scale(unit, (x1 - x0 + 1) / 2 - 0.1, (y1 - y0 + 1) / 2 - 0.1)


#: Shape types whose geometry already is the set of pixel centres to fill (no labelme footprint growth).
EXACT_TYPES = ("mask", "circle")


def _mask_geometry(shape: Shape) -> BaseGeometry:
    """A mask shape's True pixels as pixel-square polygons (centre coordinates, so no footprint growth)."""
    from rasterio import features
    from rasterio.transform import Affine

    if shape.mask is None or not shape.mask.any():
        return Polygon()
    x0, y0 = (int(math.floor(v)) for v in shape.points[0])
    # pixel (r, c) of the mask -> square centred on (x0 + c, y0 + r) in labelme's integer grid
    tr = Affine.translation(x0 - 0.5, y0 - 0.5)
    m = shape.mask.astype(np.uint8)
    polys = [shapely.geometry.shape(g) for g, v in features.shapes(m, mask=m > 0, transform=tr) if v]
    return shapely.union_all(polys)


def repair(geom: BaseGeometry, width: int, height: int, where: str, report: RepairReport) -> BaseGeometry:
    """``make_valid`` an invalid geometry, keep its areal part, clip it to the image; note each change."""
    if not geom.is_valid:
        why = explain_validity(geom)
        geom = _areal(make_valid(geom))
        report.repaired.append({"shape": where, "reason": why})
    image = box(-0.5, -0.5, width - 0.5, height - 0.5)  # integer grid: pixel centres at 0..width-1
    if geom.is_empty:
        return geom
    if not image.contains(geom):
        before = geom.area
        geom = _areal(geom.intersection(image))
        report.clipped.append({"shape": where, "area_px_before": round(before, 3),
                               "area_px_after": round(geom.area, 3)})
    return geom


def _areal(geom: BaseGeometry) -> BaseGeometry:
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    if isinstance(geom, GeometryCollection):
        polys = [g for g in shapely.get_parts(geom) if isinstance(g, (Polygon, MultiPolygon))]
        return shapely.union_all(polys) if polys else Polygon()
    return Polygon()


def pixel_footprint(geom: BaseGeometry, exact: bool) -> BaseGeometry:
    """The geometry to hand to the rasteriser: labelme's footprint, or (``exact``: mask and circle shapes)
    the geometry as it is, moved to rasterio's pixel grid."""
    if exact:
        return shapely.affinity.translate(geom, 0.5, 0.5)
    return labelme_footprint(geom)


#: Largest bounding box (pixels) of an invalid polygon that is drawn with PIL to copy labelme exactly.
PIL_DRAW_MAX_PX = 64 * 1024 * 1024


def shape_footprint(shape: Shape, width: int, height: int, where: str,
                    report: RepairReport) -> BaseGeometry | None:
    """The pixels labelme fills for one shape, as a geometry in rasterio pixel coordinates, clipped to the
    image (``None``: not an area type; empty: nothing to fill).

    A valid shape is its repaired area grown by :func:`labelme_footprint`. An invalid polygon (self-crossing,
    a one-pixel spike, zero area) has no single right area, and ``make_valid`` keeps only its areal part
    while labelme fills what PIL draws: fill plus outline. Such a polygon is drawn with PIL exactly as
    labelme's ``shape_to_mask`` draws it, on a canvas the size of its bounding box, and its pixels become
    the footprint; a bounding box above :data:`PIL_DRAW_MAX_PX` falls back to the repaired area plus the
    footprint of its outline. The repair is reported either way.
    """
    geom = raw_geometry(shape)
    if geom is None:
        return None
    was_valid = geom.is_valid
    geom = repair(geom, width, height, where, report)
    foot = pixel_footprint(geom, shape.shape_type in EXACT_TYPES) if not geom.is_empty else Polygon()
    if was_valid or shape.shape_type not in ("polygon", "oriented_rectangle"):
        return foot
    pts = _truncate(shape.points)
    if len(pts) < 2:
        return foot
    drawn = _pil_polygon_pixels(pts, width, height)
    if drawn is not None:
        return drawn
    outline = _areal(labelme_footprint(LineString(np.vstack([pts, pts[:1]]))))
    outline = _areal(outline.intersection(box(0, 0, width, height)))
    return _areal(shapely.union_all([foot, outline])) if not foot.is_empty else outline


def _pil_polygon_pixels(pts: np.ndarray, width: int, height: int) -> BaseGeometry | None:
    """The pixels PIL's ``polygon(outline=1, fill=1)`` sets for integer vertices ``pts``, within the image, as
    unit squares (``None`` when the bounding box is too large to draw)."""
    x0, y0 = max(0, int(pts[:, 0].min())), max(0, int(pts[:, 1].min()))
    x1, y1 = min(width - 1, int(pts[:, 0].max())), min(height - 1, int(pts[:, 1].max()))
    if x1 < x0 or y1 < y0:
        return Polygon()
    w, h = x1 - x0 + 1, y1 - y0 + 1
    if w * h > PIL_DRAW_MAX_PX:
        return None
    canvas = PIL.Image.new("1", (w, h), 0)
    PIL.ImageDraw.Draw(canvas).polygon([(float(x - x0), float(y - y0)) for x, y in pts], outline=1, fill=1)
    mask = np.asarray(canvas, dtype=np.uint8)
    if not mask.any():
        return Polygon()
    parts = [shapely.geometry.shape(g) for g, _ in rasterio.features.shapes(
        mask, mask=mask.astype(bool), transform=Affine.translation(x0, y0))]
    return _areal(shapely.union_all(parts))


def shape_in_image(shape: Shape, width: int, height: int, where: str, report: RepairReport) -> bool | None:
    """Whether labelme paints any pixel of the image for this shape (``None``: not an area type), with the
    same repair and clip report entries as :func:`shape_footprint`.

    A shape whose repaired, clipped area is empty may still paint pixels: PIL draws the outline of a
    self-crossing or spiked polygon, of a rectangle one pixel wide, of a circle of radius under a pixel.
    Those are drawn as labelme draws them (``farmannot.labels.paint``) over the part of the image their
    bounds cover, and kept when any pixel is set.
    """
    if shape.shape_type not in AREA_TYPES:
        return None
    if too_few_points(shape):
        return False  # labelme refuses such a shape
    geom = repair(raw_geometry(shape), width, height, where, report)
    if not geom.is_empty:
        return True
    from farmannot.labels.paint import Drawing

    drawing = Drawing.of([shape])
    x0, y0, x1, y1 = drawing.bounds[0].tolist()
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1)
    if x1 < x0 or y1 < y0:
        return False
    if (x1 - x0 + 1) * (y1 - y0 + 1) > PIL_DRAW_MAX_PX:
        return True
    return bool(drawing.paint([0], x0, y0, x1 - x0 + 1, y1 - y0 + 1).any())


def shapes_in_image(shapes, width: int, height: int, report: RepairReport, first: int = 0) -> list[bool | None]:
    """:func:`shape_in_image` for every shape, in file order (report entries in that order too); ``first``: the
    file index of ``shapes[0]`` (a batch of a longer file), for the report.

    Polygons that are valid once truncated and lie within the image (nearly all) are settled in one
    vectorised shapely pass; the others go through :func:`shape_in_image` one by one.
    """
    poly = [i for i, s in enumerate(shapes) if s.shape_type == "polygon" and len(s.points) >= 3]
    settled = np.zeros(len(shapes), bool)
    if poly:
        counts = [len(shapes[i].points) + 1 for i in poly]  # every ring closed explicitly (a repeat is harmless)
        xy = np.trunc(np.asarray([p for i in poly for p in (*shapes[i].points, shapes[i].points[0])],
                                 dtype=np.float64))
        arr = shapely.polygons(shapely.linearrings(xy, indices=np.repeat(np.arange(len(poly)), counts)))
        image = box(-0.5, -0.5, width - 0.5, height - 0.5)
        settled[poly] = shapely.is_valid(arr) & shapely.contains_properly(image, arr)
    return [True if settled[i] else shape_in_image(s, width, height, f"shape {first + i} ({s.label!r})", report)
            for i, s in enumerate(shapes)]
