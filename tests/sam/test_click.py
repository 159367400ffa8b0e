"""A SAM prompt -> polygons (farmannot.sam.click): the clicked field only, holes as holes, holes free for a new
click, judged by shapely and by labelme's own rasteriser (``labelme.utils.shape_to_mask``)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from labelme.utils import shape_to_mask
from shapely.geometry import box as sbox

from farmannot.labels.polygonize import Rings
from farmannot.sam.click import Drawn, click_polygons, labelme_rings, occupied_mask, prompt_polygons
from farmannot.sam.prompts import prompt_from_labelme

SIDE = 1024
FIELD = (200, 300, 600, 600)  # x0, y0, x1, y1: a 400 x 300 px field
FARMSTEAD = (350, 400, 430, 470)  # an 80 x 70 px hole in it


def _rect(mask, x0, y0, x1, y1, value=True):
    mask[y0:y1, x0:x1] = value


def _ring(x0, y0, x1, y1) -> Rings:
    return Rings(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float), [])


@pytest.fixture()
def speckled_field():
    """SAM's answer as a random-weight model gives it: the field with its farmstead, plus a second blob and
    hundreds of speckles all over the image."""
    rng = np.random.default_rng(0)
    mask = rng.random((SIDE, SIDE)) < 0.02  # speckles: single pixels and tiny clusters
    _rect(mask, *FIELD)
    _rect(mask, *FARMSTEAD, value=False)
    _rect(mask, 700, 100, 900, 250)  # another object SAM lit up
    return mask


def _labelme_paint(rings_list: list[Rings]) -> np.ndarray:
    """What labelme fills from the shapes the plugin writes: each field, then its holes as _background_."""
    out = np.zeros((SIDE, SIDE), bool)
    for lm in labelme_rings(rings_list):
        out |= shape_to_mask(out.shape, [tuple(p) for p in lm.exterior], "polygon")
        for h in lm.holes:
            out &= ~shape_to_mask(out.shape, [tuple(p) for p in h], "polygon")
    return out


def test_click_keeps_the_clicked_field_with_its_hole_and_drops_speckles(speckled_field):
    mask, polys = prompt_polygons(speckled_field, prompt_from_labelme([[300.5, 350.5]], [1]))
    assert len(polys) == 1 and len(polys[0].holes) == 1  # one field, one hole: no speckle, no other blob
    expected = sbox(*FIELD).difference(sbox(*FARMSTEAD))
    got = polys[0].to_shapely()
    # speckles touching the field may add a few pixels to its outline; nothing else
    assert got.symmetric_difference(expected).area < 0.002 * expected.area
    assert shapely.Polygon(polys[0].holes[0]).symmetric_difference(sbox(*FARMSTEAD)).area < 50
    assert not mask[100:250, 700:900].any()  # the other object is not kept
    ref = np.zeros((SIDE, SIDE), bool)
    _rect(ref, *FIELD)
    _rect(ref, *FARMSTEAD, value=False)
    painted = _labelme_paint(polys)  # labelme's own rasteriser on the written vertices
    assert (painted ^ ref).sum() < 0.002 * ref.sum()
    assert not painted[FARMSTEAD[1] + 5:FARMSTEAD[3] - 5, FARMSTEAD[0] + 5:FARMSTEAD[2] - 5].any()  # a hole


def test_two_clicks_keep_both_parts_they_hit_and_no_prompt_keeps_all(speckled_field):
    _, polys = prompt_polygons(speckled_field, prompt_from_labelme([[300.5, 350.5], [800.5, 150.5]], [1, 1]))
    assert len(polys) == 2
    assert polys[1].to_shapely().symmetric_difference(sbox(700, 100, 900, 250)).area < 300
    _, everything = prompt_polygons(speckled_field, None, min_area_px=16)  # propose: automatic masks
    assert len(everything) >= 2 and sum(p.area for p in everything) >= sum(p.area for p in polys)


def test_a_hole_stays_free_for_a_new_click():
    """The field was drawn with its farmstead hole (as the plugin writes it: the field, then a _background_
    shape); SAM's mask for a click on the farmstead spills over into the field: only the farmstead is kept."""
    field, hole = _ring(*FIELD), _ring(*FARMSTEAD)
    sam = np.zeros((SIDE, SIDE), bool)
    _rect(sam, FARMSTEAD[0] - 20, FARMSTEAD[1] - 20, FARMSTEAD[2] + 20, FARMSTEAD[3] + 20)
    click = prompt_from_labelme([[390.5, 430.5]], [1])
    expected = sbox(*FARMSTEAD)
    for existing in ([Drawn(field), Drawn(hole, fills=False)],  # the file's shapes, in order
                     [Rings(field.exterior, [hole.exterior])]):  # a field carrying its own hole
        _, polys = prompt_polygons(sam, click, existing, simplify_px=0)
        assert len(polys) == 1
        assert polys[0].to_shapely().symmetric_difference(expected).area == 0
    # without the hole the farmstead counts as field: nothing left to segment
    _, polys = prompt_polygons(sam, click, [Drawn(field)], simplify_px=0)
    assert polys == []


def test_shapes_are_painted_in_order_an_island_in_a_hole_stays_occupied():
    field, hole, island = _ring(*FIELD), _ring(*FARMSTEAD), _ring(370, 420, 400, 450)
    sam = np.zeros((SIDE, SIDE), bool)
    _rect(sam, *FARMSTEAD)
    _, polys = prompt_polygons(sam, prompt_from_labelme([[355.5, 405.5]], [1]),
                               [Drawn(field), Drawn(hole, fills=False), Drawn(island)], simplify_px=0)
    assert len(polys) == 1
    assert polys[0].to_shapely().symmetric_difference(sbox(*FARMSTEAD).difference(sbox(370, 420, 400, 450))).area == 0


def test_box_keeps_its_largest_part_inside_the_box(speckled_field):
    prompt = prompt_from_labelme([[150, 250], [650, 650]], [2, 3])
    mask, polys = prompt_polygons(speckled_field, prompt)
    assert len(polys) == 1
    assert not mask[:, :150].any() and not mask[:, 651:].any()  # cut at the box (its corner pixels included)
    assert polys[0].to_shapely().symmetric_difference(sbox(*FIELD).difference(sbox(*FARMSTEAD))).area < 800


def test_click_beside_the_mask_snaps_only_when_close():
    sam = np.zeros((200, 200), bool)
    _rect(sam, 50, 50, 100, 100)
    _rect(sam, 150, 150, 160, 160)
    _, near = prompt_polygons(sam, prompt_from_labelme([[101.5, 70.5]], [1]), simplify_px=0)  # 1 px off
    assert len(near) == 1 and near[0].to_shapely().equals(sbox(50, 50, 100, 100))
    _, far = prompt_polygons(sam, prompt_from_labelme([[120.5, 70.5]], [1]), simplify_px=0)
    assert far == []


def test_click_polygons_asks_the_session_once_and_keeps_its_score(speckled_field):
    class Session:
        calls = []

        def predict(self, emb, points, labels):
            self.calls.append((emb, points, labels))
            return speckled_field, 0.87

    s = Session()
    out = click_polygons(s, "emb", [[300.5, 350.5]], [1])
    assert s.calls == [("emb", [[300.5, 350.5]], [1])] and out.score == pytest.approx(0.87)
    assert len(out.polygons) == 1 and len(out.polygons[0].holes) == 1


def test_box_with_a_click_keeps_the_clicked_part_else_its_largest(speckled_field):
    box_and_click = prompt_from_labelme([[150, 50], [950, 650], [800.5, 150.5]], [2, 3, 1])
    _, polys = prompt_polygons(speckled_field, box_and_click)
    assert len(polys) == 1 and polys[0].to_shapely().symmetric_difference(sbox(700, 100, 900, 250)).area < 300
    missed = prompt_from_labelme([[150, 50], [950, 650], [650.5, 80.5]], [2, 3, 1])  # the click hits nothing
    _, polys = prompt_polygons(speckled_field, missed)
    assert len(polys) == 1 and polys[0].to_shapely().area > 100_000  # the field, the box's largest part


def test_a_click_far_from_the_only_part_and_speckles_alone_give_nothing():
    sam = np.zeros((200, 200), bool)
    _rect(sam, 50, 50, 100, 100)
    assert prompt_polygons(sam, prompt_from_labelme([[150.5, 150.5]], [1]))[1] == []
    dots = np.zeros((200, 200), bool)
    dots[::10, ::10] = True  # speckles only (1 px each)
    assert prompt_polygons(dots, prompt_from_labelme([[100.5, 100.5]], [1]))[1] == []
    assert prompt_polygons(dots, prompt_from_labelme([[0, 0], [199, 199]], [2, 3]))[1] == []


def test_occupied_pixels_are_what_labelme_paints_from_the_shapes_drawn():
    """Shapes drawn in labelme (fields, a ``_background_`` shape after them, overlapping) -> the pixels a new
    click is cut back by: labelme's ``shape_to_mask`` painted in the shapes' order, whole and in a window."""
    from farmannot.labels.convention import from_labelme_rings

    hw = (70, 90)
    shapes = [([(5.3, 5.2), (45.7, 9.1), (38.2, 52.9), (8.4, 40.3)], True),
              ([(30.6, 20.1), (80.2, 25.7), (70.9, 60.3), (33.1, 55.8)], True),  # overlaps the first
              ([(25.2, 22.8), (50.7, 24.1), (47.3, 45.9)], False),  # a _background_ shape over both
              ([(40.1, 35.2), (44.9, 35.3), (44.6, 39.8)], True)]  # a field drawn inside the freed part
    want = np.zeros(hw, bool)
    for pts, fills in shapes:
        m = shape_to_mask(hw, pts, "polygon")
        want = want | m if fills else want & ~m
    assert want.sum() > 2000 and (~want[30:40, 35:45]).sum() > 20  # the freed part, a field inside it
    drawn = [Drawn(from_labelme_rings(pts), fills) for pts, fills in shapes]
    np.testing.assert_array_equal(occupied_mask(drawn, hw), want)
    window = (slice(15, 50), slice(28, 66))
    np.testing.assert_array_equal(occupied_mask(drawn, hw, window), want[window])
    assert occupied_mask(drawn, hw, (slice(5, 5), slice(0, 9))).shape == (0, 9)
