"""Predicted parcel classes -> draft polygons: connected parcels, minimum area, simplification.

The prediction GeoTIFF is read in strips of full rows, never whole: a strip's parcels are polygonised as
soon as nothing further down can join them, and only the rows of parcels still open (touching the strip's
last row) are carried into the next strip. Memory is set by the strip and the tallest open parcel, not by
the scene. Each group of parcels touching at least at a corner is simplified on its own (as a coverage, by
:func:`farmannot.labels.polygonize.labels_to_polygons`, so the shared corner stays shared), so a parcel's
polygon depends only on its group's pixels and the result is the one :func:`parcel_polygons` gives on the
whole scene (``tests/predict/test_polygons.py``). (Simplifying all parcels of a scene as one coverage, as
before, lets a parcel's vertex block the simplification of a neighbour a pixel away; that made the result
depend on what else was read with it.)
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import rasterio
import shapely
from rasterio.windows import Window
from shapely.geometry import MultiPolygon

from farmannot.labels.polygonize import labels_to_polygons

#: Rows read per strip.
STRIP_ROWS = 512


def parcel_polygons(parcel: np.ndarray, prob: np.ndarray, min_area_px: float = 16.0, simplify_px: float = 1.5,
                    row_offset: int = 0) -> list[tuple[shapely.Geometry, float]]:
    """Polygons (scene px) and mean probability of each 4-connected region of ``parcel``.

    Regions that touch at a corner form a group and are simplified together as a coverage (they share the
    corner vertex); each group on its own, on its bounding box, so a parcel's polygon depends on its group's
    pixels only, wherever the group is read from.

    Args:
        parcel: Boolean parcel pixels (rows ``row_offset`` onward of the scene).
        prob: Parcel probability of the same pixels (NaN counts as 0).
        row_offset: Scene row of ``parcel[0]``; the polygons are moved there.

    Returns:
        ``[(geometry, score), ...]`` in no particular order.
    """
    n, labels = cv2.connectedComponents(parcel.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    if n <= 1:
        return []
    counts = np.bincount(labels.ravel(), minlength=n)
    sums = np.bincount(labels.ravel(), weights=np.nan_to_num(prob, nan=0.0).ravel(), minlength=n)
    n_groups, groups, stats, _ = cv2.connectedComponentsWithStats(parcel.view(np.uint8), connectivity=8,
                                                                  ltype=cv2.CV_32S)
    out = []
    for g in range(1, n_groups):
        c0, r0, w, h = (int(v) for v in stats[g, :4])
        crop = np.where(groups[r0:r0 + h, c0:c0 + w] == g, labels[r0:r0 + h, c0:c0 + w], 0)
        found = labels_to_polygons(crop, simplify_px=simplify_px, min_area_px=min_area_px)
        for lab, rings_list in found.items():
            polys = [r.to_shapely() for r in rings_list]
            geom = polys[0] if len(polys) == 1 else MultiPolygon(polys)
            geom = shapely.transform(geom, lambda xy, c0=c0, r0=r0: xy + [float(c0), float(r0 + row_offset)])
            out.append((geom, float(sums[lab] / max(counts[lab], 1))))
    return out


def largest_first(polygons: list) -> list:
    """Largest first; equal areas in reading order of their bounds (the same order however they were found)."""
    return sorted(polygons, key=lambda gs: (-gs[0].area, *gs[0].bounds[1::-1]))


def class_band_polygons(pred_tif: str | os.PathLike, band: int, min_area_px: float = 16.0,
                        simplify_px: float = 1.5, boundary_band: int | None = None,
                        strip_rows: int = STRIP_ROWS):
    """Polygons (shapely, scene px) and mean probability of each parcel in a prediction GeoTIFF.

    Parcels are 4-connected regions of ``class == 1``; with a boundary band, boundary pixels are removed
    first so touching fields come apart. Read strip by strip (see the module notes). Returns
    ``[(geometry, score), ...]`` largest first.
    """
    out: list = []
    with rasterio.open(pred_tif) as src:
        width, height = src.width, src.height
        parcel = np.zeros((0, width), bool)
        prob = np.zeros((0, width), np.float32)
        top = 0  # scene row of parcel[0]
        for row in range(0, height, strip_rows):
            win = Window(0, row, width, min(strip_rows, height - row))
            cls = src.read(band, window=win)
            if boundary_band:
                cls = np.where(src.read(boundary_band, window=win) >= 0.5, 0, cls)
            parcel = np.vstack([parcel, np.nan_to_num(cls, nan=0.0) >= 0.5])
            prob = np.vstack([prob, src.read(1, window=win, out_dtype="float32")])
            if row + win.height >= height:
                out += parcel_polygons(parcel, prob, min_area_px, simplify_px, top)
                break
            # groups of parcels touching at least at a corner; those on the last row may grow in the next strip
            _, groups = cv2.connectedComponents(parcel.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
            open_ids = np.unique(groups[-1])
            still_open = np.isin(groups, open_ids[open_ids > 0])
            out += parcel_polygons(parcel & ~still_open, prob, min_area_px, simplify_px, top)
            rows = np.flatnonzero(still_open.any(axis=1))
            cut = int(rows[0]) if len(rows) else parcel.shape[0]
            parcel, prob, top = still_open[cut:], prob[cut:], top + cut
    return largest_first(out)
