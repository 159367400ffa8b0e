"""The pure geometry core: affine mapping, polygons <-> shapes with labelme's painting order, measures."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from farmannot.io.labelme_json import Shape
from farmannot.labels.convention import pixel_to_world, world_to_pixel
from farmannot.vectors.geometry import (
    area_perimeter_m,
    parse_description,
    polygon_to_shapes,
    shapes_to_parcels,
)

TRANSFORM = (30.0, 0.0, 717_345.0, 0.0, -30.0, -2_776_995.0)  # the Itaipu Landsat scene


def test_affine_both_ways_by_hand():
    # pixel (2, 3) of a 30 m grid: x = 717345 + 2 * 30, y = -2776995 - 3 * 30
    p = pixel_to_world(shapely.Point(2, 3), TRANSFORM)
    assert (p.x, p.y) == (717_405.0, -2_777_085.0)
    back = world_to_pixel(p, TRANSFORM)
    assert (back.x, back.y) == pytest.approx((2.0, 3.0))
    rotated = (10.0, 2.0, 100.0, 2.0, -10.0, 50.0)
    q = world_to_pixel(pixel_to_world(shapely.Point(7.5, 1.25), rotated), rotated)
    assert (q.x, q.y) == pytest.approx((7.5, 1.25))


def test_polygon_to_shapes_order_and_groups():
    geom = MultiPolygon([Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(2, 2), (4, 2), (4, 4), (2, 4)]]),
                         box(20, 0, 30, 10)])
    shapes = polygon_to_shapes(geom, "farmland", group_id=5, source_id="f.gpkg:l:1", attributes={"a": 1})
    assert [s.label for s in shapes] == ["farmland", "farmland", "_background_"]
    assert [s.group_id for s in shapes] == [5, 5, None]
    assert len(shapes[0].points) == 4  # the closing vertex is not repeated
    assert parse_description(shapes[0].description) == {"source_id": "f.gpkg:l:1", "part": 1, "attributes": {"a": 1}}
    assert parse_description(shapes[2].description) == {"source_id": "f.gpkg:l:1", "hole_of": 1, "hole": 1}
    single = polygon_to_shapes(box(0, 0, 1, 1), "farmland", group_id=9)
    assert single[0].group_id is None  # a single part needs no group
    assert polygon_to_shapes(box(0, 0, 0.5, 0.5), "farmland", min_area_px=0.5) == []


def test_background_carves_only_earlier_shapes():
    sq = lambda x0, y0, x1, y1: [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]  # noqa: E731
    shapes = [
        Shape("farmland", sq(0, 0, 10, 10)),
        Shape("_background_", sq(2, 2, 4, 4)),      # carves the first
        Shape("farmland", sq(1, 1, 5, 5)),          # drawn after: keeps its full area
        Shape("__ignore__", sq(0, 0, 3, 3)),        # never a parcel
        Shape("farmland", [[50, 50]], shape_type="point"),
    ]
    parcels, skipped = shapes_to_parcels(shapes)
    assert [p.geometry.area for p in parcels] == [96.0, 16.0]
    assert skipped == {"point": 1}
    assert [p.shape_indices for p in parcels] == [[0], [2]]


def test_self_intersecting_shape_is_repaired():
    bow = Shape("farmland", [[0, 0], [10, 10], [10, 0], [0, 10]])
    parcels, _ = shapes_to_parcels([bow])
    assert parcels[0].geometry.is_valid and parcels[0].geometry.area == pytest.approx(50.0)


def test_measures_projected_and_geographic():
    area, perim = area_perimeter_m([box(0, 0, 100, 50)], "EPSG:32633")
    assert area.tolist() == [5000.0] and perim.tolist() == [300.0]
    # a CRS in US survey feet (1 ft = 1200/3937 m): 100 ft x 100 ft
    ft = 1200 / 3937
    area, perim = area_perimeter_m([box(0, 0, 100, 100)], "EPSG:2263")
    assert area[0] == pytest.approx((100 * ft) ** 2, rel=1e-9) and perim[0] == pytest.approx(400 * ft, rel=1e-9)
    # 0.01 deg x 0.01 deg at the equator: 1113.19 m (WGS84 equatorial arc) x 1105.74 m (meridian arc)
    area, perim = area_perimeter_m([box(0, 0, 0.01, 0.01)], "EPSG:4326")
    assert area[0] == pytest.approx(1113.19 * 1105.74, rel=2e-3)
    assert perim[0] == pytest.approx(2 * (1113.19 + 1105.74), rel=2e-3)
    assert np.all(area > 0)


def test_geodesic_measures_subtract_holes_whatever_their_orientation():
    from pyproj import Transformer

    ring = [(-105.80, 40.30), (-105.78, 40.30), (-105.78, 40.32), (-105.80, 40.31)]
    hole = [(-105.795, 40.305), (-105.790, 40.305), (-105.790, 40.310)]  # counter-clockwise, like the exterior
    field = Polygon(ring, [hole])
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32613", always_xy=True)
    utm = shapely.transform(field, lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
    area, perim = area_perimeter_m([field, shapely.orient_polygons(field, exterior_cw=True)], "EPSG:4326")
    # UTM 13N scale error at 105.8 W is about -0.03 %, so shapely in UTM is a good reference here
    np.testing.assert_allclose(area, utm.area, rtol=2e-3)
    np.testing.assert_allclose(perim, utm.length, rtol=2e-3)  # holes included in the perimeter
