import ast

import numpy as np
import pytest

from farmannot.spectral.prompt import category_prompt, instruction_text, spectral_prompt_text
from farmannot.spectral.regions import SIZE_EDGES, SIZE_NAMES, location, order_corners, region_attributes, size_bin

# SPEX eq. 3: (0, .0305] very tiny, ..., > .6104 huge; upper edges inclusive.
PAPER_BINS = [(0.0305, "very tiny"), (0.0610, "small"), (0.1221, "somewhat large"), (0.2441, "medium"),
              (0.3662, "large"), (0.6104, "very large")]


@pytest.mark.parametrize("edge,name", PAPER_BINS)
def test_region_area_on_both_sides_of_each_bin_edge(edge, name):
    # 100 x 100 image: an area of round(edge * 10000) px sits exactly on the edge.
    h = w = 100
    n_edge = round(edge * h * w)
    assert n_edge / (h * w) == pytest.approx(edge)
    nxt = SIZE_NAMES[SIZE_NAMES.index(name) + 1]
    for n, expected in ((n_edge, name), (n_edge + 1, nxt), (n_edge - 1, name)):
        mask = np.zeros(h * w, bool)
        mask[:n] = True  # one contiguous run of rows -> one 8-connected region
        regs = region_attributes(mask.reshape(h, w))
        assert len(regs) == 1 and regs[0].area == n
        assert regs[0].size == expected, (n, regs[0].share)


def test_size_bin_extremes():
    assert size_bin(1e-9) == "very tiny"
    assert size_bin(0.6104) == "very large"
    assert size_bin(0.61041) == "huge"
    assert size_bin(1.0) == "huge"
    assert len(SIZE_EDGES) == 6


NINE = [("top-left", 0, 0), ("top-center", 1, 0), ("top-right", 2, 0),
        ("middle-left", 0, 1), ("center", 1, 1), ("middle-right", 2, 1),
        ("bottom-left", 0, 2), ("bottom-center", 1, 2), ("bottom-right", 2, 2)]


@pytest.mark.parametrize("name,gx,gy", NINE)
def test_centroid_in_each_grid_cell(name, gx, gy):
    h, w = 90, 120
    mask = np.zeros((h, w), bool)
    # a 3x3 block centred in the grid cell
    cx, cy = int((gx + 0.5) * w / 3), int((gy + 0.5) * h / 3)
    mask[cy - 1:cy + 2, cx - 1:cx + 2] = True
    (r,) = region_attributes(mask)
    assert r.centroid_px == (pytest.approx(cx), pytest.approx(cy))
    assert r.location == name
    assert r.centroid == (pytest.approx(cx / w), pytest.approx(cy / h))


def test_location_on_third_lines_goes_to_the_next_cell():
    assert location(10.0, 10.0, 30, 30) == "center"          # exactly W/3, H/3
    assert location(9.999, 9.999, 30, 30) == "top-left"
    assert location(20.0, 0.0, 30, 30) == "top-right"         # exactly 2W/3


def test_axis_box_corners_and_normalisation():
    mask = np.zeros((50, 100), bool)
    mask[10:20, 30:60] = True  # rows 10..19, cols 30..59
    (r,) = region_attributes(mask, bbox="axis")
    assert r.bbox_px == [(30, 10), (59, 10), (59, 19), (30, 19)]
    assert r.bbox == [(0.3, 0.2), (0.59, 0.2), (0.59, 0.38), (0.3, 0.38)]


def test_rotated_box_of_a_diagonal_bar_is_tighter_than_axis_box():
    h = w = 64
    mask = np.zeros((h, w), bool)
    for i in range(10, 54):
        mask[i, i - 2:i + 3] = True  # a 45-degree bar
    (axis,) = region_attributes(mask, bbox="axis")
    (rot,) = region_attributes(mask, bbox="rotated")

    def area(c):
        c = np.asarray(c)
        x, y = c[:, 0], c[:, 1]
        return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))

    assert area(rot.bbox_px) < 0.4 * area(axis.bbox_px)
    # every pixel centre of the region lies inside (or on) the rotated rectangle
    import cv2
    poly = np.asarray(rot.bbox_px, np.float32)
    rows, cols = np.nonzero(mask)
    inside = [cv2.pointPolygonTest(poly, (float(x), float(y)), True) >= -1e-3 for x, y in zip(cols, rows)]
    assert all(inside)


def test_order_corners_tl_tr_br_bl():
    pts = np.array([[10, 10], [0, 10], [10, 0], [0, 0]], float)
    assert order_corners(pts).tolist() == [[0, 0], [10, 0], [10, 10], [0, 10]]
    # slightly rotated: first corner is the upper-left one, then clockwise on screen
    pts = np.array([[0.611, 0.723], [0.689, 0.818], [0.602, 0.809], [0.699, 0.732]])
    assert order_corners(pts).tolist() == [[0.611, 0.723], [0.699, 0.732], [0.689, 0.818], [0.602, 0.809]]


def test_more_than_ten_regions_keeps_ten_largest_largest_first():
    mask = np.zeros((40, 200), bool)
    sizes = list(range(1, 14))  # 13 regions, widths 1..13, separated by gaps
    x = 0
    for s in sizes:
        mask[5:10, x:x + s] = True
        x += s + 2
    regs = region_attributes(mask)
    assert len(regs) == 10
    assert [r.area for r in regs] == [5 * s for s in sorted(sizes, reverse=True)[:10]]
    assert len(region_attributes(mask, max_regions=None)) == 13


def test_eight_connectivity_joins_diagonals():
    mask = np.eye(6, dtype=bool)
    assert len(region_attributes(mask)) == 1


def test_spex_format_parses_and_has_demo_key_order(shared_data):
    mask = np.zeros((64, 64), bool)
    mask[0:40, 0:40] = True
    mask[50:60, 50:60] = True
    text = spectral_prompt_text(region_attributes(mask), "spex")
    parsed = ast.literal_eval(text)
    demo = (shared_data / "spex-demo" / "m_3807504_ne_18_1_naip-new__512__0___2304.txt").read_text()
    demo_list = ast.literal_eval(demo[demo.index("them:") + len("them:"):].rstrip('"'))
    assert [list(d) for d in parsed] == [list(demo_list[0])] * len(parsed)
    assert list(parsed[0]) == ["Size of area", "Centroid", "Location", "Bounding box"]
    for d in parsed:
        for v in d["Centroid"] + [c for xy in d["Bounding box"] for c in xy]:
            assert round(v, 3) == v
    # the whole instruction has the demo's shape: colon then the list, no space
    inst = instruction_text("vegetation", region_attributes(mask), "spex")
    demo_inst = demo.split("\\n", 1)[1]
    assert inst.split("them:")[0] == demo_inst.split("them:")[0]
    assert inst.split("them:")[1].startswith("[{'Size of area'")


def test_paper_instruction_template_exact():
    text = instruction_text("water", [], "json")
    assert text == ("Based on the provided image and the attributes of the water regions, "
                    "please provide a detailed description of them: []")


def test_category_prompt_empty_cases_say_so():
    p = category_prompt("vegetation", np.full((8, 8), np.nan, np.float32))
    assert p.regions == [] and "no valid pixels" in p.note
    p = category_prompt("vegetation", np.full((8, 8), 0.2, np.float32))
    assert p.regions == [] and "constant" in p.note
    p = category_prompt("vegetation", np.full((1, 1), 0.2, np.float32))
    assert p.regions == []
