"""Tiny synthetic inputs for the vector tests: a UTM scene at the equator and parcels in EPSG:4326.

The scene (EPSG:32633, 10 m pixels, 120 x 120 px) has its pixel (20, 100) on the point where the central
meridian of UTM zone 33 (15 deg E) crosses the equator: easting 500,000 m, northing 0 m, by the definition of
UTM, so lon/lat (15, 0) must land on that pixel exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyogrio.raw
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import Affine
from shapely.geometry import MultiPolygon, Polygon, box

SCENE_CRS = "EPSG:32633"
SCENE_TRANSFORM = Affine(10.0, 0.0, 499_800.0, 0.0, -10.0, 1_000.0)
SCENE_SIZE = 120

# The known pixel answers (rasterio pixel coordinates, corner (0, 0) top-left).
FIELD_WITH_HOLE = Polygon([(10, 10), (50, 10), (50, 50), (10, 50)], [[(20, 20), (30, 20), (30, 30), (20, 30)]])
TWO_PART_FIELD = MultiPolygon([box(60, 10, 70, 20), box(80, 10, 90, 20)])
EDGE_FIELD = box(100, 60, 140, 80)  # crosses the right edge at x = 120
EDGE_FIELD_CLIPPED = box(100, 60, 120, 80)
BOWTIE = Polygon([(10, 70), (40, 100), (40, 70), (10, 100)])  # self-intersecting
OUTSIDE_FIELD = box(300, 300, 320, 320)


def pixel_to_lonlat(geom):
    """Pixel polygon -> UTM 33N (the scene affine, by hand) -> lon/lat (pyproj)."""
    a, b, c, d, e, f = tuple(SCENE_TRANSFORM)[:6]
    tr = Transformer.from_crs(SCENE_CRS, "EPSG:4326", always_xy=True)

    def fn(xy):
        x, y = a * xy[:, 0] + b * xy[:, 1] + c, d * xy[:, 0] + e * xy[:, 1] + f
        lon, lat = tr.transform(x, y)
        return np.column_stack([lon, lat])

    return shapely.transform(geom, fn)


def write_scene(path: Path, crs: str | None = SCENE_CRS, size: int = SCENE_SIZE) -> Path:
    data = (np.arange(size * size, dtype=np.uint32) % 251).astype(np.uint8).reshape(1, size, size)
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype="uint8", crs=crs,
                       transform=SCENE_TRANSFORM) as dst:
        dst.write(data)
    return path


def write_vectors(path: Path, geoms, fields: dict[str, list], crs: str | None = "EPSG:4326",
                  driver: str | None = None, layer: str | None = None, append: bool = False) -> Path:
    names = list(fields)
    data = [np.asarray(fields[n], dtype=object if isinstance(fields[n][0], str) else None) for n in names]
    pyogrio.raw.write(str(path), shapely.to_wkb(np.asarray(geoms, dtype=object)), data, names, crs=crs,
                      driver=driver, geometry_type="Unknown", layer=layer, append=append)
    return path


def hand_annotation(image_path: str = "scene.tif", scene: bool = True):
    """An annotation on the UTM scene whose parcels are known by hand (10 m pixels: 1 px^2 = 100 m^2).

    labelme fills every pixel whose centre (whole-number coordinates) lies inside a shape or on its outline, so
    the square with vertices 10 and 50 fills pixels 10..50: 41 x 41 px, whose pixel squares span 10..51.

    - P1 farmland vertices 10..50 (41 x 41 px) with a later _background_ at 20..30 (11 x 11 px):
      1,681 - 121 = 1,560 px = 156,000 m2; perimeter 4 * 41 + 4 * 11 = 208 px = 2,080 m
    - P2 farmland in two parts at 60..70 and 80..90 (11 x 11 px each) sharing group_id 7: 242 px = 24,200 m2,
      perimeter 2 * 44 px = 880 m
    - P3 farmland rectangle shape 100..110 x 60..80 (11 x 21 px): 231 px = 23,100 m2, perimeter 64 px = 640 m
    - a point (not an area: skipped)
    - a _background_ drawn BEFORE P4, which therefore keeps it: P4 60..70 (11 x 11 px), 12,100 m2, 440 m
    """
    from farmannot.io.labelme_json import Annotation, Shape

    def sq(x0, y0, x1, y1):
        return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]

    shapes = [
        Shape("farmland", sq(10, 10, 50, 50)),
        Shape("_background_", sq(20, 20, 30, 30)),
        Shape("farmland", sq(60, 10, 70, 20), group_id=7),
        Shape("farmland", sq(80, 10, 90, 20), group_id=7),
        Shape("farmland", [[100, 60], [110, 80]], shape_type="rectangle"),
        Shape("farmland", [[5, 5]], shape_type="point"),
        Shape("_background_", sq(62, 62, 68, 68)),
        Shape("farmland", sq(60, 60, 70, 70)),
    ]
    farm = {
        "caption": {"keywords": {"month": {"value": "may", "source": "auto"},
                                 "water": {"value": "absent", "source": "confirmed"}},
                    "text": {"en": "The farmland is blocky.", "zh": "耕地呈块状。"}},
        "provenance": {"farmannot_version": "0.1.0"},
    }
    if scene:
        farm["scene"] = {"crs": SCENE_CRS, "transform": list(SCENE_TRANSFORM)[:6], "width": SCENE_SIZE,
                         "height": SCENE_SIZE, "date": "2020-05-18", "sensor": "landsat8"}
    return Annotation(shapes=shapes, image_path=image_path, image_height=SCENE_SIZE, image_width=SCENE_SIZE,
                      farmannot=farm)


#: (area m2, perimeter m) of the hand annotation's parcels, in order.
HAND_PARCELS = [(156_000.0, 2_080.0), (24_200.0, 880.0), (23_100.0, 640.0), (12_100.0, 440.0)]
