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
from farmannot.labels.geometry import (
    EXACT_TYPES,
    RepairReport,
    labelme_footprint,
    pixel_footprint,
    raw_geometry,
    repair,
    shape_footprint,
)
from farmannot.vectors.geometry import BACKGROUND_LABEL, Parcel, polygonal


def _raw_geometries(shapes: Sequence[Shape]) -> list[BaseGeometry | None]:
    """:func:`~farmannot.labels.geometry.raw_geometry` of every shape, the polygons (nearly all) built in one go."""
    out: list[BaseGeometry | None] = [None] * len(shapes)
    poly = [i for i, s in enumerate(shapes) if s.shape_type == "polygon" and len(s.points) >= 3]
    if poly:
        counts = [len(shapes[i].points) for i in poly]
        xy = np.trunc(np.asarray([p for i in poly for p in shapes[i].points], dtype=np.float64))
        rings = shapely.linearrings(xy, indices=np.repeat(np.arange(len(poly)), counts))
        for i, g in zip(poly, shapely.polygons(rings)):
            out[i] = g
    done = set(poly)
    for i, s in enumerate(shapes):
        if i not in done:
            out[i] = raw_geometry(s)
    return out


def shape_footprints(shapes: Sequence[Shape], width: int | None = None,
                     height: int | None = None) -> list[BaseGeometry | None]:
    """Each shape's labelme fill region in rasterio pixel coordinates (None: not an area, or nothing left).

    The shapes are repaired and clipped to the image as ``farmannot.labels.rasterize`` does (clipping only when
    the image size is known).
    """
    report = RepairReport()
    raw = _raw_geometries(shapes)
    out: list[BaseGeometry | None] = [None] * len(shapes)
    area = [i for i, g in enumerate(raw) if g is not None and not g.is_empty]
    if not area:
        return out
    arr = np.asarray([raw[i] for i in area], dtype=object)
    ok = shapely.is_valid(arr)
    if width and height:
        ok &= shapely.contains(shapely.box(-0.5, -0.5, int(width) - 0.5, int(height) - 0.5), arr)
    grow: list[int] = []
    for i, g, fine in zip(area, arr, ok.tolist()):
        if not fine and not g.is_valid and shapes[i].shape_type in ("polygon", "oriented_rectangle"):
            # a self-crossing or spiked polygon: the pixels labelme (PIL) draws for it, as the rasteriser does
            xy = np.trunc(np.asarray(shapes[i].points, dtype=np.float64))
            w = int(width) if width else int(xy[:, 0].max()) + 1
            h = int(height) if height else int(xy[:, 1].max()) + 1
            f = shape_footprint(shapes[i], w, h, f"shape {i}", report)
            if f is not None and not f.is_empty:
                out[i] = f
            continue
        if not fine:  # reaching beyond the image: labels.geometry's repair, shape by shape
            if width and height:
                g = repair(g, int(width), int(height), f"shape {i}", report)
            else:
                g = polygonal(shapely.make_valid(g)) or Polygon()
            if g.is_empty:
                continue
        if shapes[i].shape_type in EXACT_TYPES:
            out[i] = pixel_footprint(g, True)
        else:
            out[i] = g
            grow.append(i)
    if grow:  # the rasteriser's own footprint, so the export fills exactly the label raster's pixels
        for i in grow:
            out[i] = labelme_footprint(out[i])
    return out


def parcel_pixels(shapes: Sequence[Shape], parcels: Sequence[Parcel], width: int | None = None,
                  height: int | None = None) -> list[BaseGeometry]:
    """Each parcel's filled pixels as pixel squares (pixel coordinates, vertices on pixel corners).

    The parcel's shapes fill, and every ``_background_`` shape drawn after the parcel's first shape carves,
    in file order (labelme's painting rule), within the image when its size is known. Parcels may overlap, so
    each is rasterised in a window of its own; the windows are packed side by side on shared canvases, so
    rasterio rasterises and polygonises many parcels per call.
    """
    feet = shape_footprints(shapes, width, height)
    bounds = shapely.bounds(np.asarray([g if g is not None else Polygon() for g in feet], dtype=object))
    bg = np.asarray([j for j, s in enumerate(shapes) if s.label == BACKGROUND_LABEL and feet[j] is not None], int)
    jobs: list[tuple[int, tuple[int, int, int, int], list[int], set[int]]] = []
    windows, members_of = [], []
    for k, p in enumerate(parcels):
        members = [i for i in p.shape_indices if feet[i] is not None]
        if not members:
            continue
        b = bounds[members]
        c0, r0 = math.floor(b[:, 0].min()), math.floor(b[:, 1].min())
        c1, r1 = math.ceil(b[:, 2].max()), math.ceil(b[:, 3].max())
        if width:
            c0, c1 = max(c0, 0), min(c1, int(width))
        if height:
            r0, r1 = max(r0, 0), min(r1, int(height))
        if c1 <= c0 or r1 <= r0:
            continue
        windows.append((c0, r0, c1, r1))
        members_of.append((k, members))
    carve_of: dict[int, list[int]] = {}
    if len(bg) and windows:  # backgrounds over each window, one query for all windows
        w = np.asarray(windows, dtype=np.float64)
        tree = shapely.STRtree([feet[j] for j in bg])
        win, hit = tree.query(shapely.box(w[:, 0], w[:, 1], w[:, 2], w[:, 3]))
        for q, j in zip(win.tolist(), bg[hit].tolist()):
            carve_of.setdefault(q, []).append(j)
    for q, ((k, members), window) in enumerate(zip(members_of, windows)):
        first = min(members)
        carve = [j for j in carve_of.get(q, []) if j > first]
        jobs.append((k, window, sorted(members + carve), set(carve)))
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


def _shift(geoms: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Translate each geometry by its own offset, in one pass over all coordinates."""
    xy, idx = shapely.get_coordinates(geoms, return_index=True)
    return shapely.set_coordinates(geoms.copy(), xy + np.column_stack([dx, dy])[idx])


def _rasterise_batch(batch: list, feet: list) -> list[tuple[int, BaseGeometry]]:
    cw = max(max(job[1][2] - job[1][0] + ox for job, (ox, _) in batch), 1)
    ch = max(max(job[1][3] - job[1][1] + oy for job, (_, oy) in batch), 1)
    geoms, boxes, dx, dy, vals = [], [], [], [], []
    for n, (job, (ox, oy)) in enumerate(batch, start=1):
        _, (c0, r0, c1, r1), order, carve = job
        for i in order:  # painting order within the window
            geoms.append(feet[i])
            boxes.append((c0, r0, c1, r1))
            dx.append(ox - c0)
            dy.append(oy - r0)
            vals.append(0 if i in carve else n)
    # clipped to its window, so nothing spills into a neighbour's, then moved onto the canvas
    b = np.asarray(boxes, dtype=np.float64)
    clipped = shapely.intersection(np.asarray(geoms, dtype=object), shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3]))
    placed = _shift(clipped, np.asarray(dx, dtype=np.float64), np.asarray(dy, dtype=np.float64))
    keep = ~shapely.is_empty(placed)
    pairs = list(zip(placed[keep].tolist(), np.asarray(vals)[keep].tolist()))
    canvas = features.rasterize(pairs, out_shape=(ch, cw), fill=0, dtype="int32")
    polys, owner = [], []
    for g, v in features.shapes(canvas, mask=canvas > 0):
        rings = [np.asarray(r, dtype=np.float64) for r in g["coordinates"]]
        polys.append(shapely.polygons(rings[0], holes=rings[1:] or None))
        owner.append(int(v) - 1)
    if not polys:
        return []
    own = np.asarray(owner)
    back = np.asarray([(job[1][0] - ox, job[1][1] - oy) for job, (ox, oy) in batch], dtype=np.float64)
    moved = _shift(np.asarray(polys, dtype=object), back[own, 0], back[own, 1])
    parts: dict[int, list] = {}
    for v, g in zip(owner, moved):
        parts.setdefault(v, []).append(g)
    return [(batch[v][0][0], ps[0] if len(ps) == 1 else MultiPolygon(ps)) for v, ps in parts.items()]
