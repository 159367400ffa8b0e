"""Pixel-edge polygons converted to labelme vertices rasterise (labelme's rules) to the same pixels."""

import numpy as np
import pytest
import shapely
from rasterio import features
from rasterio.transform import Affine
from shapely.geometry import Polygon, box

from farmannot.io.labelme_json import Shape
from farmannot.labels.convention import edge_polygon_to_labelme, labelme_polygon_to_edges
from farmannot.labels.rasterize import class_raster


def labelme_raster(geom, h=40, w=40):
    shapes = [Shape("farmland", np.asarray(p.exterior.coords)[:-1].tolist()) for p in shapely.get_parts(geom)]
    return class_raster(shapes, h, w, {"farmland": 1}) == 1


def edge_raster(geom, h=40, w=40):
    return features.rasterize([(geom, 1)], out_shape=(h, w), transform=Affine.identity()) == 1


def test_pixel_aligned_rectangle_is_exact():
    edges = box(2, 3, 10, 8)  # columns 2..9, rows 3..7
    want = np.zeros((40, 40), bool)
    want[3:8, 2:10] = True
    assert (edge_raster(edges) == want).all()
    # unconverted, labelme's rules fill one more row and column
    assert labelme_raster(edges).sum() == 6 * 9
    assert (labelme_raster(edge_polygon_to_labelme(edges)) == want).all()


def test_rotated_fields_agree_better_with_the_pixel_centre_rule():
    err_raw = err_conv = bias_raw = bias_conv = 0
    for angle in (10, 33, 60, 80):
        field = shapely.affinity.rotate(box(8.3, 12.1, 30.6, 24.2), angle, origin="center")
        ref = edge_raster(field)
        raw = labelme_raster(field)
        conv = labelme_raster(edge_polygon_to_labelme(field))
        err_raw += (raw != ref).sum()
        err_conv += (conv != ref).sum()
        bias_raw += raw.sum() - ref.sum()
        bias_conv += conv.sum() - ref.sum()
    assert err_conv < 0.7 * err_raw
    assert bias_raw > 80 and abs(bias_conv) < bias_raw / 3  # unconverted fields grow systematically


def test_export_gives_exactly_the_pixels_labelme_fills():
    drawn = Polygon([(5.3, 5.2), (25.7, 7.1), (22.2, 30.9), (6.4, 26.3)])  # fractional, as a person draws
    assert (edge_raster(labelme_polygon_to_edges(drawn)) == labelme_raster(drawn)).all()
