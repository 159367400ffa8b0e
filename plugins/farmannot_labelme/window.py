"""The one place farmannot extends labelme: a subclass of ``labelme.app.MainWindow``.

What it overrides or touches in labelme 6.3.1 (checked by ``tests/plugins/test_labelme_hooks.py``), by side:

- loading (``window_loading.LoadingMixin``): ``_open_image_into_state`` / ``_open_label_file_into_state``
  render rasters with farmannot (band choice, scene-wide stretch, nodata) and hand labelme PNG bytes;
  ``_load_file`` opens the annotation the project reads, then queues SAM embeddings, restores the caption and
  starts timing; ``mark_dirty`` autosaves where the project reads; the display dock's choice;
- captions (``window_captions.CaptionMixin``) and timing (``window_timing.TimingMixin``, ``--report-times``);
- ``save_labels``: farmannot's block goes into ``_other_data["farmannot"]`` (labelme writes unknown top-level
  keys back) and the file is written under a temporary name, then renamed;
- the canvas instance gets :class:`FarmannotCanvas` as its class (``canvas.py``) and farmannot's model is
  added to the AI model chooser (``_ai_annotation._model_combo``): the SAM side, ``window_sam.SamMixin``.
"""

from __future__ import annotations

import logging
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from labelme.app import MainWindow
from PyQt5 import QtCore, QtGui, QtWidgets

from farmannot.io.atomic import atomic_path
from farmannot.io.stretch import DisplaySettings
from farmannot.labels.polygonize import DEFAULT_SIMPLIFY_PX
from farmannot.sam.imagery import Picture
from farmannot.sam.session import SamSession
from farmannot_labelme.annotation_home import AnnotationHome, is_project
from farmannot_labelme.caption_dock import CaptionDock
from farmannot_labelme.display_dock import DisplayDock
from farmannot_labelme.window_captions import CaptionMixin
from farmannot_labelme.window_loading import LoadingMixin
from farmannot_labelme.window_sam import SamMixin
from farmannot_labelme.window_timing import Activity as _Activity
from farmannot_labelme.window_timing import TimingMixin

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

    @property
    def display(self) -> DisplaySettings:
        """The display choice as one value: the canvas and the large-scene views both render with it."""
        return DisplaySettings(self.bands, self.stretch, self.nodata, self.percentiles)

    @display.setter
    def display(self, settings: DisplaySettings) -> None:
        self.bands = list(settings.bands) if settings.bands else None
        self.stretch, self.nodata, self.percentiles = settings.stretch, settings.nodata, settings.percentiles


class FarmannotMainWindow(SamMixin, CaptionMixin, LoadingMixin, TimingMixin, MainWindow):
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
        # looked up when applied, so the scene grid's wrapper of _fa_apply_display is the one called
        self.display_dock = DisplayDock(on_apply=lambda settings: self._fa_apply_display(settings), parent=self)
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
        layout (labelme saves it on close); dock tabs on the right run down the edge at any size, so their names
        are never cut (three or four tabs side by side need more than a side column's width)."""
        self.setTabPosition(QtCore.Qt.RightDockWidgetArea, QtWidgets.QTabWidget.East)
        for bar in self.findChildren(QtWidgets.QTabBar):  # whole names: the group keeps the height they need
            bar.setElideMode(QtCore.Qt.ElideNone)
            bar.setUsesScrollButtons(False)
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
        needs: the caption's whole badges and buttons, in its own column or as the tab shown on the right)."""
        side = min(max(int(self.width() * 0.19), 200), 360)
        need = self.caption_dock.content_width()
        caption = max(min(max(int(self.width() * 0.22), 240), 420), need)  # its values are long (English / Chinese)
        right = [d for d in (self._docks.file_dock, self._docks.shape_dock) if d.isVisible() or not self.isVisible()]
        if self.dockWidgetArea(self.caption_dock) != QtCore.Qt.LeftDockWidgetArea:  # a tab in the right column
            if self.__dict__.get("_fa_caption_folded"):  # put there by a narrowed window, the tab shown
                title = self.caption_dock.windowTitle()
                tabs = [b.width() for b in self.findChildren(QtWidgets.QTabBar)  # its tabs run down beside it
                        if b.isVisible() and title in {b.tabText(i) for i in range(b.count())}]
                self.resizeDocks([self.caption_dock], [need + max(tabs, default=0)], QtCore.Qt.Horizontal)
            else:
                self.resizeDocks(right[:1], [side], QtCore.Qt.Horizontal)
            return
        self.resizeDocks([self.caption_dock, *right[:1]], [caption, side], QtCore.Qt.Horizontal)

    #: Below this share of the window's width the image area is given room back from the side docks.
    MIN_IMAGE_SHARE = 0.4
    #: Narrower than this, the caption dock is a tab beside the file list (as on a first start on a small screen).
    NARROW_PX = 1200

    def resizeEvent(self, a0: QtGui.QResizeEvent) -> None:  # noqa: N802 - Qt name
        """labelme's (the image fitted again), and a narrowed window keeps room for the image: Qt takes a
        shrinking window's width from the image area alone, which left a sliver between docks of the old size
        (71 px of an 800 px window). The docks go back to :meth:`fit_docks` widths then, and below
        :attr:`NARROW_PX` the caption dock joins the file list's tabs (it goes back to the left when the window is
        widened again); a layout the annotator arranged with room for the image is left as it is."""
        super().resizeEvent(a0)
        old, new = a0.oldSize().width(), a0.size().width()
        if 0 <= new < old or (self.__dict__.get("_fa_caption_folded") and new >= self.NARROW_PX > old):
            QtCore.QTimer.singleShot(0, self._fa_keep_image_room)

    def _fa_keep_image_room(self) -> None:
        caption = self.caption_dock
        if self.__dict__.get("_fa_caption_folded") and self.width() >= self.NARROW_PX:
            self._fa_caption_folded = False
            self.addDockWidget(QtCore.Qt.LeftDockWidgetArea, caption)  # back where it was
            QtCore.QTimer.singleShot(0, self._fa_fit)  # sized once it is laid out there
        elif self.centralWidget().width() < self.MIN_IMAGE_SHARE * self.width():
            if (self.width() < self.NARROW_PX and not caption.isFloating()
                    and self.dockWidgetArea(caption) == QtCore.Qt.LeftDockWidgetArea):
                self.tabifyDockWidget(self._docks.file_dock, caption)
                caption.raise_()  # still the one shown
                self._fa_caption_folded = True
            self._fa_fit()

    def _fa_fit(self) -> None:
        self.fit_docks()
        QtCore.QTimer.singleShot(0, self._fa_refit)  # once the image area has its new size

    def _fa_refit(self) -> None:
        """labelme's fit-window / fit-width zoom for the image area's size now (labelme refits only when the
        window itself is resized)."""
        from labelme.app import _ZoomMode

        if not self._image.isNull() and self._zoom_mode != _ZoomMode.MANUAL_ZOOM:
            self._adjust_scale()

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

    # -- editing --------------------------------------------------------------------------------------------

    def undo_shape_edit(self) -> None:
        """labelme's Undo, then saved like any other edit (labelme's autosave would keep the undone shapes)."""
        super().undo_shape_edit()
        if self._image_path:
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

    # -- closing ---------------------------------------------------------------------------------------------

    def closeEvent(self, a0: QtGui.QCloseEvent) -> None:
        super().closeEvent(a0)
        if a0.isAccepted():
            self._fa_end_visit()
            self._fa_close_sam()
            QtWidgets.QApplication.instance().removeEventFilter(self._fa_activity)
