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
