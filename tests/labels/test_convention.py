"""Pixel-edge polygons converted to labelme vertices rasterise (labelme's rules) to the same pixels."""

import numpy as np
import pytest
import shapely
import shapely.affinity
from rasterio import features
from rasterio.transform import Affine
from shapely.geometry import Polygon, box

from farmannot.io.labelme_json import Shape
from farmannot.labels.convention import edges_to_labelme, labelme_to_edges
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
    assert (labelme_raster(edges_to_labelme(edges)) == want).all()


def test_rotated_fields_agree_better_with_the_pixel_centre_rule():
    err_raw = err_conv = bias_raw = bias_conv = 0
    for angle in (10, 33, 60, 80):
        field = shapely.affinity.rotate(box(8.3, 12.1, 30.6, 24.2), angle, origin="center")
        ref = edge_raster(field)
        raw = labelme_raster(field)
        conv = labelme_raster(edges_to_labelme(field))
        err_raw += (raw != ref).sum()
        err_conv += (conv != ref).sum()
        bias_raw += raw.sum() - ref.sum()
        bias_conv += conv.sum() - ref.sum()
    assert err_conv < 0.7 * err_raw
    assert bias_raw > 80 and abs(bias_conv) < bias_raw / 3  # unconverted fields grow systematically


def test_export_gives_exactly_the_pixels_labelme_fills():
    drawn = Polygon([(5.3, 5.2), (25.7, 7.1), (22.2, 30.9), (6.4, 26.3)])  # fractional, as a person draws
    assert (edge_raster(labelme_to_edges(drawn)) == labelme_raster(drawn)).all()


def test_export_outline_is_the_pixel_squares():
    """The exported outline is made of whole pixels: its area is the pixel count, its vertices pixel corners."""
    drawn = Polygon([(5.3, 5.2), (25.7, 7.1), (22.2, 30.9), (6.4, 26.3)])
    edges = labelme_to_edges(drawn)
    mask = labelme_raster(drawn)
    assert edges.area == mask.sum()
    xy = shapely.get_coordinates(edges)
    assert (xy == np.round(xy)).all()
    # a box with vertices 2 and 9 fills pixels 2..9 (labelme counts the outline): squares span 2..10
    assert labelme_to_edges(box(2, 3, 9, 7)).equals(box(2, 3, 10, 8))
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
        lm = edges_to_labelme(Polygon(p.exterior))
        for part in shapely.get_parts(lm):
            got |= labelme_raster(part)
            theirs |= shape_to_mask((40, 40), np.asarray(part.exterior.coords)[:-1].tolist(), "polygon")
        for ring in p.interiors:  # holes: later _background_ shapes
            hole = edges_to_labelme(Polygon(ring))
            got &= ~labelme_raster(hole)
            theirs &= ~shape_to_mask((40, 40), np.asarray(hole.exterior.coords)[:-1].tolist(), "polygon")
    assert (theirs == (blob == 1)).all() and (got == (blob == 1)).all()


def test_holes_shrink_as_regions():
    """A hole is painted by a later _background_ shape, so it shrinks like any region: edges 4..8 -> 4.35..7.65."""
    donut = Polygon([(2, 2), (12, 2), (12, 12), (2, 12)], [[(4, 4), (8, 4), (8, 8), (4, 8)]])
    lm = edges_to_labelme(donut)
    assert lm.exterior.bounds == pytest.approx((2.35, 2.35, 11.65, 11.65))
    assert [r.bounds for r in lm.interiors] == [pytest.approx((4.35, 4.35, 7.65, 7.65))]
    # as a MultiPolygon part too
    multi = edges_to_labelme(shapely.MultiPolygon([donut]))
    assert [r.bounds for p in shapely.get_parts(multi) for r in p.interiors] == [pytest.approx((4.35, 4.35, 7.65, 7.65))]



def test_hole_meeting_the_rim_leaves_no_line():
    """A SAM parcel (propose --points on the Landsat sample) whose holes meet the rim at a vertex: the cut left a
    zero-width line beside the polygons and the draft crashed. The answer is shapely's own shrink of each region."""
    parcel = Polygon([(445, 282), (357, 436), (364, 435), (364, 448), (237, 448), (292, 406), (296, 400), (291, 400),
                      (281, 412), (257, 301)],
                     [[(296, 397), (296, 400), (299, 400)], [(360, 443), (357, 436), (307, 363)]])
    lm = edges_to_labelme(parcel)
    assert lm.geom_type in ("Polygon", "MultiPolygon") and lm.is_valid
    mitre = {"join_style": "mitre", "mitre_limit": 2.0}
    want = Polygon(parcel.exterior).buffer(-0.35, **mitre).difference(
        shapely.union_all([Polygon(h).buffer(-0.35, **mitre) for h in parcel.interiors]))
    assert lm.symmetric_difference(want).area < 1e-6 * want.area

# ------------------------------------------------------------------ Rings (the SAM click path) ----------
def _labelme_fill(parts, shape_hw):
    """labelme's own converter: each part's exterior filled, its holes painted over as later shapes."""
    from labelme.utils import shape_to_mask

    out = np.zeros(shape_hw, bool)
    for r in parts:
        out |= shape_to_mask(shape_hw, r.exterior.tolist(), "polygon")
        for h in r.holes:
            out &= ~shape_to_mask(shape_hw, h.tolist(), "polygon")
    return out


def test_click_mask_to_labelme_vertices_gives_the_mask_back():
    """A SAM mask (a rotated field with a hole) traced and written as labelme vertices: labelme's own
    ``shape_to_mask`` fills exactly the mask's pixels."""
    from farmannot.labels.convention import to_labelme_rings
    from farmannot.labels.polygonize import mask_to_polygons

    field = shapely.affinity.rotate(box(20.3, 20.1, 75.2, 52.6), 27, origin="center")
    mask = features.rasterize([(field, 1)], out_shape=(96, 96), transform=Affine.identity()) == 1
    mask[38:44, 40:51] = False  # a hole
    rings = mask_to_polygons(mask, simplify_px=0)
    parts = [p for r in rings for p in to_labelme_rings(r)]
    assert len(parts) == 1 and len(parts[0].holes) == 1
    assert (_labelme_fill(parts, mask.shape) == mask).all()
    # the vertices truncate onto the border pixels: the rectangle hole's corners are its corner pixels
    hole = np.trunc(parts[0].holes[0])
    assert (hole[:, 0].min(), hole[:, 0].max(), hole[:, 1].min(), hole[:, 1].max()) == (40, 50, 38, 43)


def test_click_vertices_are_the_draft_vertices():
    """A clicked field and a proposed draft of the same mask get the same vertices (one convention)."""
    from farmannot.labels.convention import to_labelme_rings
    from farmannot.labels.polygonize import mask_to_polygons

    yy, xx = np.mgrid[:80, :80]
    mask = (yy - 40) ** 2 + (xx - 38) ** 2 < 25 ** 2
    (rings,) = mask_to_polygons(mask, simplify_px=1.5)
    (clicked,) = to_labelme_rings(rings)
    drafted = edges_to_labelme(rings.to_shapely())
    assert Polygon(clicked.exterior).equals(drafted)
    # simplification moves the outline by at most 1.5 px: fewer than half the border pixels change
    assert (_labelme_fill([clicked], mask.shape) != mask).sum() < 0.5 * 2 * np.pi * 25


def test_drawn_shapes_back_to_the_pixels_labelme_fills():
    """labelme vertices (fractional, a self-crossing one, a field with a hole) -> rings whose pixel-centre
    rasterisation is exactly what labelme's ``shape_to_mask`` fills (what a new click is cut back by)."""
    from labelme.utils import shape_to_mask

    from farmannot.labels.convention import from_labelme_rings
    from farmannot.labels.polygonize import rings_to_mask

    hw = (60, 60)
    drawn = [[(5.3, 5.2), (45.7, 9.1), (38.2, 52.9), (8.4, 40.3)],
             [(10.5, 10.2), (40.9, 45.3), (40.2, 10.7), (10.1, 45.6)]]  # a bow tie
    for pts in drawn:
        want = shape_to_mask(hw, pts, "polygon")
        assert (rings_to_mask([from_labelme_rings(pts)], hw) == want).all()
    ext, hole = [(4.6, 4.2), (50.3, 4.9), (50.8, 50.1), (4.1, 50.5)], [(20.7, 20.2), (30.1, 20.9), (25.3, 31.8)]
    want = shape_to_mask(hw, ext, "polygon") & ~shape_to_mask(hw, hole, "polygon")
    assert (rings_to_mask([from_labelme_rings(ext, [hole])], hw) == want).all()


def test_pixels_to_edges_are_pixel_squares():
    from farmannot.labels.convention import pixels_to_edges

    img = np.zeros((10, 12), np.int32)
    img[2:5, 3:7] = 4
    img[6:8, 1:3] = 9
    polys, values = pixels_to_edges(img, origin=(100, 50))
    got = {int(v): p for p, v in zip(polys, values)}
    assert got[4].equals(box(103, 52, 107, 55)) and got[9].equals(box(101, 56, 103, 58))


def test_labelme_to_edges_paints_as_labelme_and_carves_holes():
    """Self-crossing vertices and a hole (a later _background_ shape): rasterio on the returned squares fills
    what labelme's ``shape_to_mask`` fills, field minus hole."""
    from labelme.utils import shape_to_mask

    bowtie = [(5.5, 5.2), (30.9, 34.3), (30.2, 5.7), (5.1, 34.6)]
    got = labelme_to_edges(Polygon(bowtie))
    assert (edge_raster(got) == shape_to_mask((40, 40), bowtie, "polygon")).all()
    ext, hole = [(3.6, 3.2), (36.3, 3.9), (36.8, 36.1), (3.1, 36.5)], [(12.7, 12.2), (24.1, 12.9), (18.3, 25.8)]
    want = shape_to_mask((40, 40), ext, "polygon") & ~shape_to_mask((40, 40), hole, "polygon")
    got = labelme_to_edges(Polygon(ext, [hole]))
    assert (edge_raster(got) == want).all() and got.area == want.sum()
    # and back: edges_to_labelme of those squares gives labelme the same pixels again
    lm = edges_to_labelme(got)
    back = np.zeros((40, 40), bool)
    for p in shapely.get_parts(lm):
        back |= shape_to_mask((40, 40), np.asarray(p.exterior.coords)[:-1].tolist(), "polygon")
        for r in p.interiors:
            back &= ~shape_to_mask((40, 40), np.asarray(r.coords)[:-1].tolist(), "polygon")
    assert (back == want).all()
