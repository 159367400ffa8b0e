"""Window-by-window label drawing judged by labelme 6.3's own ``shapes_to_label`` on the whole image."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rasterio.windows import Window

from farmannot.io.labelme_json import Shape, load_annotation
from farmannot.io.windows import tile_windows
from farmannot.labels.rasterize import LabelPlan, class_raster, plan_labels, tile_labels

LABELME_VALUES = {"farmland": 1, "_background_": 0, "__ignore__": -1}


def _random_shapes(rng: np.random.Generator, n: int, w: int, h: int) -> list[dict]:
    """labelme shape dicts of every area type, fractional and negative coordinates, some beyond the image,
    some self-crossing, with background holes, ignore areas and grouped parcels."""
    out = []
    for k in range(n):
        kind = ["polygon", "polygon", "polygon", "rectangle", "circle", "mask"][k % 6]
        label = "farmland" if k % 7 not in (3, 5) else ("_background_" if k % 7 == 3 else "__ignore__")
        cx, cy = rng.uniform(-8, w + 8), rng.uniform(-8, h + 8)
        if kind == "polygon":
            m = int(rng.integers(3, 12))
            if k % 4 == 0:  # unsorted vertices: mostly self-crossing
                pts = np.column_stack([cx, cy]) + rng.uniform(-15, 15, (m, 2))
            else:
                t = np.sort(rng.uniform(0, 2 * np.pi, m))
                r = rng.uniform(2, 18, m)
                pts = np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])
            points = pts.round(3).tolist()
        elif kind == "rectangle":
            points = [[cx, cy], [cx + rng.uniform(-20, 20), cy + rng.uniform(-20, 20)]]
        elif kind == "circle":
            points = [[cx, cy], [cx + rng.uniform(-9, 9), cy + rng.uniform(-9, 9)]]
        else:
            x0, y0 = int(rng.integers(0, w - 10)), int(rng.integers(0, h - 10))
            mw, mh = int(rng.integers(2, 10)), int(rng.integers(2, 10))
            mask = rng.random((mh, mw)) < 0.6
            out.append({"label": label, "points": [[x0 + 0.7, y0 + 0.2], [x0 + mw - 1 + 0.7, y0 + mh - 1 + 0.2]],
                        "shape_type": "mask", "group_id": None, "mask": mask})
            continue
        gid = int(k % 5) if k % 3 == 0 else None  # grouped shapes make one parcel
        out.append({"label": label, "points": [[round(float(x), 3), round(float(y), 3)] for x, y in points],
                    "shape_type": kind, "group_id": gid, "mask": None})
    return out


def _ours(shapes: list[dict]) -> list[Shape]:
    return [Shape(label=s["label"], points=s["points"], shape_type=s["shape_type"], group_id=s["group_id"],
                  mask=s["mask"]) for s in shapes]


def _stitched(plan, w: int, h: int, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Mask and scene-wide parcel ids of the whole image, assembled tile by tile as build-dataset writes them."""
    mask, pid = np.zeros((h, w), np.uint8), np.zeros((h, w), np.int64)
    for win in tile_windows(w, h, tile):
        lab = tile_labels(plan, win)
        sl = win.toslices()
        mask[sl] = lab.mask
        ids = np.asarray([0] + lab.parcel_scene_ids)
        pid[sl] = ids[lab.parcel]
    return mask, pid


def _judge(shapes: list[dict], w: int, h: int, tile: int, via=lambda plan: plan) -> None:
    from labelme.utils.shape import shapes_to_label

    cls, ins = shapes_to_label((h, w), shapes, LABELME_VALUES)
    plan = via(plan_labels(_ours(shapes), w, h))
    mask, pid = _stitched(plan, w, h, tile)
    expect = np.where(cls == -1, 255, cls).astype(np.uint8)
    np.testing.assert_array_equal(mask, expect)
    farm = cls == 1
    assert ((pid > 0) == farm).all()
    pairs = set(zip(pid[farm].tolist(), ins[farm].tolist()))  # one parcel id per labelme instance and back
    assert len({a for a, _ in pairs}) == len({b for _, b in pairs}) == len(pairs)
    np.testing.assert_array_equal(class_raster(_ours(shapes), h, w, LABELME_VALUES), cls)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_shapes_of_every_type_match_shapes_to_label_tile_by_tile(seed):
    rng = np.random.default_rng(seed)
    shapes = _random_shapes(rng, 90, 97, 83)
    assert {s["shape_type"] for s in shapes} == {"polygon", "rectangle", "circle", "mask"}
    _judge(shapes, 97, 83, tile=23)  # odd tile size: windows start at every kind of offset, edges partial


def test_a_plan_kept_as_flat_arrays_draws_as_labelme():
    """A plan written as a few flat arrays (a work unit's file) and read back: every shape type, masks and
    grouped parcels included, still draws labelme's ``shapes_to_label`` tile by tile."""
    rng = np.random.default_rng(7)
    shapes = _random_shapes(rng, 90, 97, 83)
    seen = []

    def round_trip(plan):
        arrays = plan.arrays()
        assert all(isinstance(a, np.ndarray) for a in arrays.values())  # no object per shape
        assert arrays["kind"].dtype == np.uint8 and len(arrays["kind"]) == len(plan.drawing)
        back = LabelPlan.from_arrays(arrays, 97, 83, plan.n_parcels)
        seen.append(back)
        return back

    _judge(shapes, 97, 83, tile=23, via=round_trip)
    assert "mask" in seen[0].drawing.kinds and sum(m is not None for m in seen[0].drawing.masks) > 5


def test_real_sample_annotation_matches_shapes_to_label_tile_by_tile(sample_landsat):
    raw = json.loads(sample_landsat.read_text())
    for s in raw["shapes"]:
        s.setdefault("mask", None)
    ann = load_annotation(sample_landsat)
    assert len(ann.shapes) == len(raw["shapes"]) > 800
    _judge(raw["shapes"], raw["imageWidth"], raw["imageHeight"], tile=256)


def test_window_canvas_is_the_whole_image_drawing_cropped():
    """Vertices left of or above a window (negative window coordinates) truncate as on the whole image."""
    shapes = [{"label": "farmland", "points": [[3.6, 2.4], [17.5, 4.9], [9.2, 15.8]], "shape_type": "polygon",
               "group_id": None, "mask": None},
              {"label": "farmland", "points": [[12.7, 12.7], [15.9, 9.3]], "shape_type": "circle",
               "group_id": None, "mask": None}]
    plan = plan_labels(_ours(shapes), 20, 20)
    whole = plan.which(Window(0, 0, 20, 20))[0]
    for c0, r0 in ((4, 3), (10, 10), (9, 5)):
        part = plan.which(Window(c0, r0, 7, 6))[0]
        np.testing.assert_array_equal(part > 0, whole[r0:r0 + 6, c0:c0 + 7] > 0)


@pytest.fixture
def sample_landsat():
    from pathlib import Path

    return (Path(__file__).resolve().parents[2] / "sample_data" / "annotations"
            / "LC08_L1TP_224078_20200518_20200518_01_RT_subset.json")


def test_empty_mask_shape_and_degenerate_rectangle():
    """A mask shape without pixels paints nothing and is reported dropped; a rectangle one pixel wide paints
    its pixel column, as labelme's PIL rectangle does."""
    from labelme.utils.shape import shape_to_mask

    shapes = [Shape(label="farmland", points=[[1, 1], [3, 3]], shape_type="mask", mask=None),
              Shape(label="farmland", points=[[4.2, 1.5], [4.9, 6.7]], shape_type="rectangle")]
    plan = plan_labels(shapes, 8, 8)
    assert [d["shape"] for d in plan.report.dropped] == ["shape 0 ('farmland')"]
    theirs = shape_to_mask((8, 8), shapes[1].points, "rectangle")
    assert theirs.sum() == 6
    np.testing.assert_array_equal(tile_labels(plan, Window(0, 0, 8, 8)).mask == 1, theirs)
