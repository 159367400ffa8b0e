"""Shapes -> label rasters: labelme's own VOC arrays as the oracle, plus hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from farmannot.errors import InputError
from farmannot.io.labelme_json import Shape, load_annotation
from farmannot.labels.rasterize import (
    class_raster,
    parcel_boundaries,
    plan_labels,
    rasterize_mask,
    rasterize_parcels,
    tile_labels,
)

STEMS = ("2011_000003", "2011_000006", "2011_000025")


def _voc_values(base) -> dict[str, int]:
    names = [ln.strip() for ln in (base / "labels.txt").read_text().splitlines() if ln.strip()]
    return {n: i - 1 for i, n in enumerate(names)}  # labelme2voc: __ignore__ -1, _background_ 0


@pytest.mark.parametrize("stem", STEMS)
def test_matches_labelme_voc_class_arrays(shared_data, stem):
    base = shared_data / "labelme-examples" / "semantic_segmentation"
    ann = load_annotation(base / "data_annotated" / f"{stem}.json")
    ref = np.load(base / "data_dataset_voc" / "SegmentationClassNpy" / f"{stem}.npy")
    out = class_raster(ann.shapes, ann.image_height, ann.image_width, _voc_values(base))
    assert out.shape == ref.shape and out.dtype == ref.dtype
    diff = np.argwhere(out != ref).tolist()
    if stem == "2011_000006":
        # the stored array disagrees with labelme 6.3.1 itself at one pixel where a sofa meets a person
        # (checked with labelme.utils.shapes_to_label below); everything else is equal
        assert diff == [[290, 104]]
    else:
        assert diff == []


@pytest.mark.parametrize("stem", STEMS)
def test_matches_labelme_shapes_to_label_exactly(shared_data, stem):
    import json

    from labelme.utils.shape import shapes_to_label

    base = shared_data / "labelme-examples" / "semantic_segmentation"
    raw = json.loads((base / "data_annotated" / f"{stem}.json").read_text())
    vals = _voc_values(base)
    cls, _ = shapes_to_label((raw["imageHeight"], raw["imageWidth"]), raw["shapes"], vals)
    ann = load_annotation(base / "data_annotated" / f"{stem}.json")
    np.testing.assert_array_equal(class_raster(ann.shapes, ann.image_height, ann.image_width, vals), cls)


@pytest.mark.parametrize("stem", STEMS)
def test_parcel_ids_match_labelme_instance_arrays(shared_data, stem):
    """Same instances as labelme's SegmentationObjectNpy (ids may differ: labelme numbers __ignore__ too)."""
    base = shared_data / "labelme-examples" / "instance_segmentation"
    names = [ln.strip() for ln in (base / "labels.txt").read_text().splitlines() if ln.strip()]
    ann = load_annotation(base / "data_annotated" / f"{stem}.json")
    ref = np.load(base / "data_dataset_voc" / "SegmentationObjectNpy" / f"{stem}.npy")
    lmap = {n: 1 for n in names if n not in ("__ignore__", "_background_")}
    plan = plan_labels(ann.shapes, ann.image_width, ann.image_height, lmap)
    ours = rasterize_parcels(plan, Window(0, 0, ann.image_width, ann.image_height)).astype(np.int64)
    ignore = rasterize_mask(plan, Window(0, 0, ann.image_width, ann.image_height)) == 255
    keep = ~ignore
    if stem == "2011_000006":
        keep[290, 104] = False  # the stored arrays' one pixel that labelme 6.3.1 itself paints differently
    assert ((ours == 0) == (ref <= 0))[keep].all()
    pairs = {(int(a), int(b)) for a, b in zip(ours[keep & (ours > 0)], ref[keep & (ours > 0)])}
    assert len({a for a, _ in pairs}) == len({b for _, b in pairs}) == len(pairs)  # one-to-one
    assert len(pairs) == plan.n_parcels


def test_primitives_every_area_shape_type(shared_data):
    import json

    from labelme.utils.shape import shape_to_mask

    path = shared_data / "labelme-examples" / "primitives" / "primitives.json"
    raw = json.loads(path.read_text())
    ann = load_annotation(path)
    h, w = raw["imageHeight"], raw["imageWidth"]
    seen = set()
    for s, shape in zip(raw["shapes"], ann.shapes):
        kind = s["shape_type"]
        if kind == "mask":
            ref = np.zeros((h, w), bool)
            (x1, y1), (x2, y2) = np.asarray(s["points"]).astype(int)
            ref[y1:y2 + 1, x1:x2 + 1] = shape.mask      # labelme's own placement of a mask shape
        elif kind in ("polygon", "rectangle", "circle"):
            ref = shape_to_mask((h, w), s["points"], kind)
        else:
            continue                                    # lines and points are not areas
        out = class_raster([shape], h, w, {shape.label: 1}) > 0
        seen.add(kind)
        np.testing.assert_array_equal(out, ref)         # circles too: drawn with PIL's ellipse as labelme does
    assert seen == {"polygon", "rectangle", "circle", "mask"}


def test_far_from_labelme_without_its_pixel_rule(shared_data):
    """The footprint rule matters: plain centre sampling of the raw polygons misses thousands of pixels."""
    from rasterio import features
    from shapely.geometry import Polygon

    base = shared_data / "labelme-examples" / "semantic_segmentation"
    ann = load_annotation(base / "data_annotated" / "2011_000025.json")
    ref = np.load(base / "data_dataset_voc" / "SegmentationClassNpy" / "2011_000025.npy")
    vals = _voc_values(base)
    naive = features.rasterize([(Polygon(s.points), vals[s.label]) for s in ann.shapes],
                               out_shape=ref.shape, dtype="int32")
    ours = class_raster(ann.shapes, ann.image_height, ann.image_width, vals)
    assert (naive != ref).sum() > 20 * (ours != ref).sum()


def _sq(label, x0, y0, x1, y1, **kw):
    return Shape(label=label, points=[[x0, y0], [x1, y0], [x1, y1], [x0, y1]], **kw)


def test_square_covers_its_vertex_pixels_inclusive():
    # labelme: a polygon through pixel centres 2..5 fills pixels 2..5 inclusive (4 x 4).
    plan = plan_labels([_sq("farmland", 2, 2, 5, 5)], 8, 8)
    m = rasterize_mask(plan, Window(0, 0, 8, 8))
    expect = np.zeros((8, 8), np.uint8)
    expect[2:6, 2:6] = 1
    np.testing.assert_array_equal(m, expect)


def test_later_shapes_win_ignore_and_background_carve():
    shapes = [_sq("farmland", 1, 1, 8, 8), _sq("_background_", 3, 3, 5, 5), _sq("__ignore__", 7, 7, 9, 9)]
    lab = tile_labels(plan_labels(shapes, 10, 10), Window(0, 0, 10, 10))
    assert lab.mask[4, 4] == 0 and lab.parcel[4, 4] == 0          # hole carved
    assert lab.mask[8, 8] == 255 and lab.parcel[8, 8] == 0        # ignore painted over farmland
    assert lab.mask[2, 2] == 1 and lab.parcel[2, 2] == 1
    assert lab.boundary[4, 4] == 0 and lab.boundary[2, 4] == 1    # hole edge is a boundary inside the parcel


def test_touching_parcels_keep_their_ids_and_both_edges():
    shapes = [_sq("farmland", 0, 0, 4, 7), _sq("farmland", 5, 0, 9, 7)]
    lab = tile_labels(plan_labels(shapes, 10, 8), Window(0, 0, 10, 8))
    assert set(np.unique(lab.parcel)) == {1, 2}
    assert (lab.parcel[:, :5] == 1).all() and (lab.parcel[:, 5:] == 2).all()
    assert (lab.mask == 1).all()                                  # the mask alone would merge them
    assert lab.boundary[3, 4] == 1 and lab.boundary[3, 5] == 1    # each parcel has its own edge pixel


def test_group_id_joins_shapes_into_one_parcel():
    shapes = [_sq("farmland", 0, 0, 2, 2, group_id=7), _sq("farmland", 5, 5, 7, 7, group_id=7),
              _sq("farmland", 0, 5, 2, 7)]
    plan = plan_labels(shapes, 8, 8)
    assert plan.n_parcels == 2


def test_invalid_polygon_repaired_and_reported():
    bowtie = Shape(label="farmland", points=[[0, 0], [10, 10], [10, 0], [0, 10]])
    plan = plan_labels([bowtie], 12, 12)
    assert len(plan.report.repaired) == 1 and "Self-intersection" in plan.report.repaired[0]["reason"]
    m = rasterize_mask(plan, Window(0, 0, 12, 12))
    assert m[5, 1] == 1 and m[5, 9] == 1 and m[1, 5] == 0 and m[9, 5] == 0  # both triangles kept (as PIL fills)


INVALID = {
    "spike": [[2, 2], [10, 2], [10, 10], [6, 10], [6, 15], [6, 10], [2, 10]],
    "diagonal_spike": [[3, 3], [12, 3], [12, 12], [8, 12], [16, 17], [8, 12], [3, 12]],
    "zero_area": [[2, 2], [10, 2], [2, 2]],
    "bowtie": [[2, 2], [12, 12], [12, 2], [2, 12]],
    "overlapping_loops": [[2, 2], [14, 2], [14, 14], [6, 14], [6, 6], [18, 6], [18, 18], [2, 18]],
    "spike_out_of_image": [[2, 2], [10, 2], [10, 10], [6, 10], [6, 30], [6, 10], [-3.7, 10]],
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_polygons_fill_what_labelme_fills(name):
    """labelme draws fill and outline with PIL: spikes and zero-area polygons keep their outline pixels,
    which shapely's make_valid alone would drop."""
    from labelme.utils import shape_to_mask

    pts = INVALID[name]
    theirs = shape_to_mask((20, 20), [tuple(p) for p in pts], "polygon")
    shape = Shape(label="farmland", points=pts)
    assert ((class_raster([shape], 20, 20, {"farmland": 1}) == 1) == theirs).all()
    plan = plan_labels([shape], 20, 20)
    assert plan.report.repaired  # still reported as repaired
    tiled = np.zeros((20, 20), np.uint8)
    for r0, c0 in ((0, 0), (0, 10), (10, 0), (10, 10)):  # tile by tile, as build-dataset reads it
        tiled[r0:r0 + 10, c0:c0 + 10] = rasterize_mask(plan, Window(c0, r0, 10, 10))
    assert ((tiled == 1) == theirs).all()


def test_random_tangled_polygons_match_labelme():
    from labelme.utils import shape_to_mask

    rng = np.random.default_rng(3)
    n_invalid = 0
    for _ in range(60):
        pts = rng.uniform(-3, 33, (int(rng.integers(4, 9)), 2)).round(1).tolist()  # unsorted: mostly tangled
        shape = Shape(label="farmland", points=pts)
        n_invalid += not plan_labels([shape], 30, 30).report.repaired == []
        theirs = shape_to_mask((30, 30), [tuple(p) for p in pts], "polygon")
        assert ((class_raster([shape], 30, 30, {"farmland": 1}) == 1) == theirs).all()
    assert n_invalid > 30


def test_clipped_to_image_and_reported():
    plan = plan_labels([_sq("farmland", -5, -5, 3, 3)], 10, 10)
    assert len(plan.report.clipped) == 1
    m = rasterize_mask(plan, Window(0, 0, 10, 10))
    assert m[:4, :4].all() and m.sum() == 16


def test_all_shapes_outside_is_an_error():
    with pytest.raises(InputError, match="outside"):
        plan_labels([_sq("farmland", 20, 20, 30, 30)], 10, 10, source="a.json")


def test_unknown_label_is_an_error_naming_it():
    with pytest.raises(InputError, match="'road'.*label map"):
        plan_labels([_sq("road", 1, 1, 3, 3)], 10, 10, source="a.json")


def test_label_map_and_non_area_shapes():
    shapes = [_sq("field", 1, 1, 3, 3), Shape(label="field", points=[[0, 0], [5, 5]], shape_type="line")]
    plan = plan_labels(shapes, 6, 6, label_map={"field": 3})
    assert rasterize_mask(plan, Window(0, 0, 6, 6))[2, 2] == 3
    assert plan.report.dropped and "not an area" in plan.report.dropped[0]["reason"]


def test_tile_windows_stitch_to_the_whole_scene():
    rng = np.random.default_rng(0)
    shapes = [_sq("farmland", *sorted(rng.integers(0, 40, 2)), *sorted(rng.integers(0, 40, 2)))
              for _ in range(6)]
    shapes = [s for s in shapes if s.points[0][0] != s.points[1][0] and s.points[0][1] != s.points[2][1]]
    plan = plan_labels(shapes, 40, 40)
    whole = tile_labels(plan, Window(0, 0, 40, 40))
    for r0 in (0, 16, 24):
        for c0 in (0, 16, 24):
            t = tile_labels(plan, Window(c0, r0, 16, 16))
            np.testing.assert_array_equal(t.mask, whole.mask[r0:r0 + 16, c0:c0 + 16])
            np.testing.assert_array_equal(t.boundary, whole.boundary[r0:r0 + 16, c0:c0 + 16])


def test_boundary_width_and_image_border():
    p = np.zeros((9, 9), np.uint32)
    p[:, :] = 1
    assert parcel_boundaries(p).sum() == 0                        # the image border is not an edge
    p[4, 4] = 0
    assert parcel_boundaries(p, 1).sum() == 4                     # the four 4-neighbours of the hole
    # width 2: pixels within one more 8-step of those four: a 5 x 5 block without its corners and the hole
    assert parcel_boundaries(p, 2).sum() == 5 * 5 - 4 - 1


def _skimage_boundaries(p: np.ndarray, width: int) -> np.ndarray:
    """The boundary as skimage and scipy draw it: ``find_boundaries(mode='inner')`` then 8-dilations."""
    from scipy import ndimage
    from skimage.segmentation import find_boundaries

    edge = find_boundaries(p, connectivity=1, mode="inner") & (p > 0)
    if width > 1:
        edge = ndimage.binary_dilation(edge, structure=np.ones((3, 3), bool), iterations=width - 1) & (p > 0)
    return edge.astype(np.uint8)


@pytest.mark.parametrize("ids", ["small", "scene-wide uint32", "over 65,535 in one raster"])
def test_boundaries_match_skimage_find_boundaries(ids):
    rng = np.random.default_rng(3)
    for trial in range(20):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        if ids == "over 65,535 in one raster":  # every pixel its own id: renumbered, compared as float64
            h, w = 300, 300
            p = rng.permutation(h * w).astype(np.uint32).reshape(h, w) + np.uint32(4_000_000_000)
            p[rng.random((h, w)) < 0.1] = 0
        else:
            cells = rng.integers(0, 6, (h // 3 + 1, w // 3 + 1))  # blocky parcels, many touching
            p = np.kron(cells, np.ones((3, 3), np.int64))[:h, :w]
            if ids == "scene-wide uint32":  # large ids of which some differ only above 16 bits
                p = np.where(p > 0, p * 65_536 + 7 + (p % 2) * 2**31, 0)
            p = p.astype(np.uint32)
        for width in (1, 2, 3):
            got = parcel_boundaries(p, width)
            assert got.dtype == np.uint8
            np.testing.assert_array_equal(got, _skimage_boundaries(p, width), err_msg=f"{ids} {trial} {width}")
        if ids == "over 65,535 in one raster":
            break


def test_tile_parcel_ids_match_the_scene_raster():
    # tile-local ids 1..n in order of scene id, and the list of scene ids, from np.unique of the scene raster
    rng = np.random.default_rng(5)
    shapes = []
    for k in range(40):
        x0, y0 = (int(v) for v in rng.integers(0, 56, 2))
        x1, y1 = x0 + int(rng.integers(2, 12)), y0 + int(rng.integers(2, 12))
        label = "__ignore__" if k % 9 == 0 else "_background_" if k % 11 == 0 else "farmland"
        shapes.append(_sq(label, x0, y0, x1, y1))
    plan = plan_labels(shapes, 64, 64)
    scene = rasterize_parcels(plan, Window(0, 0, 64, 64))
    for c0, r0, w, h in ((0, 0, 64, 64), (8, 16, 24, 20), (40, 40, 24, 24), (60, 0, 4, 64)):
        t = tile_labels(plan, Window(c0, r0, w, h))
        part = scene[r0:r0 + h, c0:c0 + w]
        ref_ids = [int(v) for v in np.unique(part) if v]
        assert t.parcel_scene_ids == ref_ids
        ref_local = np.searchsorted(ref_ids, part) + 1
        np.testing.assert_array_equal(t.parcel, np.where(part > 0, ref_local, 0))
        assert t.parcel.dtype == np.uint16
        np.testing.assert_array_equal(t.boundary, _skimage_boundaries(scene, 1)[r0:r0 + h, c0:c0 + w])
