"""mask -> polygons: exact tracing, holes, parts, simplification, touching fields kept apart."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from farmannot.labels.polygonize import Rings, labels_to_polygons, mask_to_polygons, rings_to_mask


def test_square_exact_pixel_edges():
    mask = np.zeros((20, 20), bool)
    mask[2:12, 3:13] = True  # rows 2..11, cols 3..12 -> x in [3, 13], y in [2, 12]
    (rings,) = mask_to_polygons(mask, simplify_px=0)
    assert isinstance(rings, Rings)
    assert rings.holes == []
    xs, ys = rings.exterior[:, 0], rings.exterior[:, 1]
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (3, 13, 2, 12)
    assert rings.area == 100
    assert not np.array_equal(rings.exterior[0], rings.exterior[-1])  # ring not closed
    np.testing.assert_array_equal(rings_to_mask([rings], mask.shape), mask)


def test_hole_and_parts():
    mask = np.zeros((40, 60), bool)
    mask[5:25, 5:25] = True
    mask[12:18, 10:16] = False  # 6 x 6 hole
    mask[30:33, 40:44] = True  # second, smaller part
    parts = mask_to_polygons(mask, simplify_px=0)
    assert [p.area for p in parts] == [400 - 36, 12]
    assert len(parts[0].holes) == 1
    assert shapely.Polygon(parts[0].holes[0]).area == 36
    np.testing.assert_array_equal(rings_to_mask(parts, mask.shape), mask)


def test_corner_touching_pixels_are_separate_parts():
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = mask[1, 1] = True
    parts = mask_to_polygons(mask, simplify_px=0)
    assert len(parts) == 2
    assert all(p.to_shapely().is_valid for p in parts)


def test_min_area_drops_specks_and_small_holes():
    mask = np.zeros((30, 30), bool)
    mask[2:22, 2:22] = True
    mask[10, 10] = False  # 1-px hole
    mask[26, 26] = True  # 1-px speck
    parts = mask_to_polygons(mask, simplify_px=0, min_area_px=2)
    assert len(parts) == 1 and parts[0].holes == []


def test_simplify_removes_staircase_and_keeps_shape():
    yy, xx = np.mgrid[:100, :100]
    mask = xx > yy  # triangle with a 1-px staircase hypotenuse
    exact = mask_to_polygons(mask, simplify_px=0)[0]
    simple = mask_to_polygons(mask, simplify_px=1.5)[0]
    assert len(exact.exterior) > 150  # two vertices per stair step
    assert len(simple.exterior) <= 4  # a triangle again
    inter = exact.to_shapely().intersection(simple.to_shapely()).area
    union = exact.to_shapely().union(simple.to_shapely()).area
    assert inter / union > 0.98
    # every simplified vertex lies within the tolerance of the exact outline
    ext = exact.to_shapely().exterior
    assert max(ext.distance(shapely.Point(p)) for p in simple.exterior) <= 1.5 + 1e-9


def test_empty_and_bad_input():
    assert mask_to_polygons(np.zeros((5, 5), bool)) == []
    with pytest.raises(ValueError):
        mask_to_polygons(np.zeros((2, 2, 2), bool))
    with pytest.raises(ValueError):
        labels_to_polygons(np.zeros((3, 3), float))


def test_touching_fields_stay_apart_with_one_shared_edge():
    rng = np.random.default_rng(0)
    labels = np.zeros((60, 80), np.int32)
    # two fields sharing a ragged vertical border
    border = 40 + rng.integers(-2, 3, size=60)
    for r in range(60):
        labels[r, 5:border[r]] = 1
        labels[r, border[r]:75] = 2
    polys = labels_to_polygons(labels, simplify_px=1.5)
    assert sorted(polys) == [1, 2]
    a = polys[1][0].to_shapely()
    b = polys[2][0].to_shapely()
    assert a.intersection(b).area < 1e-6  # no overlap
    assert a.touches(b) or a.intersection(b).length > 50  # they share the border
    total = a.union(b).area
    assert abs(total - (labels > 0).sum()) < 0.02 * (labels > 0).sum()  # no gap opened
    # the plain mask variant would merge them into one part
    assert len(mask_to_polygons(labels > 0, simplify_px=1.5)) == 1


def test_labels_exact_roundtrip_per_instance():
    labels = np.zeros((10, 10), np.uint16)
    labels[1:5, 1:5] = 3
    labels[5:9, 1:9] = 7
    polys = labels_to_polygons(labels, simplify_px=0)
    for k in (3, 7):
        np.testing.assert_array_equal(rings_to_mask(polys[k], labels.shape), labels == k)


def test_small_region_removal_keeps_border_bays():
    from farmannot.labels.polygonize import drop_small_regions

    mask = np.zeros((20, 20), np.uint8)
    mask[:, :15] = 1
    mask[0:2, 5:7] = 0  # a small bay open to the image border: not a hole
    mask[8:10, 8:10] = 0  # a 4-px hole
    mask[18, 18] = 1  # a speck
    out = drop_small_regions(mask, 4)
    assert out[8:10, 8:10].all() and out[18, 18] == 0
    assert not out[0:2, 5:7].any()


def test_rings_to_mask_paints_in_order_in_a_window():
    """Fields fill, a ``_background_`` ring frees what the rings before it filled, later over earlier:
    hand-computed pixel-centre squares, and the same in a window of the picture."""
    def square(x0, y0, x1, y1):
        return Rings(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float), [])

    rings = [square(2, 2, 12, 10), square(4, 4, 8, 8), square(5, 5, 7, 7)]
    want = np.zeros((12, 14), bool)
    want[2:10, 2:12] = True
    want[4:8, 4:8] = False
    want[5:7, 5:7] = True
    np.testing.assert_array_equal(rings_to_mask(rings, (12, 14), fills=[True, False, True]), want)
    np.testing.assert_array_equal(rings_to_mask(rings, (6, 9), fills=[True, False, True], origin=(3, 4)),
                                  want[3:9, 4:13])
    everything = np.zeros((12, 14), bool)  # all fill by default: the outer square
    everything[2:10, 2:12] = True
    np.testing.assert_array_equal(rings_to_mask(rings, (12, 14)), everything)
