"""Draft polygons of a prediction read strip by strip are the polygons of the whole scene."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from farmannot.predict.polygons import class_band_polygons, largest_first, parcel_polygons


def _fields(seed: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probability, class and boundary bands of a field-like prediction on a jittered grid: touching,
    corner-touching and split parcels, parcels with holes, specks, a parcel as tall as the scene."""
    rng = np.random.default_rng(seed)
    prob = rng.random((h, w)).astype(np.float32) * 0.4
    boundary = np.zeros((h, w), np.float32)
    cell = 19
    for r in range(0, h, cell):
        for c in range(0, w, cell):
            gap = int(rng.choice([0, 1, 1, 2, 3]))
            rh, rw = cell - gap + int(rng.integers(0, 3)), cell - gap  # some reach into the next row of cells
            v = float(0.55 + 0.4 * rng.random())
            if rng.random() < 0.6:
                prob[r:r + rh, c:c + rw] = v
            else:
                cv2.ellipse(prob, (c + rw // 2, r + rh // 2), (rw // 2, rh // 2), float(rng.integers(0, 180)),
                            0, 360, v, -1)
            if rng.random() < 0.3:  # a hole
                prob[r + 5:r + 5 + int(rng.integers(1, 6)), c + 6:c + 6 + int(rng.integers(1, 6))] = 0.1
            if rng.random() < 0.3:  # a boundary line that splits it
                boundary[r:r + rh, min(c + rw // 2, w - 1)] = 0.9
    prob[:, w // 2:w // 2 + 7] = 0.1
    prob[:, w // 2 + 3] = 0.8  # one parcel from the top row to the bottom row
    boundary[:, w // 2:w // 2 + 7] = 0
    prob[rng.random((h, w)) < 0.01] = 0.9  # specks
    prob[3, 3], prob[4, 4] = 0.9, 0.9  # corner-touching pixels
    cls = (prob >= 0.5).astype(np.float32)
    cls[rng.random((h, w)) < 0.002] = np.nan  # nodata
    cls[:, w // 2 + 3] = 1
    return prob, cls, boundary


def _write(path, prob, cls, boundary) -> None:
    h, w = prob.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=3, dtype="float32", crs="EPSG:32618",
                       transform=from_origin(790000, 2050000, 10, 10), tiled=True, blockxsize=64,
                       blockysize=64) as dst:
        dst.write(np.stack([prob, cls, boundary]))


def _same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for (ga, sa), (gb, sb) in zip(a, b):
        assert shapely.equals_exact(ga, gb, tolerance=0), (ga.wkt[:200], gb.wkt[:200])
        assert sa == sb


@pytest.mark.parametrize("seed, strip", [(0, 37), (1, 64), (2, 1), (3, 500)])
def test_strips_give_the_whole_scene_polygons(tmp_path, seed, strip):
    prob, cls, boundary = _fields(seed, 230, 190)
    path = tmp_path / "pred.tif"
    _write(path, prob, cls, boundary)
    parcel = np.where(boundary >= 0.5, 0, np.nan_to_num(cls, nan=0.0)) >= 0.5
    whole = largest_first(parcel_polygons(parcel, prob))
    assert len(whole) > 20 and any(g.geom_type == "Polygon" and len(g.interiors) for g, _ in whole)
    assert any(g.bounds[1] == 0 and g.bounds[3] == 230 for g, _ in whole)  # the full-height parcel
    _same(class_band_polygons(path, band=2, boundary_band=3, strip_rows=strip), whole)


def test_strips_without_boundary_band_and_with_simplification_off(tmp_path):
    prob, cls, boundary = _fields(5, 150, 170)
    path = tmp_path / "pred.tif"
    _write(path, prob, cls, boundary)
    parcel = np.nan_to_num(cls, nan=0.0) >= 0.5
    for simplify in (0.0, 1.5):
        whole = largest_first(parcel_polygons(parcel, prob, min_area_px=4, simplify_px=simplify))
        _same(class_band_polygons(path, band=2, min_area_px=4, simplify_px=simplify, strip_rows=29), whole)


def test_scores_are_mean_probability_and_pixels_exact(tmp_path):
    prob = np.full((40, 30), 0.1, np.float32)
    prob[5:15, 4:10] = 0.7   # 60 px at 0.7
    prob[14:30, 20:25] = 0.9  # crosses strips of 8 rows
    cls = (prob >= 0.5).astype(np.float32)
    path = tmp_path / "pred.tif"
    _write(path, prob, cls, np.zeros_like(prob))
    got = class_band_polygons(path, band=2, min_area_px=0, simplify_px=0, strip_rows=8)
    assert [round(s, 5) for _, s in got] == [0.9, 0.7]
    assert got[0][0].equals(shapely.box(20, 14, 25, 30)) and got[1][0].equals(shapely.box(4, 5, 10, 15))
