"""Parcels as the pixels the label raster fills: what ``export-vectors`` writes.

labelme (and ``farmannot.labels.rasterize``, which reproduces it) truncates a shape's vertices and fills the
pixels whose centres lie inside or on the outline; later ``_background_`` shapes paint over earlier ones. A
parcel is exported as exactly the pixels its shapes fill after that painting, as the union of their pixel
squares (vertices on pixel corners), so the exported area is the mask's pixel count times the pixel area and
rasterio fills the same pixels from the exported polygon.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from farmannot.io.labelme_json import Shape
from farmannot.labels.convention import footprint_pixels
from farmannot.labels.geometry import EXACT_TYPES, RepairReport, pixel_footprint, raw_geometry, repair
from farmannot.vectors.geometry import BACKGROUND_LABEL, Parcel, polygonal


def shape_footprints(shapes: Sequence[Shape], width: int | None = None,
                     height: int | None = None) -> list[BaseGeometry | None]:
    """Each shape's labelme fill region in rasterio pixel coordinates (None: not an area, or nothing left).

    The shapes are repaired and clipped to the image as ``farmannot.labels.rasterize`` does (clipping only when
    the image size is known).
    """
    report = RepairReport()
    out: list[BaseGeometry | None] = []
    for i, s in enumerate(shapes):
        g = raw_geometry(s)
        if g is not None and not g.is_empty:
            if width and height:
                g = repair(g, int(width), int(height), f"shape {i}", report)
            elif not g.is_valid:
                g = polygonal(shapely.make_valid(g)) or Polygon()
        if g is None or g.is_empty:
            out.append(None)
            continue
        out.append(pixel_footprint(g, s.shape_type in EXACT_TYPES))
    return out


def parcel_pixels(shapes: Sequence[Shape], parcels: Sequence[Parcel], width: int | None = None,
                  height: int | None = None) -> list[BaseGeometry]:
    """Each parcel's filled pixels as pixel squares (pixel coordinates, vertices on pixel corners).

    The parcel's shapes fill, and every ``_background_`` shape drawn after the parcel's first shape carves,
    in file order (labelme's painting rule), within the image when its size is known.
    """
    feet = shape_footprints(shapes, width, height)
    bg = [j for j, s in enumerate(shapes) if s.label == BACKGROUND_LABEL and feet[j] is not None]
    tree = shapely.STRtree([feet[j] for j in bg]) if bg else None
    out: list[BaseGeometry] = []
    for p in parcels:
        members = [i for i in p.shape_indices if feet[i] is not None]
        if not members:
            out.append(Polygon())
            continue
        carve: list[int] = []
        if tree is not None:
            bounds = shapely.box(*shapely.total_bounds(np.asarray([feet[i] for i in members], dtype=object)))
            first = min(members)
            carve = sorted(bg[int(k)] for k in tree.query(bounds) if bg[int(k)] > first)
        order = sorted(members + carve)
        carved = set(carve)
        out.append(footprint_pixels([feet[k] for k in order], width, height,
                                    values=[0 if k in carved else 1 for k in order]))
    return out
