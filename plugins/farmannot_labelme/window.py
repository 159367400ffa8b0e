"""The one place farmannot extends labelme: a subclass of ``labelme.app.MainWindow``.

What it overrides or touches in labelme 6.3.1 (checked by ``tests/plugins/test_labelme_hooks.py``):

- ``_open_image_into_state`` / ``_open_label_file_into_state``: rasters are rendered by farmannot (band
  choice, scene-wide stretch) and handed to labelme as PNG bytes;
- ``_load_file``: after labelme loads an image, SAM embeddings are queued, the caption restored, timing
  started;
- ``save_labels``: farmannot's block goes into ``_other_data["farmannot"]`` (labelme writes unknown top-level
  keys back) and the file is written under a temporary name, then renamed;
- the canvas instance gets :class:`FarmannotCanvas` as its class (``canvas.py``) and farmannot's model is
  added to the AI model chooser (``_ai_annotation._model_combo``): the SAM side, ``window_sam.SamMixin``.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from labelme.app import MainWindow
from PyQt5 import QtCore, QtGui, QtWidgets

from farmannot.errors import FarmannotError
from farmannot.io.atomic import atomic_path
from farmannot.labels.polygonize import DEFAULT_SIMPLIFY_PX
from farmannot.sam import annotation_time
from farmannot.sam.imagery import Picture, band_labels, is_raster_path, render_picture
from farmannot.sam.session import SamSession
from farmannot_labelme.annotation_home import AnnotationHome, is_project
from farmannot_labelme.caption_dock import CaptionDock
from farmannot_labelme.display_dock import DisplayDock
from farmannot_labelme.qimage import png_bytes, qimage_to_rgb
from farmannot_labelme.window_captions import CaptionMixin
from farmannot_labelme.window_sam import SamMixin

log = logging.getLogger(__name__)


class _NotSaved(Exception):
    """labelme's save reported failure (and showed it): the temporary file is dropped."""


@dataclass
class AnnotateOptions:
    """Everything farmannot adds to a labelme session (one home for each setting)."""

    session: SamSession | None = None
    bands: list[int] | None = None
    stretch: str = "auto"
    sensor: str | None = None
    nodata: float | str | None = "auto"  # "auto": the file's nodata, else a detected collar (io/stretch.py)
    percentiles: tuple[float, float] = (2.0, 98.0)
    simplify_px: float = DEFAULT_SIMPLIFY_PX
    min_area_px: float = 16.0
    keep_apart: bool = True
    farmland_labels: tuple[str, ...] = ("farmland",)
    dem: str | None = None  # terrain suggestions for every image; else a project scene's own DEM
    log_times: bool = True
    idle_after_s: float = 60.0
    install_excepthook: bool = False
    extra: dict = field(default_factory=dict)


class _Activity(QtCore.QObject):
    """Feeds input events of the application to the active-time counter."""

    _EVENTS = {QtCore.QEvent.MouseButtonPress, QtCore.QEvent.MouseMove, QtCore.QEvent.KeyPress,
               QtCore.QEvent.Wheel}

    def __init__(self, window: FarmannotMainWindow) -> None:
        super().__init__(window)
        self._window = window

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt name
        if event.type() in self._EVENTS and self._window._fa_visit is not None:
            self._window._fa_visit["timer"].touch()
        return False


class FarmannotMainWindow(SamMixin, CaptionMixin, MainWindow):
    """labelme's main window with SAM, the caption and display docks, GeoTIFF rendering and timing."""

    def __init__(self, config_file=None, config_overrides=None, file_or_dir=None, output_dir=None,
                 farmannot: AnnotateOptions | None = None) -> None:
        self._fa = farmannot or AnnotateOptions()
        self._fa_picture: Picture | None = None
        self._fa_visit: dict | None = None
        self._fa_errors: list[QtWidgets.QMessageBox] = []
        self._fa_extra_shapes: list[dict] = []
        suspects = (self._fa.extra or {}).get("suspects")
        project = suspects[0] if suspects else None
        if file_or_dir and Path(file_or_dir).is_dir() and is_project(file_or_dir):
            project, file_or_dir = Path(file_or_dir), str(Path(file_or_dir) / "scenes")  # annotate PROJECT
        self._fa_home = AnnotationHome(project, output_dir)
        # labelme would load file_or_dir inside its __init__, before our parts exist: load it afterwards
        super().__init__(config_file=config_file, config_overrides=config_overrides, file_or_dir=None,
                         output_dir=output_dir)
        self._fa_install()
        if self._fa.install_excepthook:
            self.install_excepthook()
        if file_or_dir:
            self._load_from_file_or_dir(file_or_dir=file_or_dir)

    # -- installation --------------------------------------------------------------------------------------

    def _fa_install(self) -> None:
        fa = self._fa
        render = {"bands": fa.bands, "stretch": fa.stretch, "sensor": fa.sensor, "nodata": fa.nodata,
                  "percentiles": tuple(fa.percentiles)}
        self._fa_install_sam(render)  # window_sam.py

        self.caption_dock = CaptionDock(suggest=self._fa_suggest, parent=self)
        self.caption_dock.changed.connect(self.mark_dirty)
        self.display_dock = DisplayDock(on_apply=self._fa_apply_display, parent=self)
        self.display_dock.set_values(fa.nodata, fa.percentiles)
        # the caption gets the full height left of the image; display choice sits with the file list
        self.addDockWidget(QtCore.Qt.LeftDockWidgetArea, self.caption_dock)
        self.addDockWidget(QtCore.Qt.RightDockWidgetArea, self.display_dock)
        self.tabifyDockWidget(self._docks.file_dock, self.display_dock)
        self._docks.file_dock.raise_()

        self._fa_activity = _Activity(self)
        QtWidgets.QApplication.instance().installEventFilter(self._fa_activity)
        # scene scale: large scenes as a grid of views, drafts (proposals) listed apart (scene_grid_dock.py)
        from farmannot_labelme.scene_grid_dock import install_scene_docks
        self.scene_grid_dock, self.drafts_dock = install_scene_docks(self)
        # audit suspects (farmannot annotate --suspects): opened at their tile in the scene annotation
        from farmannot_labelme.suspects_dock import install_suspects_dock
        self.suspects_dock = install_suspects_dock(self)
        from farmannot_labelme.shortcuts import install_shortcuts
        self.farmannot_keys = install_shortcuts(self)  # X-AnyLabeling's Q / E / R / B / F, Shift+D / Shift+A
        self._fa_first_layout()

    def _fa_first_layout(self) -> None:
        """First start (labelme has no saved layout): a window that fills the screen's free area and side docks
        of about a fifth of it each, so the image gets most of the width. Later starts keep the annotator's
        layout (labelme saves it on close)."""
        if self.settings.contains("window/state"):
            return
        screen = QtWidgets.QApplication.primaryScreen()
        if screen is not None:
            avail = screen.availableGeometry()
            self.resize(max(avail.width(), 900), max(avail.height(), 600))
            self.move(avail.topLeft())
        if self.width() < 1200:  # a small screen: one column of docks, the caption a tab on the right
            self.tabifyDockWidget(self._docks.file_dock, self.caption_dock)
            self._docks.file_dock.raise_()
        self.fit_docks()

    def fit_docks(self) -> None:
        """Side docks at about a fifth of the window width (the caption a quarter; at least what their content
        needs)."""
        side = min(max(int(self.width() * 0.19), 200), 360)
        caption = min(max(int(self.width() * 0.22), 240), 420)  # its values are long (English / Chinese)
        right = [d for d in (self._docks.file_dock, self._docks.shape_dock) if d.isVisible() or not self.isVisible()]
        self.resizeDocks([self.caption_dock, *right[:1]], [caption, side], QtCore.Qt.Horizontal)

    # -- errors: shown, never swallowed ----------------------------------------------------------------------

    def show_farmannot_error(self, title: str, message: str) -> QtWidgets.QMessageBox:
        """A non-blocking error dialog (the annotator's work stays open behind it)."""
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Critical, title, message, QtWidgets.QMessageBox.Ok, self)
        box.setModal(False)
        box.setAttribute(QtCore.Qt.WA_DeleteOnClose)
        box.finished.connect(lambda _r, b=box: self._fa_errors.remove(b) if b in self._fa_errors else None)
        self._fa_errors.append(box)
        box.show()
        log.error("%s: %s", title, message)
        return box

    def install_excepthook(self) -> None:
        """Unexpected errors go to a dialog and the log; the window stays open (labelme's hook quits)."""
        def hook(exc_type, exc, tb):
            if issubclass(exc_type, KeyboardInterrupt):
                sys.__excepthook__(exc_type, exc, tb)
                return
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            log.error("unexpected error\n%s", text)
            self.show_farmannot_error("Unexpected error",
                                      f"{exc}\n\nYour annotation is still open: save it (Ctrl+S).\n\n{text[-2000:]}")
        sys.excepthook = hook

    # -- image loading ---------------------------------------------------------------------------------------

    def _fa_render(self, path: str) -> Picture | None:
        try:
            return render_picture(path, bands=self._fa.bands, stretch=self._fa.stretch, sensor=self._fa.sensor,
                                  nodata=self._fa.nodata, percentiles=tuple(self._fa.percentiles))
        except FarmannotError as exc:
            self.show_farmannot_error("Cannot show image", str(exc))
            return None

    def _open_image_into_state(self, image_path: str) -> bool:
        self._fa_picture = None
        if not is_raster_path(image_path):
            return super()._open_image_into_state(image_path)
        pic = self._fa_render(image_path)
        if pic is None:
            return False
        self._fa_picture = pic
        self._image_data = png_bytes(pic.rgb)
        self._image_path = image_path
        self._label_file_path = None
        return True

    def _open_label_file_into_state(self, label_path: str):
        self._fa_picture = None
        data = super()._open_label_file_into_state(label_path)
        if data is not None and self._fa_extra_shapes:  # drafts opened with the project's annotation
            import dataclasses

            from labelme._label_file import _load_shape_json_obj

            try:
                extra = [_load_shape_json_obj(dict(d)) for d in self._fa_extra_shapes]
                data = dataclasses.replace(data, shapes=[*data.shapes, *extra])
            except (KeyError, TypeError, ValueError, AssertionError) as exc:
                self.show_farmannot_error("Drafts not added", f"{label_path}: {exc}")
        if data is not None and self._image_path and is_raster_path(self._image_path) \
                and Path(self._image_path).is_file():
            pic = self._fa_render(self._image_path)
            if pic is not None:
                self._fa_picture = pic
                self._image_data = png_bytes(pic.rgb)
        return data

    def _load_file(self, image_or_label_path: str) -> None:
        self._fa_end_visit()
        path = image_or_label_path
        images = self.image_list
        if path in images and self._docks.file_list.currentRow() != images.index(path):
            super()._load_file(path)  # labelme moves the file list; the row change calls back here
            return
        self._fa_home.output_dir = self._output_dir
        plan = self._fa_home.plan(path)  # annotation_home.py: the project's annotation, drafts added
        self._fa_extra_shapes = plan.extra_shapes
        try:
            super()._load_file(plan.open)
        finally:
            self._fa_extra_shapes = []
        canvas = self._canvas_widgets.canvas
        if self._image_path and not self._image.isNull() and canvas.isEnabled():
            if not canvas.shape_backups:  # an image without shapes: its empty state is what Undo goes back to
                canvas.backup_shapes()
            if plan.save_to:
                self._label_file_path = plan.save_to
                if not self._is_changed:
                    self.mark_clean()  # labelme's delete-file action follows the annotation's existence
            if plan.drafts_from:
                self.show_status_message(f"Opened {Path(plan.drafts_from).name} with the project's annotation; "
                                         f"saving writes {self._label_file_path}", 10000)
            if self._fa_visit is None:
                self._fa_after_load()

    # -- where the annotation lives (annotation_home.py) -------------------------------------------------------

    def annotation_path(self) -> str | None:
        """The file Save and autosave write for the open image: the opened or planned annotation, else
        labelme's rule (``--output`` or beside the image)."""
        if self._label_file_path:
            return self._label_file_path
        if not self._image_path:
            return None
        self._fa_home.output_dir = self._output_dir
        return self._fa_home.save_path(self._image_path)

    def current_label_file_path(self) -> str:
        return self.annotation_path() or super().current_label_file_path()

    def mark_dirty(self) -> None:
        """labelme's, except that autosave writes :meth:`annotation_path` (labelme's writes beside the image)."""
        if not (self._actions.save_auto.isChecked() and self._image_path):
            super().mark_dirty()
            return
        self._actions.undo.setEnabled(self._canvas_widgets.canvas.can_restore_shape)
        path = self.annotation_path()
        if self.save_labels(path):
            self.show_status_message(f"Saved {path}", 3000)
            return
        self._is_changed = True  # not saved: keep it dirty so closing asks
        self._actions.save.setEnabled(True)
        self.setWindowTitle(self._get_window_title(dirty=True))

    def _import_images_from_dir(self, root_dir: str | None, pattern: str | None = None) -> None:
        super()._import_images_from_dir(root_dir, pattern)
        self._fa_home.output_dir = self._output_dir
        for i in range(self._docks.file_list.count()):  # ticked: has an annotation where farmannot saves it
            item = self._docks.file_list.item(i)
            item.setCheckState(QtCore.Qt.Checked if self._fa_home.has_annotation(item.text())
                               else QtCore.Qt.Unchecked)

    def _fa_current_rgb(self):
        if self._fa_picture is not None:
            return self._fa_picture.rgb
        return qimage_to_rgb(self._canvas_widgets.canvas.pixmap.toImage())

    def _fa_next_path(self) -> str | None:
        images = self.image_list
        if self._image_path in images:
            i = images.index(self._image_path)
            if i + 1 < len(images):
                return images[i + 1]
        return None

    def _fa_after_load(self) -> None:
        path = self._image_path
        self.sam_bridge.prepare(self._fa_current_rgb(), Path(path).name, self._fa_next_path())
        pic = self._fa_picture
        try:
            labels = band_labels(path, self._fa.sensor) if pic is not None else []
        except FarmannotError:
            labels = []
        self.display_dock.show_picture(labels, pic.bands if pic else [], self._fa.stretch,
                                       pic.stretch if pic else None)
        self.caption_dock.load(self._fa_initial_keywords(path))
        self._fa_visit = {"image": path, "timer": annotation_time.ActiveTimer(self._fa.idle_after_s),
                          "sam_shapes": 0, "saved": False, "started": datetime.now(timezone.utc)}

    def undo_shape_edit(self) -> None:
        """labelme's Undo, then saved like any other edit (labelme's autosave would keep the undone shapes)."""
        super().undo_shape_edit()
        if self._image_path:
            self.mark_dirty()

    # -- display choice -------------------------------------------------------------------------------------

    def _fa_apply_display(self, bands: list[int] | None, stretch: str) -> None:
        self._fa.bands, self._fa.stretch = bands, stretch
        self._fa.nodata, self._fa.percentiles = self.display_dock.nodata_value(), self.display_dock.percentiles()
        self.sam_bridge.render_options.update(bands=bands, stretch=stretch, nodata=self._fa.nodata,
                                              percentiles=self._fa.percentiles)
        if not self._image_path or self._fa_picture is None:
            return
        pic = self._fa_render(self._image_path)
        if pic is None:
            return
        self._fa_picture = pic
        self._image_data = png_bytes(pic.rgb)
        image = QtGui.QImage.fromData(self._image_data)
        self._image = image
        self._canvas_widgets.canvas.load_pixmap(QtGui.QPixmap.fromImage(image), clear_shapes=False)
        self.display_dock.show_picture(band_labels(self._image_path, self._fa.sensor), pic.bands, stretch, pic.stretch)
        self.sam_bridge.prepare(pic.rgb, Path(self._image_path).name, self._fa_next_path())
        self.mark_dirty()

    # -- saving -----------------------------------------------------------------------------------------------

    def save_labels(self, label_path: str) -> bool:
        other = dict(self._other_data or {})
        other["farmannot"] = self.farmannot_block(label_path)
        self._other_data = other
        target = Path(label_path)
        try:
            # farmannot's atomic writer: temporary name beside the file, the umask's mode, then renamed
            with atomic_path(target) as tmp:
                if not super().save_labels(str(tmp)):
                    raise _NotSaved  # labelme said why; the old file stays
            ok = True
            self._label_file_path = str(target)
        except _NotSaved:
            ok = False
        except OSError as exc:
            self.show_farmannot_error("Error saving annotation", f"{target}: {exc}")
            ok = False
        if ok and self._fa_visit is not None:
            self._fa_visit["saved"] = True
        return ok

    # -- timing -----------------------------------------------------------------------------------------------

    def _fa_end_visit(self) -> None:
        visit, self._fa_visit = self._fa_visit, None
        if visit is None or not self._fa.log_times:
            return
        label_dir = Path(self.annotation_path() or visit["image"]).parent
        try:
            image = os.path.relpath(visit["image"], label_dir)
            n_shapes = sum(1 for item in self._docks.label_list if item.shape() is not None)
            rec = annotation_time.new_record(image, visit["timer"].active_s, n_shapes, visit["sam_shapes"],
                                             visit["saved"], visit["started"])
            annotation_time.append_record(label_dir, rec)
        except OSError as exc:
            self.show_status_message(f"Could not log annotation time in {label_dir}: {exc}", 8000)

    def closeEvent(self, a0: QtGui.QCloseEvent) -> None:
        super().closeEvent(a0)
        if a0.isAccepted():
            self._fa_end_visit()
            self._fa_close_sam()
            QtWidgets.QApplication.instance().removeEventFilter(self._fa_activity)
