"""The labelme 6.3 internals the plugin relies on are still there (labelme has no plugin API)."""

from __future__ import annotations

import inspect

import labelme
import osam
from labelme.app import MainWindow
from labelme.widgets import Canvas

from farmannot_labelme.sam_bridge import MODEL_NAME


def test_labelme_version_and_hooks():
    assert labelme.__version__.startswith("6.3.")
    for name in ("_open_image_into_state", "_open_label_file_into_state", "_load_file", "save_labels",
                 "_load_from_file_or_dir", "_on_inference_produced_no_shapes", "show_status_message",
                 "mark_dirty", "image_list", "_can_continue", "_set_zoom", "set_scroll_value",
                 "current_label_file_path", "_import_images_from_dir", "_get_window_title", "_adjust_scale",
                 "_file_list_item_selection_changed"):
        assert hasattr(MainWindow, name), name
    for name in ("_render_layers", "_compute_image_origin_offset"):  # the suspects dock's paint layer
        assert hasattr(Canvas, name), name
    from labelme.app import _ZoomMode  # noqa: F401 - the suspects dock zooms with it
    assert list(inspect.signature(MainWindow.save_labels).parameters) == ["self", "label_path"]
    assert list(inspect.signature(Canvas._shapes_from_ai_points).parameters) == ["self", "points", "point_labels"]
    assert "self._get_osam_session().run(" in inspect.getsource(Canvas._shapes_from_ai_points)
    assert "other_data=self._other_data" in inspect.getsource(MainWindow.save_labels)
    # autosave writes labelme's _resolve_label_path (beside the image): the window's mark_dirty replaces it
    assert "_resolve_label_path(" in inspect.getsource(MainWindow.mark_dirty)
    assert isinstance(osam.apis.registered_model_types, list)
    import labelme.__main__ as labelme_main

    assert "MainWindow(" in inspect.getsource(labelme_main.main)


def test_window_opens_with_docks_and_model(make_window):
    win = make_window()
    assert win.caption_dock.windowTitle() == "Caption"
    assert win.display_dock.windowTitle() == "Display"
    assert win._canvas_widgets.canvas.get_ai_model_name() == MODEL_NAME
    assert osam.apis.get_model_type_by_name(MODEL_NAME).get_size() == 0  # labelme's download check passes
    assert "--sam-checkpoint" in win.sam_status.text()  # no checkpoint: says how to add one
    assert set(win.caption_dock.pickers) == {"shape", "boundary", "month", "sowing", "distribution", "location",
                                             "terrain", "landscape", "buildings", "water", "vegetation"}


def test_first_window_gives_the_image_most_of_the_width(qtbot, qt_home, sample_data):
    """A first start (no saved layout) at labelme's first size: the image gets most of the width."""
    from PyQt5 import QtCore, QtWidgets

    from farmannot_labelme.window import AnnotateOptions, FarmannotMainWindow

    # Qt keeps one settings file per process (HOME is a temp dir here): forget layouts earlier tests saved
    settings = QtCore.QSettings("labelme", "labelme")
    for key in ("window/state", "window/size"):
        settings.remove(key)
    settings.sync()
    win = FarmannotMainWindow(config_overrides={"labels": ["farmland"]}, file_or_dir=str(sample_data),
                              farmannot=AnnotateOptions(log_times=False))
    qtbot.addWidget(win)
    win.resize(900, 796)  # the first window size the issue measured
    win.fit_docks()
    win.show()
    qtbot.waitExposed(win)
    QtWidgets.QApplication.processEvents()
    assert win.centralWidget().width() >= 0.5 * win.width(), (win.centralWidget().width(), win.width())
    for dock in (win.caption_dock, win.display_dock, win.drafts_dock, win.scene_grid_dock):
        assert dock.minimumSizeHint().width() <= 240, dock.windowTitle()  # no dock demands a wide column
    # the caption is a fourth tab on the right here: the names still show whole down the column's edge
    (bar,) = [b for b in win.findChildren(QtWidgets.QTabBar) if b.isVisible() and b.count() == 4]
    assert {bar.tabText(i) for i in range(4)} == {"File List", "Display", "Views", "Caption"}
    for i in range(4):
        assert bar.tabRect(i).height() >= bar.fontMetrics().horizontalAdvance(bar.tabText(i)), bar.tabText(i)
    win.close()


def test_no_model_that_would_download_and_no_text_box_without_a_text_model(make_window, qtbot, monkeypatch):
    import osam

    win = make_window()
    combo = win._ai_annotation._model_combo
    names = [combo.itemData(i) for i in range(combo.count())]
    assert names[0] == MODEL_NAME
    for name in names[1:]:  # anything else offered is already on disk
        assert osam.apis.get_model_type_by_name(name).get_size() is not None, name
    assert win._fa_text_action is not None and not win._fa_text_action.isVisible()
    assert not win.text_prompt_capable()
    # a prompt submitted anyway (the box was shown by hand): a status message, no download dialog
    downloads = []
    monkeypatch.setattr("labelme.app.download_ai_model", lambda **k: downloads.append(k) or False)
    win._ai_text._model_combo.setCurrentIndex(0)
    win._submit_ai_prompt(False)
    assert downloads == [] and "never downloads" in win.statusBar().currentMessage()


def test_dock_tab_names_are_not_cut(make_window, qtbot):
    """The right column's tabs (file list, display, views and, on a small screen, the caption) run down its
    edge, so every name shows whole (side by side they need more than the column's width)."""
    from PyQt5 import QtWidgets

    win = make_window()
    win.fit_docks()
    win.show()
    qtbot.waitExposed(win)
    QtWidgets.QApplication.processEvents()
    bars = [b for b in win.findChildren(QtWidgets.QTabBar) if b.isVisible()
            and "Display" in [b.tabText(i) for i in range(b.count())]]
    assert len(bars) == 1
    bar = bars[0]
    assert bar.shape() in (QtWidgets.QTabBar.RoundedEast, QtWidgets.QTabBar.TriangularEast)
    for i in range(bar.count()):
        text = bar.tabText(i)
        assert bar.tabRect(i).height() >= bar.fontMetrics().horizontalAdvance(text), text  # length along the edge


def test_display_dock_rows_never_overlap(make_window, qtbot, sample_data):
    """A short tab group scrolls the Display dock; its stretch line and Apply button keep their own rows."""
    from PyQt5 import QtCore, QtWidgets

    win = make_window(sample_data / "scenes" / "LC08_L1TP_224078_20200518_20200518_01_RT_subset.tif", log_times=False)
    win.show()
    qtbot.waitExposed(win)
    dock = win.display_dock
    dock.raise_()
    win.resizeDocks([dock], [150], QtCore.Qt.Vertical)
    QtWidgets.QApplication.processEvents()
    assert "Scene-wide stretch" in dock.info.text()
    info, apply = dock.info.geometry(), dock.apply_button.geometry()
    assert info.height() >= dock.info.heightForWidth(info.width()) - 1  # the whole text has room
    assert info.bottom() < apply.top()
