"""Predicted parcel classes -> draft polygons: connected parcels, minimum area, simplification."""

from __future__ import annotations

import os

import cv2
import numpy as np
import rasterio

from farmannot.labels.polygonize import labels_to_polygons


def class_band_polygons(pred_tif: str | os.PathLike, band: int, min_area_px: float = 16.0,
                        simplify_px: float = 1.5, boundary_band: int | None = None):
    """Polygons (shapely, scene px) and mean probability of each parcel in a prediction GeoTIFF.

    Parcels are 4-connected regions of ``class == 1``; with a boundary band, boundary pixels are removed
    first so touching fields come apart. Returns ``[(geometry, score), ...]`` largest first.
    """
    with rasterio.open(pred_tif) as src:
        cls = src.read(band)
        prob = src.read(1)
        if boundary_band:
            cls = np.where(src.read(boundary_band) >= 0.5, 0, cls)
    parcel = np.nan_to_num(cls, nan=0.0) >= 0.5
    n, labels = cv2.connectedComponents(parcel.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    if n <= 1:
        return []
    counts = np.bincount(labels.ravel(), minlength=n)
    sums = np.bincount(labels.ravel(), weights=np.nan_to_num(prob, nan=0.0).ravel(), minlength=n)
    out = []
    for lab, rings_list in labels_to_polygons(labels, simplify_px=simplify_px, min_area_px=min_area_px).items():
        from shapely.geometry import MultiPolygon

        polys = [r.to_shapely() for r in rings_list]
        geom = polys[0] if len(polys) == 1 else MultiPolygon(polys)
        out.append((geom, float(sums[lab] / max(counts[lab], 1))))
    out.sort(key=lambda gs: -gs[0].area)
    return out
