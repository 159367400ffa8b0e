"""Drafts written by ``farmannot propose``/``predict`` open in the annotator apart, and can be accepted or deleted."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from PyQt5 import QtCore
from rasterio.transform import from_origin
from shapely.geometry import box

from farmannot.io.labelme_json import load_annotation
from farmannot.predict.drafts import draft_annotation
from farmannot_labelme.drafts_dock import DRAFT_RGB


@pytest.fixture()
def drafts_file(tmp_path):
    data = np.full((3, 60, 80), 50, np.uint8)
    data[1, 10:30, 10:30] = 200
    scene = tmp_path / "scene.tif"
    with rasterio.open(scene, "w", driver="GTiff", width=80, height=60, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500000, 5000000, 2, 2)) as dst:
        dst.write(data)
    out = tmp_path / "scene.json"
    draft_annotation(scene, out, [(box(40, 10, 70, 40), 0.61), (box(10, 10, 30, 30), 0.93)], method="sam-proposals")
    return out


def _shapes(win):
    return [item.shape() for item in win._docks.label_list]


def test_drafts_are_listed_with_their_score_best_first(make_window, drafts_file, qtbot):
    win = make_window(drafts_file)
    dock = win.drafts_dock
    qtbot.waitUntil(lambda: dock.list.count() == 2)  # the list follows labelme's shape list (event loop)
    assert len(_shapes(win)) == 2
    texts = [dock.list.item(i).text() for i in range(dock.list.count())]
    assert texts == ["1. farmland  score 0.930", "2. farmland  score 0.610"]
    assert "2 draft(s) to review" in dock.summary.text()


def test_accept_clears_the_flag_and_survives_save_and_reopen(make_window, drafts_file, qtbot):
    win = make_window(drafts_file)
    dock = win.drafts_dock
    qtbot.waitUntil(lambda: dock.list.count() == 2)
    dock.list.item(0).setSelected(True)
    assert [s.flags for s in dock.selected_shapes()] == [{"proposal": True}]
    accepted = dock.selected_shapes()[0]
    qtbot.mouseClick(dock.accept_button, QtCore.Qt.LeftButton)
    assert dock.list.count() == 1 and "score 0.610" in dock.list.item(0).text()
    draft = dock.list.item(0).data(QtCore.Qt.UserRole)
    assert draft.line_color.getRgb()[:3] == DRAFT_RGB and accepted.line_color.getRgb()[:3] != DRAFT_RGB
    assert win.save_labels(str(drafts_file))
    ann = load_annotation(drafts_file)
    flags = {s.description: s.flags for s in ann.shapes}
    assert sorted(bool(f.get("proposal")) for f in flags.values()) == [False, True]
    accepted = [s for s in ann.shapes if not s.flags.get("proposal")][0]
    xs = [p[0] for p in accepted.points]
    assert min(xs) < 15 and max(xs) < 35  # the 0.93 draft (x 10-30) was the accepted one
    win2 = make_window(drafts_file)
    qtbot.waitUntil(lambda: win2.drafts_dock.list.count() == 1)
    assert len(_shapes(win2)) == 2


def test_accept_all_and_delete_draft(make_window, drafts_file, qtbot):
    win = make_window(drafts_file)
    dock = win.drafts_dock
    qtbot.waitUntil(lambda: dock.list.count() == 2)
    dock.list.item(1).setSelected(True)
    qtbot.mouseClick(dock.delete_button, QtCore.Qt.LeftButton)
    assert len(_shapes(win)) == 1 and len(win._canvas_widgets.canvas.shapes) == 1
    assert dock.list.count() == 1
    qtbot.mouseClick(dock.accept_all_button, QtCore.Qt.LeftButton)
    assert dock.list.count() == 0 and "No drafts; 1 shape(s)" == dock.summary.text()
    assert not dock.accept_button.isEnabled()
    assert win.save_labels(str(drafts_file))
    assert [s.flags for s in load_annotation(drafts_file).shapes] == [{}]
