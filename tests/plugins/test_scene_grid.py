"""A large scene opens as a grid of views; shapes stay in scene pixel coordinates in one file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from PyQt5 import QtCore
from rasterio.transform import from_origin
from shapely.geometry import box

from farmannot.predict.drafts import draft_annotation
from farmannot_labelme.qimage import qimage_to_rgb

GRID = {"scene_grid": {"threshold": 200, "view": 160, "overlap": 32, "chip": 64, "chip_overlap": 16,
                       "thumbnail": 100}}


@pytest.fixture()
def big_scene(tmp_path):
    """400 x 300 px (large for a threshold of 200 px), two bright fields far apart."""
    data = np.full((3, 300, 400), 40, np.uint8)
    data[1, 20:60, 20:60] = 220     # field A, view 1 only
    data[1, 200:260, 300:360] = 220  # field B, bottom-right view only
    path = tmp_path / "big.tif"
    with rasterio.open(path, "w", driver="GTiff", width=400, height=300, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500000, 5000000, 1, 1)) as dst:
        dst.write(data)
    return path


@pytest.fixture()
def big_annotation(big_scene, tmp_path):
    out = tmp_path / "big.json"
    draft_annotation(big_scene, out, [(box(20, 20, 60, 60), 0.9), (box(300, 200, 360, 260), 0.8)],
                     method="sam-proposals")
    return out


def _shapes(win):
    return [item.shape() for item in win._docks.label_list]


def _points(shape):
    return np.array([[p.x(), p.y()] for p in shape.points])


def test_large_scene_opens_as_a_grid_of_views(make_window, big_scene):
    win = make_window(big_scene, extra=GRID)
    grid = win.scene_grid_dock
    assert grid.scene is not None and len(grid.scene.views) == 9  # offsets 0,128,240 x 0,128,140
    assert (win._image.width(), win._image.height()) == (160, 160)
    shown = qimage_to_rgb(win._canvas_widgets.canvas.pixmap.toImage())
    assert shown[40, 40, 1] > 200 and shown[100, 100, 1] < 50  # field A at its scene place in view 1
    assert grid.views_combo.count() == 9 and grid.thumbnail.pixmap() is not None


def test_switching_views_keeps_shapes_in_scene_coordinates(make_window, big_annotation, tmp_path):
    original = json.loads(big_annotation.read_text())
    win = make_window(big_annotation, extra=GRID)
    grid = win.scene_grid_dock
    assert len(_shapes(win)) == 1 and len(grid.store) == 1  # A shown, B waits in another view
    np.testing.assert_allclose(_points(_shapes(win)[0]), original["shapes"][0]["points"])
    view = grid.scene.view_at(330, 230)
    _shapes(win)[0].points[0].setX(25.0)  # an edit in the first view, then move on
    win._canvas_widgets.canvas.backup_shapes()
    grid.show_view(view.index)
    assert not win._canvas_widgets.canvas.can_restore_shape  # no undo into the other view's coordinates
    assert grid.current is view and (int(view.window.col_off), int(view.window.row_off)) == (240, 140)
    shown = qimage_to_rgb(win._canvas_widgets.canvas.pixmap.toImage())
    assert shown[230 - 140, 330 - 240, 1] > 200  # field B's pixel at its view place
    (b,) = _shapes(win)
    np.testing.assert_allclose(_points(b) + [240, 140], original["shapes"][1]["points"])
    # edit B in view coordinates, go back to the first view, save: one file in scene coordinates
    b.points[0].setX(b.points[0].x() + 5)
    win.mark_dirty()
    grid.show_view(0)
    assert len(_shapes(win)) == 1 and len(grid.store) == 1
    out = tmp_path / "saved.json"
    assert win.save_labels(str(out))
    saved = json.loads(out.read_text())
    assert (saved["imageWidth"], saved["imageHeight"], saved["imageData"]) == (400, 300, None)
    assert saved["imagePath"] == "big.tif" and saved["farmannot"]["scene"]["width"] == 400
    by_desc = {s["description"]: s["points"] for s in saved["shapes"]}
    orig = {s["description"]: s["points"] for s in original["shapes"]}
    assert by_desc.keys() == orig.keys()
    for desc, pts in orig.items():
        moved = np.array(pts, dtype=float)
        if moved[:, 0].min() > 200:  # B: its first vertex moved 5 px right
            moved[0, 0] += 5
        else:  # A: its first vertex moved to x = 25
            moved[0, 0] = 25
        np.testing.assert_allclose(by_desc[desc], moved, atol=1e-3)
    # reopen: grid again, both shapes present, flags kept
    win2 = make_window(out, extra=GRID)
    assert win2.scene_grid_dock.scene is not None
    assert len(_shapes(win2)) + len(win2.scene_grid_dock.store) == 2
    assert all(s.flags == {"proposal": True} for s in _shapes(win2))


def test_small_scenes_open_as_before(make_window, big_scene):
    win = make_window(big_scene, extra={"scene_grid": {"threshold": 1000}})
    assert win.scene_grid_dock.scene is None
    assert (win._image.width(), win._image.height()) == (400, 300)


def test_sam_click_in_a_view_uses_the_chip_cache(make_window, big_scene, session, qtbot, monkeypatch):
    from PyQt5.QtCore import QPointF

    win = make_window(big_scene, session=session, extra=GRID)
    grid = win.scene_grid_dock
    grid.show_view(grid.scene.view_at(330, 230).index)
    canvas = win._canvas_widgets.canvas
    assert not win.sam_bridge.busy() and not list(session.cache.root.rglob("*.npz"))  # no whole-view embedding
    assert "chip that holds it" in win.sam_status.text()
    click = [QPointF(330 - 240 + 0.5, 230 - 140 + 0.5)]
    assert canvas._shapes_from_ai_points(points=click, point_labels=[1]) == []  # chip not embedded yet
    assert "chip around your click" in win.sam_status.text()
    chip = grid.scene.chip_embedding(session, grid.scene.chip_for([[330.5, 230.5]]))
    qtbot.waitUntil(lambda: chip.key in session.cache, timeout=30000)
    qtbot.waitUntil(lambda: "click again" in win.sam_status.text())
    shapes = canvas._shapes_from_ai_points(points=click, point_labels=[1])
    assert "SAM on chip" in win.sam_status.text()
    for s in shapes:  # view coordinates of polygons that lie on the chosen chip
        pts = _points(s) + [240, 140]
        assert pts[:, 0].min() >= int(chip.parts["window"][0]) - 1 and pts[:, 0].max() <= 400
    # a hole is free here as on the whole-image canvas: a field with a farmstead hole around the click, SAM's
    # mask everywhere: the new field is the farmstead (labelme's rasteriser judges, view coordinates)
    from labelme._shape import Shape
    from labelme.utils import shape_to_mask

    def polygon(pts, label):
        s = Shape(label=label, shape_type="polygon")
        s.points = [QPointF(x, y) for x, y in pts]
        s.close()
        return s

    canvas.shapes[:] = [polygon([(60, 60), (120, 60), (120, 120), (60, 120)], "farmland"),
                        polygon([(80, 80), (100, 80), (100, 100), (80, 100)], "_background_")]
    monkeypatch.setattr(session, "predict", lambda emb, points, labels: (np.ones(emb.original_size, bool), 0.9))
    monkeypatch.setattr(win.sam_bridge, "simplify_px", 0.0)
    (new,) = canvas._shapes_from_ai_points(points=click, point_labels=[1])
    got = shape_to_mask((200, 200), [(p.x(), p.y()) for p in new.points], "polygon")
    hole = np.zeros((200, 200), bool)
    hole[80:101, 80:101] = True
    assert (got == hole).all()


def test_accept_all_reaches_drafts_in_other_views(make_window, big_annotation, qtbot, tmp_path):
    win = make_window(big_annotation, extra=GRID)
    dock = win.drafts_dock
    qtbot.waitUntil(lambda: dock.list.count() == 1)
    assert "1 draft(s) in other views" in dock.summary.text()
    qtbot.mouseClick(dock.accept_all_button, QtCore.Qt.LeftButton)
    assert dock.list.count() == 0 and "other views" not in dock.summary.text()
    out = tmp_path / "accepted.json"
    assert win.save_labels(str(out))
    assert [s["flags"] for s in json.loads(out.read_text())["shapes"]] == [{}, {}]


def test_click_polygons_in_a_decimated_view_give_the_scene_mask_back(qtbot):
    """A chip mask's polygons shown in a view at 2 scene px per view px: converted to labelme vertices in scene
    pixels, moved into the view, then saved back to the scene (``shape_to_scene``), labelme's own
    ``shape_to_mask`` fills exactly the mask (converting in view pixels, as before, got 293 of 8,606 wrong)."""
    import shapely.affinity
    from labelme.utils import shape_to_mask
    from rasterio import features
    from rasterio.windows import Window

    from farmannot.labels.polygonize import mask_to_polygons
    from farmannot.sam.scene_views import SceneView, shape_to_scene, view_labelme_rings

    hw = (300, 300)
    field = shapely.affinity.rotate(box(80.3, 70.1, 190.2, 150.7), 33, origin="center")
    mask = features.rasterize([(field, 1)], out_shape=hw) == 1
    mask[100:112, 120:141] = False  # a hole
    view = SceneView(0, 0, 0, Window(40, 20, 250, 260), 2.0)
    (rings,) = view_labelme_rings(mask_to_polygons(mask, simplify_px=0), view)
    saved = shape_to_scene({"points": rings.exterior.tolist(),
                            "farmannot": {"holes": [h.tolist() for h in rings.holes]}}, view)
    (hole,) = saved["farmannot"]["holes"]
    got = shape_to_mask(hw, saved["points"], "polygon") & ~shape_to_mask(hw, hole, "polygon")
    assert (got == mask).all()


# -- the Display dock's settings reach the grid view ---------------------------------------------------

#: A Landsat 8 product's size (L1TP scenes are about 7,600-7,800 px on a side) opened as a grid: views decimated
#: to 1024 px so the test reads little.
PRODUCT_GRID = {"scene_grid": {"threshold": 4096, "view": 4096, "overlap": 256, "max_display": 1024,
                               "thumbnail": 160}}
BLOCK = 64  # the synthetic land is constant in 64 px blocks, so a 4x decimated (averaged) view keeps its values


def _raw_landsat(path, width=7791, height=7901, seed=0):
    """A raw Landsat-8-like product: uint16 blue, green, red (no descriptions), no nodata tag, and a DN-0 collar
    around a tilted footprint (as L1 products come from the provider). Returns the collar mask's share."""
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    blocks = np.stack([rng.normal(m, 900, (height // BLOCK + 1, width // BLOCK + 1)) for m in (9000, 9800, 10600)])
    blocks = blocks.clip(1, 60000).astype(np.uint16)
    angle = np.deg2rad(12.0)
    cx, cy, half_w, half_h = width / 2, height / 2, width * 0.42, height * 0.43
    collar = 0
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3, dtype="uint16",
                       tiled=True, blockxsize=512, blockysize=512, compress="deflate",
                       crs="EPSG:32621", transform=from_origin(300000, 7000000, 30, 30)) as dst:
        for r0 in range(0, height, 512):
            rows = min(512, height - r0)
            y, x = np.mgrid[r0:r0 + rows, 0:width]
            u = (x + 0.5 - cx) * np.cos(angle) + (y + 0.5 - cy) * np.sin(angle)
            v = -(x + 0.5 - cx) * np.sin(angle) + (y + 0.5 - cy) * np.cos(angle)
            inside = (np.abs(u) <= half_w) & (np.abs(v) <= half_h)
            strip = blocks[:, y // BLOCK, x // BLOCK] * inside
            collar += int((~inside).sum())
            dst.write(strip.astype(np.uint16), window=Window(0, r0, width, rows))
    return collar / (width * height)


@pytest.fixture(scope="module")
def raw_product(tmp_path_factory):
    path = tmp_path_factory.mktemp("landsat") / "LC08_L1TP_227070_20200816_20200920_02_T1.tif"
    share = _raw_landsat(path)
    assert 0.1 < share < 0.4  # a collar of the size real products have (16.5 % in the one the issue saw)
    return path


def _reference_stretch(path, percentiles):
    """Independent reference: percentiles of the non-collar pixels of the decimated read scene stretches use
    (nearest, at most 1024 px on a side), red, green, blue."""
    with rasterio.open(path) as src:
        assert src.nodata is None and src.descriptions == (None, None, None)
        f = max(src.width, src.height) / 1024
        data = src.read([3, 2, 1], out_shape=(3, int(src.height / f), int(src.width / f)),
                        resampling=rasterio.enums.Resampling.nearest).astype(np.float64)
    land = ~np.all(data == 0, axis=0)
    return [np.percentile(b[land], percentiles) for b in data]


@pytest.mark.slow
def test_display_settings_reach_the_grid_view_of_a_raw_product(make_window, raw_product, tmp_path, qtbot):
    win = make_window(raw_product, extra=PRODUCT_GRID)
    grid, dock = win.scene_grid_dock, win.display_dock
    assert grid.scene is not None and grid.scene.display.bands == [3, 2, 1]  # red first, from the LC08 name
    ref = _reference_stretch(raw_product, (2, 98))
    st = grid.scene.display.stretch
    np.testing.assert_allclose(st.low, [r[0] for r in ref], rtol=1e-6)  # the collar left out
    np.testing.assert_allclose(st.high, [r[1] for r in ref], rtol=1e-6)
    assert min(st.low) > 5000  # counting the collar's zeros would pull the low end to 0
    view = grid.current
    before = qimage_to_rgb(win._canvas_widgets.canvas.pixmap.toImage())
    assert before.shape[:2] == view.shape and before[0, 0].max() == 0  # the collar corner shows black

    dock.low.setValue(10.0)
    dock.high.setValue(90.0)
    dock.apply_button.click()
    assert win._fa.display.percentiles == (10.0, 90.0)
    ref = _reference_stretch(raw_product, (10, 90))
    st = grid.scene.display.stretch
    np.testing.assert_allclose(st.low, [r[0] for r in ref], rtol=1e-6)
    np.testing.assert_allclose(st.high, [r[1] for r in ref], rtol=1e-6)
    assert grid.current.window == view.window  # the same view, re-read
    after = qimage_to_rgb(win._canvas_widgets.canvas.pixmap.toImage())
    # a view pixel in the middle of a land block: the block's value through the new stretch
    row, col = view.shape[0] // 2 + 2, view.shape[1] // 2 + 2
    x, y = (view.to_scene([[col + 0.5, row + 0.5]])[0]).astype(int)
    with rasterio.open(raw_product) as src:
        value = src.read([3, 2, 1], window=((y, y + 1), (x, x + 1)))[:, 0, 0].astype(np.float64)
    assert (x // BLOCK, y // BLOCK) == ((x + 2) // BLOCK, (y + 2) // BLOCK)  # not on a block edge
    expected = np.clip(np.round((value - [r[0] for r in ref]) * 255 / np.subtract(*[[r[1] for r in ref],
                                                                                    [r[0] for r in ref]])), 0, 255)
    np.testing.assert_array_equal(after[row, col], expected.astype(np.uint8))
    assert not np.array_equal(before, after)
    assert f"{ref[0][0]:.4g}" in dock.info.text()  # the dock shows the grid's stretch

    # the same value reaches the whole-picture canvas: a small raw product opened next uses 10-90 % too
    small = tmp_path / "LC08_L1TP_227071_20200816_20200920_02_T1.tif"
    _raw_landsat(small, width=600, height=640, seed=1)
    win._load_file(str(small))
    assert win.scene_grid_dock.scene is None and win._fa_picture.stretch is not None
    ref_small = _reference_stretch(small, (10, 90))
    np.testing.assert_allclose(win._fa_picture.stretch["low"], [r[0] for r in ref_small], rtol=1e-6)


def test_a_click_in_grid_mode_is_made_off_the_gui_thread(make_window, big_scene, session, qtbot, monkeypatch):
    """labelme's AI-Points tool in a view: the chip's mask and polygons are made on the click worker, and the
    field arrives as one labelled shape."""
    import threading

    win = make_window(big_scene, session=session, extra=GRID)
    win.show()
    qtbot.waitExposed(win)
    grid = win.scene_grid_dock
    grid.show_view(grid.scene.view_at(330, 230).index)
    chip = grid.scene.chip_embedding(session, grid.scene.chip_for([[330.5, 230.5]]))
    session.embed(chip.rgb, key=chip.key, parts=chip.parts)  # the chip cache answers (precompute-embeddings)
    threads = []
    predict = session.predict

    def recorded(emb, points, labels):
        threads.append(threading.current_thread())
        return predict(emb, points, labels)

    monkeypatch.setattr(session, "predict", recorded)
    win._switch_canvas_mode(edit=False, create_mode="ai_points_to_shape")
    lst = win._docks.unique_label_list
    lst.setCurrentItem(lst.item(0))
    canvas = win._canvas_widgets.canvas
    origin = canvas._compute_image_origin_offset()
    x, y = 330 - 240 + 0.5, 230 - 140 + 0.5  # view coordinates of scene point (330.5, 230.5)
    pos = QtCore.QPoint(int((x + origin.x()) * canvas.scale), int((y + origin.y()) * canvas.scale))
    qtbot.mouseMove(canvas, pos)
    qtbot.mouseClick(canvas, QtCore.Qt.LeftButton, QtCore.Qt.ControlModifier, pos)
    qtbot.waitUntil(lambda: bool(_shapes(win)) or "SAM on chip" in win.sam_status.text(), timeout=20000)
    assert threads and all(t is not threading.main_thread() for t in threads)
    assert "SAM on chip" in win.sam_status.text()
