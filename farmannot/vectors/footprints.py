"""Parcels as the pixels the label raster fills: what ``export-vectors`` writes.

labelme (and ``farmannot.labels.rasterize``, which draws as it does) truncates a shape's vertices and draws it
with PIL, fill and outline; later ``_background_`` shapes paint over earlier ones. A parcel is exported as
exactly the pixels its shapes fill after that painting, as the union of their pixel squares (vertices on
pixel corners), so the exported area is the mask's pixel count times the pixel area and rasterio fills the
same pixels from the exported polygon. The pixels come from ``farmannot.labels.paint``, labelme's own drawing,
and become pixel squares through ``farmannot.labels.convention.pixels_to_edges`` (the pixel contract).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from farmannot.io.labelme_json import Shape
from farmannot.labels.convention import pixels_to_edges
from farmannot.labels.geometry import AREA_TYPES, RepairReport, shapes_in_image, too_few_points
from farmannot.labels.paint import Drawing
from farmannot.vectors.geometry import BACKGROUND_LABEL, Parcel


def _drawable(shapes: Sequence[Shape], width: int | None, height: int | None) -> list[bool]:
    """Which shapes paint pixels (in the image when its size is known), as ``labels.rasterize`` decides."""
    if width and height:
        return [bool(k) for k in shapes_in_image(shapes, int(width), int(height), RepairReport())]
    return [s.shape_type in AREA_TYPES and not too_few_points(s) for s in shapes]


def parcel_pixels(shapes: Sequence[Shape], parcels: Sequence[Parcel], width: int | None = None,
                  height: int | None = None) -> list[BaseGeometry]:
    """Each parcel's filled pixels as pixel squares (pixel coordinates, vertices on pixel corners).

    The parcel's shapes fill, and every ``_background_`` shape drawn after the parcel's first shape carves,
    in file order (labelme's painting rule), within the image when its size is known. Parcels may overlap, so
    each is rasterised in a window of its own; the windows are packed side by side on shared canvases, so
    rasterio rasterises and polygonises many parcels per call.
    """
    ok = _drawable(shapes, width, height)
    at = np.cumsum(ok) - 1  # shape index -> drawing index
    drawing = Drawing.of([s for s, k in zip(shapes, ok) if k])
    bounds = np.zeros((len(shapes), 4), np.int64)
    bounds[np.flatnonzero(ok)] = drawing.bounds
    bg = np.asarray([j for j, s in enumerate(shapes) if s.label == BACKGROUND_LABEL and ok[j]], int)
    jobs: list[tuple[int, tuple[int, int, int, int], list[int], set[int]]] = []
    windows, members_of = [], []
    for k, p in enumerate(parcels):
        members = [i for i in p.shape_indices if ok[i]]
        if not members:
            continue
        b = bounds[members]
        c0, r0 = int(b[:, 0].min()), int(b[:, 1].min())
        c1, r1 = int(b[:, 2].max()) + 1, int(b[:, 3].max()) + 1
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
        bb = bounds[bg].astype(np.float64)  # a background's pixels, as boxes of pixel squares
        tree = shapely.STRtree(shapely.box(bb[:, 0], bb[:, 1], bb[:, 2] + 1, bb[:, 3] + 1))
        win, hit = tree.query(shapely.box(w[:, 0], w[:, 1], w[:, 2], w[:, 3]), predicate="intersects")
        for q, j in zip(win.tolist(), bg[hit].tolist()):
            carve_of.setdefault(q, []).append(j)
    for q, ((k, members), window) in enumerate(zip(members_of, windows)):
        first = min(members)
        carve = [j for j in carve_of.get(q, []) if j > first]
        jobs.append((k, window, sorted(members + carve), set(carve)))
    out: list[BaseGeometry] = [Polygon()] * len(parcels)
    for batch in _pack(jobs):
        for k, geom in _rasterise_batch(batch, drawing, at):
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


def _rasterise_batch(batch: list, drawing: Drawing, at: np.ndarray) -> list[tuple[int, BaseGeometry]]:
    cw = max(max(job[1][2] - job[1][0] + ox for job, (ox, _) in batch), 1)
    ch = max(max(job[1][3] - job[1][1] + oy for job, (_, oy) in batch), 1)
    canvas = np.zeros((ch, cw), np.int32)
    for n, (job, (ox, oy)) in enumerate(batch, start=1):
        _, (c0, r0, c1, r1), order, carve = job
        which = drawing.paint(at[order].tolist(), c0, r0, c1 - c0, r1 - r0)  # painting order within the window
        lut = np.array([0] + [0 if i in carve else n for i in order], dtype=np.int32)
        canvas[oy:oy + r1 - r0, ox:ox + c1 - c0] = lut[which]  # the windows' slots never overlap
    polys, values = pixels_to_edges(canvas)
    if not len(polys):
        return []
    own = values.astype(np.int64) - 1
    back = np.asarray([(job[1][0] - ox, job[1][1] - oy) for job, (ox, oy) in batch], dtype=np.float64)
    moved = _shift(polys, back[own, 0], back[own, 1])
    parts: dict[int, list] = {}
    for v, g in zip(own.tolist(), moved):
        parts.setdefault(v, []).append(g)
    return [(batch[v][0][0], ps[0] if len(ps) == 1 else MultiPolygon(ps)) for v, ps in parts.items()]
