"""The annotator's window end to end, offscreen: images, SAM clicks, captions, cache, threads, timing."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from labelme.utils import shape_to_mask
from PyQt5 import QtCore
from skimage.measure import label as cc_label

from farmannot.sam.cache import EmbeddingCache
from farmannot.sam.imagery import render_picture
from farmannot.sam.model import SamConfig
from farmannot.sam.session import SamSession
from farmannot_labelme.qimage import qimage_to_rgb


def _click(qtbot, win, x, y, modifier=QtCore.Qt.ControlModifier):
    canvas = win._canvas_widgets.canvas
    origin = canvas._compute_image_origin_offset()
    pos = QtCore.QPoint(int((x + origin.x()) * canvas.scale), int((y + origin.y()) * canvas.scale))
    qtbot.mouseMove(canvas, pos)
    qtbot.mouseClick(canvas, QtCore.Qt.LeftButton, modifier, pos)


def _select_label(win, label):
    lst = win._docks.unique_label_list
    for i in range(lst.count()):
        if lst.item(i).data(QtCore.Qt.UserRole) == label:
            lst.setCurrentItem(lst.item(i))
            return
    raise AssertionError(label)


def _shapes(win):
    return [item.shape() for item in win._docks.label_list]


def test_geotiff_loads_as_rendered_picture(make_window, images, qtbot):
    win = make_window(images)
    assert win._image_path.endswith("a_scene.tif")
    shown = qimage_to_rgb(win._canvas_widgets.canvas.pixmap.toImage())
    np.testing.assert_array_equal(shown, render_picture(images / "a_scene.tif").rgb)  # what SAM and precompute see
    assert [c.count() for c in win.display_dock.combos] == [4, 4, 4]
    assert win.caption_dock.keywords["location"].source == "auto"  # lat/lon from the GeoTIFF


def test_sam_click_makes_polygons_through_labelmes_tool(make_window, images, session, qtbot, wait_ready,
                                                         monkeypatch):
    # exact outlines (no simplification, no speck removal) so labelme's rasteriser can be compared pixel-wise
    win = make_window(images / "b_field.png", session=session, simplify_px=0.0, min_area_px=0.0)
    win.show()
    qtbot.waitExposed(win)
    wait_ready(win)
    assert "ready" in win.sam_status.text()
    masks = []
    import farmannot_labelme.sam_bridge as bridge_module
    orig = bridge_module.click_polygons

    def click_polygons(*args, **kwargs):  # the clicked mask the click path turned into polygons
        click = orig(*args, **kwargs)
        masks.append(click.mask.copy())
        return click

    monkeypatch.setattr(bridge_module, "click_polygons", click_polygons)
    win._switch_canvas_mode(edit=False, create_mode="ai_points_to_shape")
    _select_label(win, "farmland")
    _click(qtbot, win, 45, 30)  # Ctrl+click: one point, finished at once
    qtbot.waitUntil(lambda: bool(_shapes(win)), timeout=20000)  # made on the click worker, the window free meanwhile
    shapes = _shapes(win)
    assert {s.label for s in shapes} <= {"farmland", "_background_"}  # fields, and holes cut after them
    assert shapes[0].label == "farmland"
    assert all(s.shape_type == "polygon" and len(s.points) >= 3 for s in shapes)
    # the click's vertices (labels.convention, as drafts and imports): each part filled by labelme's own
    # shape_to_mask, less its own holes (the _background_ shapes after it), gives exactly the click's mask back
    (clicked,) = {m.tobytes(): m for m in masks}.values()
    parts, part = np.zeros_like(clicked), None
    for s in [*shapes, None]:
        painted = None if s is None else shape_to_mask(clicked.shape, [(p.x(), p.y()) for p in s.points], "polygon")
        if s is None or s.label == "farmland":
            parts |= part if part is not None else False
            part = painted
        else:
            part &= ~painted
    assert clicked.sum() > 100 and (parts == clicked).all()
    # independent reference: segment-anything's predictor on the same embedding, rasterised by labelme itself
    emb, hit = session.embed(render_picture(images / "b_field.png").rgb)
    assert hit
    full, _ = session.predict(emb, [[45, 30]], [1])
    parts = cc_label(full, connectivity=1)  # scikit-image's 4-connected parts: only the clicked one is a field
    assert parts[30, 45] and parts.max() > 1  # the random model's mask has other parts too
    mask = parts == parts[30, 45]
    drawn = np.zeros_like(mask)
    for s in shapes:  # in file order, later shapes paint over earlier ones
        painted = shape_to_mask(mask.shape, [(p.x(), p.y()) for p in s.points], "polygon")
        drawn = drawn | painted if s.label == "farmland" else drawn & ~painted
    iou = (drawn & mask).sum() / (drawn | mask).sum()
    assert iou > 0.99  # the tiny random model's near-zero logits: a few pixels differ between decoders
    assert win._fa_visit["sam_shapes"] >= 1


def test_second_click_stops_at_existing_field(make_window, images, session, qtbot, wait_ready):
    win = make_window(images / "b_field.png", session=session)
    win.show()
    qtbot.waitExposed(win)
    wait_ready(win)
    win._switch_canvas_mode(edit=False, create_mode="ai_box_to_shape")
    canvas = win._canvas_widgets.canvas
    from PyQt5.QtCore import QPointF

    first = canvas._shapes_from_ai_points([QPointF(2, 2), QPointF(60, 60)], [2, 3])
    canvas.shapes.extend(first)
    second = canvas._shapes_from_ai_points([QPointF(2, 2), QPointF(94, 62)], [2, 3])
    m1 = np.zeros((64, 96), bool)
    for s in first:
        m1 |= shape_to_mask(m1.shape, [(p.x(), p.y()) for p in s.points], "polygon")
    for s in second:
        m2 = shape_to_mask(m1.shape, [(p.x(), p.y()) for p in s.points], "polygon")
        assert (m1 & m2).sum() <= 0.05 * m2.sum()  # touching fields kept apart (edge pixels only)


def test_caption_roundtrip_save_and_reopen(make_window, images, qtbot):
    win = make_window(images / "a_scene.tif")
    dock = win.caption_dock
    dock.pickers["shape"].setCurrentIndex(dock.pickers["shape"].findData("blocky"))
    dock.pickers["water"].setCurrentIndex(dock.pickers["water"].findData("absent"))
    assert dock.keywords["shape"].source == "confirmed"
    assert "shape" not in dock.missing() and "boundary" in dock.missing()
    label = images / "a_scene.json"  # outside a project: labelme's place, beside the image
    assert label.is_file() and not win._is_changed  # the caption change was autosaved (labelme's default)
    assert win.save_labels(str(label))
    raw = json.loads(label.read_text(encoding="utf-8"))
    farm = raw["farmannot"]
    assert farm["caption"]["keywords"]["shape"]["value"] == "blocky"
    assert farm["caption"]["keywords"]["location"]["source"] == "auto"
    assert farm["scene"]["crs"] == "EPSG:32618" and len(farm["scene"]["transform"]) == 6
    assert farm["display"]["bands"] == [1, 2, 3]
    assert not list(images.glob(".a_scene.*"))  # the temporary file was renamed away
    from labelme._label_file import read_label_file

    assert read_label_file(str(label)).other_data["farmannot"]["caption"]["family"] == "farmseg"

    again = make_window(label)
    kws = again.caption_dock.keywords
    assert kws["shape"].value == "blocky" and kws["shape"].source == "confirmed"
    assert kws["water"].value == "absent"
    assert again.caption_dock.pickers["shape"].currentData() == "blocky"


def test_complete_caption_previews_both_languages(make_window, images):
    win = make_window(images / "a_scene.tif")
    dock = win.caption_dock
    vocab = dock.vocab
    for key, picker in dock.pickers.items():
        if key not in dock.keywords:
            picker.setCurrentIndex(1)  # first vocabulary value
    assert dock.missing() == []
    en = dock.preview["en"].toPlainText()
    zh = dock.preview["zh"].toPlainText()
    assert vocab.word("shape", dock.keywords["shape"].value, "en") in en
    assert vocab.word("shape", dock.keywords["shape"].value, "zh") in zh
    assert "Caption complete" in dock.status.text()


def test_suggest_and_accept(make_window, images, qtbot):
    win = make_window(images / "a_scene.tif")
    dock = win.caption_dock
    dock.run_suggest()
    suggested = dock.unconfirmed()
    assert suggested, "an RGBN scene gives at least presence suggestions"
    for key in suggested:
        assert dock.keywords[key].evidence  # every suggestion carries its evidence
    dock.accept_suggestions()
    assert dock.unconfirmed() == []
    assert all(dock.keywords[k].source == "confirmed" for k in suggested)


def test_missing_and_unconfirmed_lines_say_what_to_do(make_window, images):
    """The dock listed "Missing: month" and "To confirm: water" without saying how to set them; each line names
    the action (the dock's own buttons, by their text)."""
    from PyQt5 import QtGui

    win = make_window(images / "a_scene.tif")
    dock = win.caption_dock

    def status():
        return QtGui.QTextDocumentFragment.fromHtml(dock.status.text()).toPlainText()

    missing = status().split("\n")[0]
    assert missing.startswith("Missing:") and "pick them above" in missing
    assert dock.suggest_button.text() in missing
    dock.run_suggest()
    line = next(t for t in status().split("\n") if t.startswith("To confirm:"))
    assert all(k in line for k in dock.unconfirmed())
    assert dock.accept_button.text() in line


def test_evidence_tooltips_are_readable_lines(make_window, images):
    """A suggestion's evidence shows as ``name: value`` lines, numbers rounded, never the raw JSON dict."""
    win = make_window(images / "a_scene.tif")
    dock = win.caption_dock
    dock.run_suggest()
    key = dock.unconfirmed()[0]
    evidence = dock.keywords[key].evidence
    tip = dock.badges[key].toolTip()
    assert "{" not in tip and "'" not in tip and "\"" not in tip
    lines = tip.splitlines()
    assert lines.pop(0) == f"confidence: {dock.keywords[key].confidence:.0%}"  # the badge says "suggested"
    assert dock.badges[key].text().endswith(">suggested</span>")
    assert len(lines) == len(evidence)
    for line, (name, value) in zip(lines, evidence.items()):
        assert line.startswith(f"{str(name).replace('_', ' ')}: ")
        if isinstance(value, float):
            assert line.endswith(f"{value:.3g}")
    assert "evidence:\n" + "\n".join(lines) in dock.pickers[key].toolTip()


def test_caption_values_are_never_cut_silently(make_window, images, qtbot):
    """The closed picker shows the English value whole when it fits, else elided with an ellipsis; the list
    and the tooltip keep English / 中文."""
    from PyQt5 import QtGui, QtWidgets

    win = make_window(images / "a_scene.tif")
    win.show()
    qtbot.waitExposed(win)
    dock = win.caption_dock
    vocab = dock.vocab
    picker = dock.pickers["vegetation"]
    longest = max(vocab.values("vegetation").items(), key=lambda kv: len(kv[1]["en"]))
    picker.setCurrentIndex(picker.findData(longest[0]))
    words = longest[1]
    assert picker.shown_text() == words["en"]
    assert picker.itemText(picker.currentIndex()) == f"{words['en']} / {words['zh']}"
    assert f"{words['en']} / {words['zh']}" in picker.toolTip()
    opt = QtWidgets.QStyleOptionComboBox()
    picker.initStyleOption(opt)
    field = picker.style().subControlRect(QtWidgets.QStyle.CC_ComboBox, opt,
                                          QtWidgets.QStyle.SC_ComboBoxEditField, picker).width()
    metrics = QtGui.QFontMetrics(picker.font())
    elided = metrics.elidedText(words["en"], QtCore.Qt.ElideRight, field)
    assert elided == words["en"] or elided.endswith("\u2026")
    # short values fit whole at the test window's size (1400 px wide): the longest month, say
    month = dock.pickers["month"]
    month.setCurrentIndex(month.findData("september"))
    assert month.shown_text() == "September" and metrics.horizontalAdvance("September") <= field


def test_embedding_cache_hit_on_reopen(make_window, images, session, tiny_checkpoint, tmp_path, qtbot, wait_ready):
    first = make_window(images / "b_field.png", session=session)
    wait_ready(first)
    reopened_session = SamSession.from_checkpoint(tiny_checkpoint, cache=EmbeddingCache(tmp_path / "cache"))
    reopened_session.compute_embedding = lambda rgb, **_: pytest.fail("embedding recomputed on reopen")
    second = make_window(images / "b_field.png", session=reopened_session)
    assert second.sam_bridge.is_ready() and not second.sam_bridge.busy()
    assert "from cache" in second.sam_status.text()


def test_gui_thread_not_blocked_while_embedding(make_window, images, tmp_path, qtbot, wait_ready):
    # a real encoder at SAM's full 1024 px input: about a second of CPU work per image
    slow = SamSession.random(SamConfig(32, 2, 2, (1,), img_size=1024), cache=EmbeddingCache(tmp_path / "c2"))
    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    t0 = time.perf_counter()
    win = make_window(images / "b_field.png", session=slow)
    assert win.sam_bridge.busy()  # the embedding runs in the background...
    assert time.perf_counter() - t0 < 5
    ticks.clear()
    wait_ready(win)
    timer.stop()
    gaps = np.diff(ticks)
    assert len(ticks) > 20
    assert gaps.max() < 0.5, f"GUI thread stalled for {gaps.max():.2f} s"


def test_click_before_embedding_is_ready_says_so(make_window, images, tmp_path, qtbot, wait_ready):
    slow = SamSession.random(SamConfig(32, 2, 2, (1,), img_size=1024), cache=EmbeddingCache(tmp_path / "c3"))
    win = make_window(images / "b_field.png", session=slow)
    win.show()
    qtbot.waitExposed(win)
    win._switch_canvas_mode(edit=False, create_mode="ai_points_to_shape")
    _select_label(win, "farmland")
    t0 = time.perf_counter()
    _click(qtbot, win, 45, 30)
    assert time.perf_counter() - t0 < 0.5  # no freeze: the click returns at once
    assert _shapes(win) == []
    assert "computing" in win.sam_status.text()
    wait_ready(win)


def test_status_after_a_click_says_ready_again(make_window, images, session, qtbot, wait_ready, monkeypatch):
    """"SAM: segmenting" lasts while the click's field is made: once it is added, or the click is cancelled
    (Esc), the status says SAM is ready again (it said "segmenting" for the rest of the image)."""
    win = make_window(images / "b_field.png", session=session)
    win.show()
    qtbot.waitExposed(win)
    wait_ready(win)
    gate = threading.Event()
    field_rings = win.sam_bridge.field_rings

    def held(*args, **kwargs):  # the click's field is made once the test lets it
        gate.wait(20)
        return field_rings(*args, **kwargs)

    monkeypatch.setattr(win.sam_bridge, "field_rings", held)
    win._switch_canvas_mode(edit=False, create_mode="ai_points_to_shape")
    _select_label(win, "farmland")
    _click(qtbot, win, 45, 30)  # Ctrl+click: finish when the worker has the field
    assert "segmenting" in win.sam_status.text()
    qtbot.keyClick(win._canvas_widgets.canvas, QtCore.Qt.Key_Escape)  # cancelled while it is made
    assert win.sam_status.text() == "SAM ready on b_field.png"
    gate.set()
    qtbot.waitUntil(lambda: not win._canvas_widgets.canvas._farmannot_worker().busy(), timeout=20000)
    assert _shapes(win) == []  # the cancelled click adds nothing
    _click(qtbot, win, 45, 30)
    qtbot.waitUntil(lambda: bool(_shapes(win)), timeout=20000)
    assert win.sam_status.text() == "SAM ready on b_field.png"


def test_without_checkpoint_gui_works_and_says_how(make_window, images, qtbot):
    win = make_window(images / "b_field.png")
    win.show()
    qtbot.waitExposed(win)
    win._switch_canvas_mode(edit=False, create_mode="ai_points_to_shape")
    _select_label(win, "farmland")
    _click(qtbot, win, 45, 30)
    assert _shapes(win) == []
    assert "--sam-checkpoint" in win.sam_status.text()
    win._switch_canvas_mode(edit=False, create_mode="rectangle")  # labelme's own tools still work
    _click(qtbot, win, 10, 10, QtCore.Qt.NoModifier)
    _click(qtbot, win, 40, 30, QtCore.Qt.NoModifier)
    assert [s.shape_type for s in _shapes(win)] == ["rectangle"]


def test_time_log_and_report(make_window, images, qtbot):
    from click.testing import CliRunner

    from farmannot.cli.main import cli

    win = make_window(images)
    assert win._image_path.endswith("a_scene.tif")
    win._fa_visit["timer"].active_s = 42.0
    win._open_next_image()
    qtbot.waitUntil(lambda: win._image_path.endswith("b_field.png"))
    log = images / ".farmannot" / "annotation-times.jsonl"
    rec = json.loads(log.read_text().splitlines()[0])
    assert rec["image"] == "a_scene.tif" and rec["active_s"] == 42.0 and rec["sam_shapes"] == 0
    res = CliRunner().invoke(cli, ["annotate", "--report-times", str(images)], obj={})
    assert res.exit_code == 0, res.output
    assert "a_scene.tif" in res.output and "images: 1" in res.output


def test_unreadable_raster_shows_a_dialog(make_window, images, qtbot):
    bad = images / "c_broken.tif"
    bad.write_bytes(b"II*\x00garbage")
    win = make_window(images / "b_field.png")
    win._load_file(str(bad))
    assert any("c_broken.tif" in box.text() for box in win._fa_errors)
    assert win.isEnabled()


def test_field_holes_become_background_shapes_after_the_field(make_window, images, qtbot):
    from labelme._shape import Shape
    from PyQt5.QtCore import QPointF

    win = make_window(images / "b_field.png")
    canvas = win._canvas_widgets.canvas
    # what the canvas holds after an AI click (see Canvas._finalize): a new unlabelled shape, backed up
    field = Shape(shape_type="polygon")
    field.points = [QPointF(*p) for p in [(10, 10), (80, 10), (80, 50), (10, 50)]]
    field.other_data = {"farmannot": {"holes": [[[30, 20], [40, 20], [40, 30], [30, 30]]]}}
    field.close()
    canvas.shapes.append(field)
    canvas.backup_shapes()
    _select_label(win, "farmland")  # else labelme asks for a label in a modal dialog
    canvas.new_shape.emit()
    labels = [s.label for s in _shapes(win)]
    assert labels == ["farmland", "_background_"]  # painted after the field, so it cuts the hole
    assert "farmannot" not in field.other_data
    hole = _shapes(win)[1]
    assert [(p.x(), p.y()) for p in hole.points] == [(30, 20), (40, 20), (40, 30), (30, 30)]
    label = images / "b_field.json"
    assert win.save_labels(str(label))
    from labelme.utils import shape_to_mask

    from farmannot.io.labelme_json import load_annotation

    ann = load_annotation(label)
    assert [s.label for s in ann.shapes] == ["farmland", "_background_"]
    # labelme's converters: later shapes paint over earlier ones
    m = shape_to_mask((64, 96), [tuple(p) for p in ann.shapes[0].points], "polygon")
    m &= ~shape_to_mask((64, 96), [tuple(p) for p in ann.shapes[1].points], "polygon")
    assert not m[25, 35] and m[15, 15]


def test_sam_field_with_holes_is_one_undo_step(make_window, images, session, qtbot, wait_ready, monkeypatch):
    """A SAM click (tiny random SAM, labelme's AI-Points tool) whose field has a hole: one Undo takes both
    away, and autosave writes no per-shape ``farmannot`` key."""
    win = make_window(images / "b_field.png", session=session)
    win.show()
    qtbot.waitExposed(win)
    wait_ready(win)
    made = []
    orig = session.predict
    speckles = np.random.default_rng(0).random((64, 96)) < 0.05

    def predict(emb, points, labels):  # SAM runs; its mask is replaced by a field with a hole, and speckles
        orig(emb, points, labels)
        mask = speckles.copy()
        mask[10:50, 10:80] = True
        mask[20:30, 30:40] = False
        made.append(threading.current_thread())
        return mask, 0.9

    monkeypatch.setattr(session, "predict", predict)
    win._switch_canvas_mode(edit=False, create_mode="ai_points_to_shape")
    _select_label(win, "farmland")
    assert not win._actions.undo.isEnabled()
    _click(qtbot, win, 45, 30)
    qtbot.waitUntil(lambda: bool(_shapes(win)), timeout=20000)
    assert made  # the real click path ran
    assert all(t is not threading.main_thread() for t in made)  # mask -> polygons off the GUI thread
    assert [s.label for s in _shapes(win)] == ["farmland", "_background_"]  # the field and its hole, no speckle
    hole = shape_to_mask((64, 96), [(p.x(), p.y()) for p in _shapes(win)[1].points], "polygon")
    assert hole[22:28, 32:38].all() and hole.sum() <= 10 * 10  # labelme fills the hole's pixels
    saved = json.loads((images / "b_field.json").read_text(encoding="utf-8"))  # autosave (labelme's default)
    assert [s["label"] for s in saved["shapes"]] == ["farmland", "_background_"]
    assert not any("farmannot" in s for s in saved["shapes"])
    assert win._actions.undo.isEnabled()
    win._actions.undo.trigger()
    assert _shapes(win) == [] and win._canvas_widgets.canvas.shapes == []
    assert not win._actions.undo.isEnabled()
    assert json.loads((images / "b_field.json").read_text(encoding="utf-8"))["shapes"] == []  # the undo is saved


def test_hole_filled_by_an_earlier_field_gets_no_background_shape(make_window, images, qtbot):
    from labelme._shape import Shape
    from PyQt5.QtCore import QPointF

    win = make_window(images / "b_field.png")
    canvas = win._canvas_widgets.canvas

    def polygon(pts, label=None, holes=None):
        s = Shape(label=label, shape_type="polygon")
        s.points = [QPointF(*p) for p in pts]
        if holes:
            s.other_data = {"farmannot": {"holes": holes}}
        s.close()
        return s

    inner = polygon([(30, 20), (40, 20), (40, 30), (30, 30)], "farmland")
    win._load_shapes([inner], replace=False)
    field = polygon([(10, 10), (80, 10), (80, 50), (10, 50)], holes=[[[30, 20], [40, 20], [40, 30], [30, 30]]])
    canvas.shapes.append(field)
    canvas.backup_shapes()
    _select_label(win, "farmland")
    canvas.new_shape.emit()
    assert [s.label for s in _shapes(win)] == ["farmland", "farmland"]  # no _background_ over the inner field
    assert "farmannot" not in field.other_data


def test_display_dock_nodata_and_percentiles(make_window, tmp_path, qtbot):
    """A raw Landsat-named file with a DN-0 collar and no nodata tag: the dock shows the collar left out
    (auto), and its nodata / percentile settings re-render the scene."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    data = np.stack([rng.normal(m, 500, (120, 120)) for m in (9000, 9800, 10600)]).clip(1).astype(np.uint16)
    data[:, :15, :] = data[:, -15:, :] = data[:, :, :15] = data[:, :, -15:] = 0
    path = tmp_path / "LC08_L1TP_224078_20200518_20200518_01_RT.tif"
    with rasterio.open(path, "w", driver="GTiff", width=120, height=120, count=3, dtype="uint16",
                       crs="EPSG:32721", transform=from_origin(0, 0, 30, 30)) as dst:
        dst.write(data)
    win = make_window(path)
    pic = win._fa_picture
    assert pic.bands == [3, 2, 1] and pic.stretch["low"][0] > 5000  # red first; the collar left out
    dock = win.display_dock
    assert dock.nodata.text() == "auto" and dock.percentiles() == (2.0, 98.0)
    dock.nodata.setText("none")
    dock.apply_button.click()
    assert win._fa_picture.stretch["low"][0] == 0.0  # every pixel counted: the zeros pull the low end down
    dock.nodata.setText("0")
    dock.low.setValue(10.0)
    dock.apply_button.click()
    inner = data[2, 15:-15, 15:-15].astype(np.float64)
    assert win._fa_picture.stretch["low"][0] == pytest.approx(np.percentile(inner, 10), rel=0.01)
    dock.nodata.setText("zero")
    dock.apply_button.click()
    assert "not understood" in dock.info.text()  # a bad value is said, nothing re-rendered


def test_x_anylabeling_keys(make_window, images, session, qtbot, wait_ready, monkeypatch):
    """Q / E / R / B / F drive labelme's AI tools; E makes clicks negative without Shift; Shift+D opens the
    next image without an annotation."""
    win = make_window(images / "b_field.png", session=session)
    win.show()
    qtbot.waitExposed(win)
    wait_ready(win)
    canvas = win._canvas_widgets.canvas
    prompts = []
    field_rings = win.sam_bridge.field_rings

    def recorded(image, points, labels, existing=()):  # the click worker's prompt
        prompts.append(labels)
        return field_rings(image, points, labels, existing)

    monkeypatch.setattr(win.sam_bridge, "field_rings", recorded)
    keys = win.farmannot_keys
    assert {n: a.shortcut().toString() for n, a in keys.items()} == {
        "positive": "Q", "negative": "E", "box": "R", "clear": "B", "finish": "F",
        "next_unannotated": "Shift+D", "prev_unannotated": "Shift+A"}
    keys["box"].trigger()
    assert canvas.create_mode == "ai_box_to_shape"
    assert "(R)" in win._actions.create_ai_box_to_shape_mode.toolTip()
    keys["positive"].trigger()
    assert canvas.create_mode == "ai_points_to_shape" and not canvas.farmannot_negative
    _select_label(win, "farmland")
    _click(qtbot, win, 45, 30, modifier=QtCore.Qt.NoModifier)  # positive
    keys["negative"].trigger()
    assert canvas.farmannot_negative
    _click(qtbot, win, 5, 5, modifier=QtCore.Qt.NoModifier)  # negative, no Shift held
    assert canvas._current is not None and canvas._current.point_labels == [1, 0]
    keys["clear"].trigger()  # clear the prompt
    assert canvas._current is None
    keys["positive"].trigger()
    _click(qtbot, win, 45, 30, modifier=QtCore.Qt.NoModifier)
    keys["finish"].trigger()  # finish: SAM's field of the points given (the preview may have it already)
    qtbot.waitUntil(lambda: canvas._current is None, timeout=20000)
    assert prompts and list(prompts[-1]) == [1]
    # Shift+D: the next image without an annotation (b_field now has one, autosaved; a_scene has none)
    assert (images / "b_field.json").is_file() and not (images / "a_scene.json").exists()
    keys["next_unannotated"].trigger()
    qtbot.waitUntil(lambda: win._image_path.endswith("a_scene.tif"), timeout=5000)
    keys["next_unannotated"].trigger()
    assert win._image_path.endswith("a_scene.tif")  # b_field has its annotation: nothing else to open
    assert "Every image" in win.statusBar().currentMessage()



def test_a_click_in_a_fields_hole_segments_the_hole(make_window, images, session, qtbot, wait_ready, monkeypatch):
    """Holes are free: a field drawn with a farmstead hole (a ``_background_`` shape after it), then a click in
    the farmstead whose SAM mask spills over the field gives the farmstead only (labelme's rasteriser judges)."""
    from labelme._shape import Shape
    from PyQt5.QtCore import QPointF

    win = make_window(images / "b_field.png", session=session, simplify_px=0.0)
    wait_ready(win)
    canvas = win._canvas_widgets.canvas

    def polygon(pts, label):
        s = Shape(label=label, shape_type="polygon")
        s.points = [QPointF(x, y) for x, y in pts]
        s.close()
        return s

    # labelme vertices (pixel centres): the field fills x 10-79, y 10-49; the hole x 30-39, y 20-29
    canvas.shapes.extend([polygon([(10, 10), (79, 10), (79, 49), (10, 49)], "farmland"),
                          polygon([(30, 20), (39, 20), (39, 29), (30, 29)], "_background_")])

    def predict(emb, points, labels):  # the farmstead and a 5 px ring of the field around it
        mask = np.zeros((64, 96), bool)
        mask[15:35, 25:45] = True
        return mask, 0.9

    monkeypatch.setattr(session, "predict", predict)
    win._switch_canvas_mode(edit=False, create_mode="ai_points_to_shape")
    (new,) = canvas._shapes_from_ai_points([QPointF(35.5, 25.5)], [1])
    got = shape_to_mask((64, 96), [(p.x(), p.y()) for p in new.points], "polygon")
    hole = np.zeros((64, 96), bool)
    hole[20:30, 30:40] = True
    assert (got == hole).all()


def test_next_image_is_embedded_on_the_background_thread_budget(make_window, images, session, qtbot, wait_ready,
                                                                 monkeypatch):
    """The open image's embedding uses every core; the next image's (a prefetch) leaves the clicks theirs."""
    calls = []
    embed = session.embed

    def recorded(rgb, key=None, parts=None, background=False):
        calls.append((rgb.shape[:2], background))
        return embed(rgb, key=key, parts=parts, background=background)

    monkeypatch.setattr(session, "embed", recorded)
    win = make_window(images / "a_scene.tif", session=session)  # the next image is b_field.png (64 x 96)
    wait_ready(win)
    qtbot.waitUntil(lambda: len(calls) == 2 and not win.sam_bridge.busy(), timeout=60000)
    shown = win.sam_bridge.current_rgb.shape[:2]
    assert calls == [(shown, False), ((64, 96), True)]


def test_a_narrowed_window_keeps_room_for_the_image(make_window, images, qtbot, monkeypatch):
    """Narrowing the window took the width from the image alone (docks kept their size): at 800 px wide the
    image area was 71 px. The side docks give way so the image keeps a usable share."""
    from PyQt5 import QtWidgets

    class Screen:  # a 1920 x 1080 desktop: the first start puts the caption dock left, the file list right
        def availableGeometry(self):  # noqa: N802 - Qt name
            return QtCore.QRect(0, 0, 1920, 1080)

    monkeypatch.setattr(QtWidgets.QApplication, "primaryScreen", staticmethod(lambda: Screen()))
    settings = QtCore.QSettings("labelme", "labelme")  # a first start: no layout saved by earlier tests
    for key in ("window/state", "window/size"):
        settings.remove(key)
    settings.sync()
    win = make_window(images / "b_field.png")
    assert win.dockWidgetArea(win.caption_dock) == QtCore.Qt.LeftDockWidgetArea
    win.show()
    qtbot.waitExposed(win)
    win.resize(1600, 900)
    qtbot.waitUntil(lambda: win.width() == 1600)
    wide = win.centralWidget().width()
    assert wide >= 0.4 * win.width()
    # below 1200 px the caption joins the file list's tabs (a first start's small-screen layout); before: the
    # image area was 197 px of 1100, 71 px of 800, and the docks were cut
    for width, share in ((1100, 0.4), (800, 0.35)):
        win.resize(width, 700)
        qtbot.waitUntil(lambda w=width: win.width() == w)
        qtbot.wait(100)
        area = win.centralWidget()
        assert area.width() >= share * win.width(), (width, area.width())
        # the image is fitted in it, not shrunk to a thumbnail (labelme's fit-window zoom)
        canvas = win._canvas_widgets.canvas
        assert canvas.pixmap.width() * canvas.scale >= 0.5 * area.width()
        _assert_side_docks_whole(win)
    assert win.dockWidgetArea(win.caption_dock) == QtCore.Qt.RightDockWidgetArea
    assert win.caption_dock in win.tabifiedDockWidgets(win._docks.file_dock)
    assert not win.caption_dock.visibleRegion().isEmpty()  # the tab shown: it was in view before
    win.resize(1600, 900)  # widened again: the caption goes back to the left
    qtbot.waitUntil(lambda: win.dockWidgetArea(win.caption_dock) == QtCore.Qt.LeftDockWidgetArea)
    qtbot.wait(100)
    assert win.centralWidget().width() >= 0.4 * win.width()
    _assert_side_docks_whole(win)


def _assert_side_docks_whole(win):
    """Nothing in the caption and drafts docks is cut at the right edge: the caption's content fits its scroll
    area's width (it has no horizontal scroll bar), each badge and button is as wide as its text."""
    from PyQt5 import QtGui, QtWidgets

    def text_width(widget, text):
        return QtGui.QFontMetrics(widget.font()).horizontalAdvance(text)

    scroll = win.caption_dock.widget()
    assert scroll.widget().width() <= scroll.viewport().width()
    for key, badge in win.caption_dock.badges.items():
        plain = QtGui.QTextDocumentFragment.fromHtml(badge.text()).toPlainText()
        assert badge.width() >= text_width(badge, plain), key
        assert badge.geometry().right() <= scroll.viewport().width()
    drafts = win.drafts_dock
    assert drafts.isVisible()
    for button in drafts.findChildren(QtWidgets.QPushButton):
        assert button.width() >= text_width(button, button.text()) + 4, button.text()
        assert button.geometry().right() <= drafts.widget().width(), button.text()


def test_cancelled_change_of_image_keeps_the_file_list_on_the_shown_image(make_window, images, qtbot, monkeypatch):
    """labelme --no-auto-save: Next, "Save annotations?" answered Cancel. The file list stayed on the image not
    opened, so the title counted from it and a second Next went nowhere (or skipped an image)."""
    from PyQt5 import QtWidgets

    win = make_window(images, config={"auto_save": False})
    first, second = win.image_list
    assert win._image_path == first
    picker = win.caption_dock.pickers["shape"]
    picker.setCurrentIndex(picker.findData("blocky"))  # an unsaved edit
    assert win._is_changed
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *a, **k: QtWidgets.QMessageBox.Cancel)
    win._open_next_image()
    assert win._image_path == first and win._is_changed
    assert win._docks.file_list.currentRow() == 0
    assert win.windowTitle().endswith("[1/2]*")  # labelme's title: the shown image's place, unsaved
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *a, **k: QtWidgets.QMessageBox.Discard)
    win._open_next_image()
    assert win._image_path == second and win._docks.file_list.currentRow() == 1
    assert not (images / "a_scene.json").exists()  # discarded: nothing written


def test_closing_during_a_click_writes_nothing_after(make_window, images, session, qtbot, wait_ready, monkeypatch):
    """Ctrl+click, then the window is closed before the field is made: the field arrived after the close, was
    added and autosaved into an annotation nobody saw. A closed window writes nothing."""
    win = make_window(images / "b_field.png", session=session)
    win.show()
    qtbot.waitExposed(win)
    wait_ready(win)
    gate, done = threading.Event(), threading.Event()
    field_rings = win.sam_bridge.field_rings

    def held(*args, **kwargs):
        gate.wait(20)
        try:
            return field_rings(*args, **kwargs)
        finally:
            done.set()

    monkeypatch.setattr(win.sam_bridge, "field_rings", held)
    win._switch_canvas_mode(edit=False, create_mode="ai_points_to_shape")
    _select_label(win, "farmland")
    _click(qtbot, win, 45, 30)  # Ctrl+click: the shape waits for the worker
    assert "segmenting" in win.sam_status.text()
    assert win.close()
    gate.set()
    qtbot.waitUntil(done.is_set, timeout=20000)
    qtbot.wait(300)  # the worker's answer reaches the GUI thread
    assert not (images / "b_field.json").exists()
    assert _shapes(win) == []


def test_status_names_the_open_image_when_the_next_has_the_same_pixels(make_window, images, session, qtbot,
                                                                          wait_ready):
    """The next image (embedded in advance) is a copy of the open one: the status said "SAM ready on" the copy."""
    import shutil

    (images / "a_scene.tif").unlink()
    shutil.copy(images / "b_field.png", images / "c_copy.png")
    win = make_window(images, session=session)
    assert [p.rsplit("/", 1)[-1] for p in win.image_list] == ["b_field.png", "c_copy.png"]
    wait_ready(win)
    qtbot.waitUntil(lambda: not win.sam_bridge.busy(), timeout=30000)
    qtbot.wait(200)  # the prefetch's answer reaches the GUI thread
    assert win.sam_status.text().startswith("SAM ready on b_field.png")


def test_a_refused_location_says_it_is_not_saved(make_window, images, qtbot):
    """A location typed wrong was refused with a tooltip that vanished, the text left in the field as if taken:
    the field showed one value and the annotation kept another. The badge and the status now say so."""
    import hashlib

    from PyQt5 import QtGui

    from farmannot.captions.schema import load_vocabulary
    from farmannot.errors import FarmannotError

    win = make_window(images / "a_scene.tif")  # autosave on: a taken value is written at once
    dock = win.caption_dock
    field, badge = dock.pickers["location"], dock.badges["location"]
    auto = dock.keywords["location"].value  # from the GeoTIFF
    saved = images / "a_scene.json"
    picker = dock.pickers["shape"]
    picker.setCurrentIndex(picker.findData("blocky"))  # an edit: the annotation exists
    before = hashlib.sha256(saved.read_bytes()).hexdigest()
    with pytest.raises(FarmannotError) as refused:
        load_vocabulary().check("location", "95°N, 10°E")
    field.setText("95°N, 10°E")
    field.editingFinished.emit()
    assert field.text() == "95°N, 10°E"  # left to be corrected
    status = QtGui.QTextDocumentFragment.fromHtml(dock.status.text()).toPlainText()  # as the label shows it
    assert str(refused.value) in status and auto in status
    assert "not saved" in badge.text() and str(refused.value) in badge.toolTip()
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == before  # nothing written
    field.setText("12.50°N, 3.20°W")  # corrected: taken and saved
    field.editingFinished.emit()
    on_disk = json.loads(saved.read_text(encoding="utf-8"))["farmannot"]["caption"]["keywords"]["location"]
    assert on_disk["value"] == "12.50°N, 3.20°W" and on_disk["source"] == "confirmed"
    assert "not saved" not in badge.text() and "Not saved" not in dock.status.text()
