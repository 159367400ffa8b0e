"""Parcels as the pixels the label raster fills: what ``export-vectors`` writes.

labelme (and ``farmannot.labels.rasterize``, which reproduces it) truncates a shape's vertices and fills the
pixels whose centres lie inside or on the outline; later ``_background_`` shapes paint over earlier ones. A
parcel is exported as exactly the pixels its shapes fill after that painting, as the union of their pixel
squares (vertices on pixel corners), so the exported area is the mask's pixel count times the pixel area and
rasterio fills the same pixels from the exported polygon.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from rasterio import features
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from farmannot.io.labelme_json import Shape
from farmannot.labels.geometry import EXACT_TYPES, RepairReport, pixel_footprint, raw_geometry, repair
from farmannot.vectors.geometry import BACKGROUND_LABEL, Parcel, polygonal


def shape_footprints(shapes: Sequence[Shape], width: int | None = None,
                     height: int | None = None) -> list[BaseGeometry | None]:
    """Each shape's labelme fill region in rasterio pixel coordinates (None: not an area, or nothing left).

    The shapes are repaired and clipped to the image as ``farmannot.labels.rasterize`` does (clipping only when
    the image size is known).
    """
    report = RepairReport()
    out: list[BaseGeometry | None] = [None] * len(shapes)
    grow: list[int] = []
    for i, s in enumerate(shapes):
        g = raw_geometry(s)
        if g is not None and not g.is_empty:
            if width and height:
                g = repair(g, int(width), int(height), f"shape {i}", report)
            elif not g.is_valid:
                g = polygonal(shapely.make_valid(g)) or Polygon()
        if g is None or g.is_empty:
            continue
        out[i] = g
        if s.shape_type in EXACT_TYPES:
            out[i] = pixel_footprint(g, True)
        else:
            grow.append(i)
    if grow:
        for i, g in zip(grow, labelme_footprints(np.asarray([out[i] for i in grow], dtype=object))):
            out[i] = g
    return out


# labels.geometry.labelme_footprint grows a polygon by a horizontal segment of half-width just under 0.5 px
# (and a vertical hair), one convex hull per edge. The same Minkowski sum, vectorised: squash the plane
# vertically by _SQUASH, buffer by the half-width, stretch back; the disc becomes a flat ellipse, which fills
# the same pixel centres (tested against labelme_footprint and the project's rasteriser).
_SQUASH = 1e4
_HALF = 0.5 - 1e-6  # as labels.geometry: ties fall as PIL's rounding does


def labelme_footprints(geoms: np.ndarray) -> np.ndarray:
    """labelme's fill regions (rasterio pixel coordinates) of geometries in labelme's integer vertex grid."""
    tall = shapely.transform(geoms, lambda xy: xy * [1.0, _SQUASH])
    grown = shapely.buffer(tall, _HALF, quad_segs=2)
    return shapely.transform(grown, lambda xy: xy / [1.0, _SQUASH] + 0.5)


def parcel_pixels(shapes: Sequence[Shape], parcels: Sequence[Parcel], width: int | None = None,
                  height: int | None = None) -> list[BaseGeometry]:
    """Each parcel's filled pixels as pixel squares (pixel coordinates, vertices on pixel corners).

    The parcel's shapes fill, and every ``_background_`` shape drawn after the parcel's first shape carves,
    in file order (labelme's painting rule), within the image when its size is known. Parcels may overlap, so
    each is rasterised in a window of its own; the windows are packed side by side on shared canvases, so
    rasterio rasterises and polygonises many parcels per call.
    """
    feet = shape_footprints(shapes, width, height)
    bg = [j for j, s in enumerate(shapes) if s.label == BACKGROUND_LABEL and feet[j] is not None]
    tree = shapely.STRtree([feet[j] for j in bg]) if bg else None
    jobs: list[tuple[int, tuple[int, int, int, int], list[int], set[int]]] = []
    for k, p in enumerate(parcels):
        members = [i for i in p.shape_indices if feet[i] is not None]
        if not members:
            continue
        x0, y0, x1, y1 = shapely.total_bounds(np.asarray([feet[i] for i in members], dtype=object))
        c0, r0, c1, r1 = math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)
        if width:
            c0, c1 = max(c0, 0), min(c1, int(width))
        if height:
            r0, r1 = max(r0, 0), min(r1, int(height))
        if c1 <= c0 or r1 <= r0:
            continue
        carve: list[int] = []
        if tree is not None:
            first = min(members)
            carve = [bg[int(q)] for q in tree.query(shapely.box(c0, r0, c1, r1)) if bg[int(q)] > first]
        jobs.append((k, (c0, r0, c1, r1), sorted(members + carve), set(carve)))
    out: list[BaseGeometry] = [Polygon()] * len(parcels)
    for batch in _pack(jobs):
        for k, geom in _rasterise_batch(batch, feet):
            out[k] = geom
    return out


def _pack(jobs: list, canvas_width: int = 4096, max_pixels: int = 1 << 24):
    """Shelf packing of the parcels' windows onto canvases: yields lists of ``(job, (x, y))`` slots."""
    batch, x, y, shelf = [], 0, 0, 0
    for job in jobs:
        c0, r0, c1, r1 = job[1]
        w, h = c1 - c0, r1 - r0
        if x + w > max(canvas_width, w):  # next shelf
            x, y, shelf = 0, y + shelf + 1, 0
        if batch and (y + h) * max(canvas_width, w) > max_pixels:
            yield batch
            batch, x, y, shelf = [], 0, 0, 0
        batch.append((job, (x, y)))
        x, shelf = x + w + 1, max(shelf, h)  # one empty pixel between windows
    if batch:
        yield batch


def _rasterise_batch(batch: list, feet: list) -> list[tuple[int, BaseGeometry]]:
    cw = max(max(job[1][2] - job[1][0] + ox for job, (ox, _) in batch), 1)
    ch = max(max(job[1][3] - job[1][1] + oy for job, (_, oy) in batch), 1)
    pairs = []
    for n, (job, (ox, oy)) in enumerate(batch, start=1):
        _, (c0, r0, c1, r1), order, carve = job
        window = shapely.box(c0, r0, c1, r1)
        for i in order:  # painting order within the window; clipped so nothing spills into a neighbour
            g = shapely.affinity.translate(shapely.intersection(feet[i], window), ox - c0, oy - r0)
            if not g.is_empty:
                pairs.append((g, 0 if i in carve else n))
    canvas = features.rasterize(pairs, out_shape=(ch, cw), fill=0, dtype="int32")
    parts: dict[int, list] = {}
    for g, v in features.shapes(canvas, mask=canvas > 0):
        parts.setdefault(int(v), []).append(shapely.geometry.shape(g))
    result = []
    for v, polys in parts.items():
        job, (ox, oy) = batch[v - 1]
        c0, r0 = job[1][0], job[1][1]
        geom = polys[0] if len(polys) == 1 else MultiPolygon(polys)
        result.append((job[0], shapely.affinity.translate(geom, c0 - ox, r0 - oy)))
    return result
