"""labelme's Text-to-Annotation box with farmannot's SAM 3: shown only for a text-capable model; a text prompt
runs off the GUI thread and its instances become drafts, judged by labelme's own rasteriser against the
backend's own ``text_masks`` on the same embedding."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from labelme.utils import shape_to_mask
from PyQt5 import QtCore, QtWidgets

pytest.importorskip("sam3", reason="the sam3 package is not installed (pip install --no-deps sam3==0.1.4)")

from farmannot.predict.drafts import PROPOSAL_FLAG  # noqa: E402
from farmannot.sam.sam2_model import TINY as SAM2_TINY  # noqa: E402
from farmannot.sam.sam3_model import TINY as SAM3_TINY  # noqa: E402
from farmannot.sam.session import SamSession  # noqa: E402
from farmannot_labelme.sam_bridge import MODEL_NAME  # noqa: E402


def _shapes(win):
    return [item.shape() for item in win._docks.label_list]


def _painted(shapes, size):
    """labelme's converters: shapes painted in order, fields fill, ``_background_`` frees."""
    out = np.zeros(size, bool)
    for s in shapes:
        m = shape_to_mask(size, [(p.x(), p.y()) for p in s.points], s.shape_type)
        out = out & ~m if s.label == "_background_" else out | m
    return out


@pytest.mark.parametrize("family", ["sam", "sam2"])
def test_text_box_is_hidden_without_a_text_capable_model(make_window, images, session, family):
    if family == "sam2":
        session = SamSession.random(SAM2_TINY)
    assert session.family == family  # segment-anything's checkpoint (tiny, random) or SAM 2.1 (tiny, random)
    win = make_window(images / "b_field.png", session=session)
    assert not session.supports_text_prompts and not win.text_prompt_capable()
    assert win._fa_text_action is not None and not win._fa_text_action.isVisible()
    assert MODEL_NAME not in [win._ai_text._model_combo.itemData(i) for i in range(win._ai_text._model_combo.count())]


def test_text_prompt_makes_drafts_off_the_gui_thread(make_window, images, qtbot, wait_ready, monkeypatch):
    sam3 = SamSession.random(SAM3_TINY, seed=1)
    sam3.backend.score_threshold = 0.0  # random weights: every query is an instance
    win = make_window(images / "b_field.png", session=sam3, simplify_px=0.0, min_area_px=0.0)
    win.show()
    qtbot.waitExposed(win)
    assert win.text_prompt_capable() and win._fa_text_action.isVisible()
    assert win._ai_text.get_model_name() == MODEL_NAME
    wait_ready(win)
    # a field already drawn: the drafts stop at it, as clicks do
    from labelme._shape import Shape
    from PyQt5.QtCore import QPointF

    field = Shape(label="farmland", shape_type="polygon")
    field.points = [QPointF(*p) for p in [(0, 0), (30, 0), (30, 63), (0, 63)]]
    field.close()
    win._load_shapes([field], replace=False)

    threads = []
    orig = sam3.backend.text_masks

    def text_masks(rgb, emb, text, boxes=None):
        threads.append(threading.current_thread())
        return orig(rgb, emb, text, boxes)

    monkeypatch.setattr(sam3.backend, "text_masks", text_masks)
    win._switch_canvas_mode(edit=False, create_mode="ai_points_to_shape")  # labelme enables the box here
    win._ai_text._text_input.setText("farmland parcel")
    run = next(b for b in win._ai_text.findChildren(QtWidgets.QToolButton) if b.text() == "Run")
    canvas = win._canvas_widgets.canvas
    canvas.farmannot_grid_active = lambda: True  # a large scene's views: the status bar points to propose --text
    qtbot.mouseClick(run, QtCore.Qt.LeftButton)
    assert "propose SCENE --text" in win.sam_status.text() and win._fa_text_worker is None and not threads
    del canvas.farmannot_grid_active
    qtbot.mouseClick(run, QtCore.Qt.LeftButton)
    assert "finding" in win.sam_status.text()
    qtbot.waitUntil(lambda: len(_shapes(win)) > 1, timeout=20000)
    assert threads and all(t is not threading.main_thread() for t in threads)

    shapes = _shapes(win)
    drafts = shapes[1:]
    assert shapes[0] is field and all(s.flags.get(PROPOSAL_FLAG) for s in drafts)
    assert {s.label for s in drafts} <= {"farmland", "_background_"}
    assert "draft(s)" in win.sam_status.text() and win.drafts_dock.draft_shapes()

    # the reference: the backend's own instances on the same embedding, less the field drawn
    rgb = win.sam_bridge.current_rgb
    emb = sam3.cached(win.sam_bridge.current_key)
    ref = np.zeros(rgb.shape[:2], bool)
    for m in orig(rgb, emb, "farmland parcel"):
        ref |= m["segmentation"]
    assert ref.any()
    size = rgb.shape[:2]
    ref &= ~shape_to_mask(size, [(p.x(), p.y()) for p in field.points], "polygon")
    got = _painted(drafts, size)
    assert np.array_equal(got, ref), f"IoU {(got & ref).sum() / max((got | ref).sum(), 1):.4f}"
    # no pixel is given to two drafts: each draft (a field less the holes after it) apart, summed, is the union
    each = []
    for s in drafts:
        m = shape_to_mask(size, [(p.x(), p.y()) for p in s.points], "polygon")
        if s.label == "_background_":
            each[-1] &= ~m
        else:
            each.append(m)
    assert len(each) >= 2 and sum(int(m.sum()) for m in each) == int(got.sum())

    saved = json.loads((images / "b_field.json").read_text(encoding="utf-8"))  # autosave, as propose writes drafts
    assert [(s["flags"] or {}).get(PROPOSAL_FLAG, False) for s in saved["shapes"]] == [False] + [True] * len(drafts)
    described = [json.loads(s["description"]) for s in saved["shapes"][1:] if s["description"]]
    # one scored description per instance (a multi-part instance: its first part), best first
    scores = [d["attributes"]["score"] for d in described if "attributes" in d]
    want = [round(m["predicted_iou"], 4) for m in orig(rgb, emb, "farmland parcel")]
    assert scores == sorted(scores, reverse=True) and len(scores) <= len(want) and set(scores) <= set(want)
    assert all(d["attributes"]["text"] == "farmland parcel" for d in described if "attributes" in d)
    win._actions.undo.trigger()  # one undo step takes every draft away
    left = _shapes(win)  # labelme's undo restores copies
    assert [(s.label, [(p.x(), p.y()) for p in s.points]) for s in left] == [
        ("farmland", [(p.x(), p.y()) for p in field.points])]
    assert len(json.loads((images / "b_field.json").read_text(encoding="utf-8"))["shapes"]) == 1  # saved
