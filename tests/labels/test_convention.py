"""Pixel-edge polygons converted to labelme vertices rasterise (labelme's rules) to the same pixels."""

import numpy as np
import pytest
import shapely
from rasterio import features
from rasterio.transform import Affine
from shapely.geometry import Polygon, box

from farmannot.io.labelme_json import Shape
from farmannot.labels.convention import (
    edge_polygon_to_labelme,
    edges_to_labelme,
    labelme_polygon_to_edges,
    labelme_to_edges,
)
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


def test_export_outline_is_the_pixel_squares():
    """The exported outline is made of whole pixels: its area is the pixel count, its vertices pixel corners."""
    drawn = Polygon([(5.3, 5.2), (25.7, 7.1), (22.2, 30.9), (6.4, 26.3)])
    edges = labelme_polygon_to_edges(drawn)
    mask = labelme_raster(drawn)
    assert edges.area == mask.sum()
    xy = shapely.get_coordinates(edges)
    assert (xy == np.round(xy)).all()
    # a box with vertices 2 and 9 fills pixels 2..9 (labelme counts the outline): squares span 2..10
    assert labelme_polygon_to_edges(box(2, 3, 9, 7)).equals(box(2, 3, 10, 8))
    # pixels beyond the image are left out when its size is given
    assert labelme_to_edges(box(30, 30, 45, 45), width=40, height=40).equals(box(30, 30, 40, 40))


def test_pixel_sets_go_round_exactly():
    """Any set of pixels (no part one pixel wide) -> pixel squares -> labelme vertices -> the same pixels, by
    labelme's own converter and by the project's rasteriser."""
    from labelme.utils import shape_to_mask

    rng = np.random.default_rng(3)
    blob = np.zeros((40, 40), np.uint8)
    for _ in range(6):  # unions of 2x2-or-larger rectangles: nothing one pixel wide
        r, c = rng.integers(2, 30, 2)
        h, w = rng.integers(2, 9, 2)
        blob[r:r + h, c:c + w] = 1
    polys = [shapely.geometry.shape(g) for g, v in features.shapes(blob, mask=blob == 1) if v]
    got = np.zeros((40, 40), bool)
    theirs = np.zeros((40, 40), bool)
    for p in polys:
        lm = edge_polygon_to_labelme(Polygon(p.exterior))
        for part in shapely.get_parts(lm):
            got |= labelme_raster(part)
            theirs |= shape_to_mask((40, 40), np.asarray(part.exterior.coords)[:-1].tolist(), "polygon")
        for ring in p.interiors:  # holes: later _background_ shapes
            hole = edge_polygon_to_labelme(Polygon(ring))
            got &= ~labelme_raster(hole)
            theirs &= ~shape_to_mask((40, 40), np.asarray(hole.exterior.coords)[:-1].tolist(), "polygon")
    assert (theirs == (blob == 1)).all() and (got == (blob == 1)).all()


def test_holes_shrink_as_regions():
    """A hole is painted by a later _background_ shape, so it shrinks like any region: edges 4..8 -> 4.35..7.65."""
    donut = Polygon([(2, 2), (12, 2), (12, 12), (2, 12)], [[(4, 4), (8, 4), (8, 8), (4, 8)]])
    lm = edge_polygon_to_labelme(donut)
    assert lm.exterior.bounds == pytest.approx((2.35, 2.35, 11.65, 11.65))
    assert [r.bounds for r in lm.interiors] == [pytest.approx((4.35, 4.35, 7.65, 7.65))]
    # as a MultiPolygon part too
    multi = edges_to_labelme(shapely.MultiPolygon([donut]))
    assert [r.bounds for p in shapely.get_parts(multi) for r in p.interiors] == [pytest.approx((4.35, 4.35, 7.65, 7.65))]
