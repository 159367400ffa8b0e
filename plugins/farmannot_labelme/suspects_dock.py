"""Suspect labels from ``farmannot audit``, opened where they can be fixed: the scene annotations.

``farmannot annotate --suspects AUDIT_DIR`` reads ``AUDIT_DIR/suspects.json`` (written by
:func:`farmannot.train.audit.suspects_document`): the worst tiles, each with the project-relative path of its
scene's labelme annotation and its window ``[col_off, row_off, width, height]`` in scene pixels. The dock lists
them (rank, scene, score) with the audit's overlay of the selected one; selecting a suspect opens its scene's
annotation through labelme's own load path (``_can_continue`` first, so unsaved changes are asked about, then
``_load_file``), zooms and centres the canvas on the tile window and outlines it, with the out-of-fold
prediction (``oof/NAME.png``, > 50 %) as a magenta outline that cannot be edited (a paint layer added to the
canvas instance's ``_render_layers``, nothing in the annotation). Other suspects of the same scene get a thin
outline. In a large scene (scene-grid mode) the view holding the window is shown first
(:meth:`SceneGridDock.show_view`). *Next* / *Previous* (Alt+Right / Alt+Left) step through the list; *Label is right* (Alt+R) marks a suspect in
the audit's ``reviewed.json`` and moves on, *Take back mark* (Alt+U) removes the mark again.

Paths from ``suspects.json`` are resolved inside the project folder (annotations) and the audit folder
(out-of-fold maps); a path leaving them is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PyQt5 import QtCore, QtGui, QtWidgets

from farmannot.errors import InputError

SUSPECTS = "suspects.json"
#: The canvas shows about this many tile widths around the suspect window.
CONTEXT = 3.0
MAX_ZOOM = 8.0
WINDOW_RGB = (255, 200, 0)
MODEL_RGB = (255, 0, 255)  # the audit overlays' colour for the model's parcels


@dataclass(frozen=True)
class Suspect:
    """One suspect tile: where its label lives and how badly the out-of-fold model disagrees with it."""

    rank: int
    tile_id: str
    scene: str
    annotation: Path | None
    window: tuple[int, int, int, int] | None  # col_off, row_off, width, height (scene pixels)
    score: float
    region_disagreement: float = 0.0
    boundary_disagreement: float = 0.0
    oof: Path | None = None
    overlay: Path | None = None
    audit_dir: Path | None = None

    def label(self) -> str:
        return f"{self.rank}. {self.scene}  score {self.score:.3f}"


def resolve_inside(folder: Path, rel: str, what: str, source: Path) -> Path:
    """``folder / rel``, refusing absolute paths and ``..`` escapes (``source`` names the file for the error)."""
    p = Path(str(rel).replace("\\", "/"))
    base = folder.resolve()
    target = (base / p).resolve()
    if p.is_absolute() or not target.is_relative_to(base):
        raise InputError(f"{source}: {what} {rel!r} leaves {folder}; refusing to open it (paths in "
                         f"{SUSPECTS} must stay inside that folder).")
    return target


def load_suspects(audit_dir: str | Path, project: str | Path | None = None) -> tuple[Path, list[Suspect]]:
    """Read ``AUDIT_DIR/suspects.json`` and resolve its annotations inside the project folder.

    Args:
        audit_dir: the folder ``farmannot audit --output`` wrote.
        project: the project folder build-dataset read; default: the one ``suspects.json`` records.

    Returns:
        ``(project folder, suspects in rank order)``.

    Raises:
        InputError: no or unreadable ``suspects.json``, no project folder, a path leaving its folder, or
            annotations missing from the project.
    """
    audit = Path(audit_dir)
    path = audit / SUSPECTS
    if not path.is_file():
        raise InputError(f"{audit}: no {SUSPECTS}; give the folder `farmannot audit DATASET --output DIR` wrote "
                         "(an older audit: run it again).")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        rows = list(doc["suspects"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: unreadable ({exc}); run `farmannot audit` again.") from None
    if project is None:
        recorded = doc.get("project")
        if not recorded or not Path(recorded).is_dir():
            where = f"the recorded {recorded}" if recorded else "none recorded in the dataset's build_report.json"
            raise InputError(f"{path}: project folder not found ({where}); pass --project PROJECT_DIR (the folder "
                             "build-dataset read).")
        project = recorded
    proj = Path(project)
    if not proj.is_dir():
        raise InputError(f"{proj}: project folder not found; pass --project PROJECT_DIR (the folder build-dataset "
                         "read).")
    out = []
    for r in rows:
        try:
            ann = resolve_inside(proj, r["annotation"], "annotation", path) if r.get("annotation") else None
            oof = resolve_inside(audit, r["oof"], "out-of-fold map", path) if r.get("oof") else None
            window = tuple(int(v) for v in r["window"]) if r.get("window") else None
            rank, tile = int(r["rank"]), str(r["tile_id"])
            out.append(Suspect(rank, tile, str(r.get("scene", "unknown")), ann, window, float(r["score"]),
                               float(r.get("region_disagreement", 0.0)), float(r.get("boundary_disagreement", 0.0)),
                               oof, audit / "overlays" / f"{rank:03d}_{tile}.png", audit))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: a suspect entry is incomplete ({exc!r}); run `farmannot audit` again.") from None
    missing = [s.annotation for s in out if s.annotation is not None and not s.annotation.is_file()]
    if missing:
        raise InputError(f"{missing[0]}: annotation not found in project {proj}; pass --project PROJECT_DIR "
                         "(the folder build-dataset read).")
    if out and all(s.annotation is None for s in out):
        raise InputError(f"{path}: no suspect names its scene annotation (the dataset has no build_report.json); "
                         "rebuild the dataset with build-dataset and audit it again.")
    return proj, sorted(out, key=lambda s: s.rank)


def oof_outline(path: Path | None, window: tuple[int, int, int, int]) -> list[np.ndarray]:
    """Outlines of the out-of-fold prediction (> 50 %) in scene pixel coordinates (paint coordinates)."""
    import cv2

    if path is None or not path.is_file():
        return []
    prob = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if prob is None or prob.ndim != 2 or prob.size == 0:
        return []
    contours, _ = cv2.findContours((prob > 127).astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    col, row, w, h = window
    sx, sy = w / prob.shape[1], h / prob.shape[0]
    return [(c.reshape(-1, 2).astype(np.float64) + 0.5) * [sx, sy] + [col, row] for c in contours if len(c) >= 2]


class SuspectsDock(QtWidgets.QDockWidget):
    """The audit's suspect tiles; selecting one shows its window in its scene annotation."""

    def __init__(self, window, suspects: list[Suspect], project: Path | None = None) -> None:
        super().__init__("Suspects", window)
        self.setObjectName("farmannot-suspects-dock")
        self._window = window
        self.suspects = list(suspects)
        self.project = project
        self.current: int | None = None
        self._outlines: list[np.ndarray] = []
        body = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(body)
        lay.setContentsMargins(4, 4, 4, 4)
        self.list = QtWidgets.QListWidget()
        self.list.setObjectName("farmannot-suspects-list")
        self.list.setMinimumHeight(100)
        for s in self.suspects:
            item = QtWidgets.QListWidgetItem(s.label())
            item.setToolTip(f"tile {s.tile_id}; window x {s.window[0]}, y {s.window[1]}, {s.window[2]} x "
                            f"{s.window[3]} px" if s.window else f"tile {s.tile_id}")
            if s.annotation is None:
                item.setFlags(item.flags() & ~QtCore.Qt.ItemIsEnabled)
            self.list.addItem(item)
        self.list.currentRowChanged.connect(self._on_row)
        self.info = QtWidgets.QLabel("Select a suspect to open its scene annotation at the tile.")
        self.info.setWordWrap(True)
        self.preview = QtWidgets.QLabel()
        self.preview.setAlignment(QtCore.Qt.AlignCenter)
        self.preview.setToolTip("The audit's overlay: green = label, magenta = out-of-fold model.")
        # two fixed rows of equal columns: a button's place never depends on the texts around it
        nav = QtWidgets.QGridLayout()
        self.prev_button = QtWidgets.QPushButton("\u25c0 Previous")
        self.next_button = QtWidgets.QPushButton("Next \u25b6")
        self.prev_button.setToolTip("Previous suspect (Alt+Left)")
        self.next_button.setToolTip("Next suspect (Alt+Right)")
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.right_button = QtWidgets.QPushButton("Label is right \u2713")
        self.right_button.setToolTip("Checked: the label is right and the model wrong. Later audits rank this "
                                     "tile last while its label stays as it is; then go to the next (Alt+R).")
        self.right_button.clicked.connect(self.mark_right)
        self.unmark_button = QtWidgets.QPushButton("Take back mark")
        self.unmark_button.setToolTip("Remove this suspect's 'label is right' mark from reviewed.json (Alt+U).")
        self.unmark_button.clicked.connect(self.unmark)
        for i, b in enumerate((self.prev_button, self.next_button, self.right_button, self.unmark_button)):
            b.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Fixed)
            b.setMinimumWidth(60)
            nav.addWidget(b, i // 2, i % 2)
        nav.setColumnStretch(0, 1)
        nav.setColumnStretch(1, 1)
        self.info.setMinimumWidth(60)  # wraps; the buttons above do not depend on it
        lay.addLayout(nav)  # on top: what the list and the text below do never moves the buttons
        lay.addWidget(self.list, 1)
        lay.addWidget(self.info)
        lay.addWidget(self.preview)
        self.marked: set[str] = set()
        self._load_marks()
        scroll = QtWidgets.QScrollArea()  # a short dock scrolls; its parts never overlap
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        scroll.setFrameShape(QtWidgets.QFrame.NoFrame)
        scroll.setWidget(body)
        self.setWidget(scroll)
        self.actions_ = []
        for key, slot in (("Alt+Right", lambda: self.step(1)), ("Alt+Left", lambda: self.step(-1)),
                          ("Alt+R", self.mark_right), ("Alt+U", self.unmark)):
            act = QtWidgets.QAction(self)
            act.setShortcut(QtGui.QKeySequence(key))
            act.triggered.connect(lambda _c=False, f=slot: f())
            window.addAction(act)
            self.actions_.append(act)

    # -- navigation ------------------------------------------------------------------------------------

    def step(self, delta: int) -> None:
        """Select the next (``delta`` = 1) or previous usable suspect."""
        if not self.suspects:
            return
        i = -1 if self.current is None and delta > 0 else (self.current if self.current is not None else 0)
        for _ in range(len(self.suspects)):
            i = (i + delta) % len(self.suspects)
            if self.suspects[i].annotation is not None:
                self.list.setCurrentRow(i)  # -> _on_row -> open_suspect
                return

    def _load_marks(self) -> None:
        from farmannot.train.review import read_reviewed

        dirs = {s.audit_dir for s in self.suspects if s.audit_dir is not None}
        marks = {t for d in dirs for t in read_reviewed(d)}
        for i, s in enumerate(self.suspects):
            if s.tile_id in marks:
                self._show_mark(i, True)
        self._update_buttons()

    def _show_mark(self, index: int, marked: bool) -> None:
        s, item = self.suspects[index], self.list.item(index)
        if marked:
            self.marked.add(s.tile_id)
        else:
            self.marked.discard(s.tile_id)
        item.setText(f"\u2713 {s.label()}" if marked else s.label())
        item.setForeground(QtGui.QBrush(QtGui.QColor(120, 120, 120) if marked else
                                        self.list.palette().color(QtGui.QPalette.Text)))

    def _update_buttons(self) -> None:
        s = self.suspects[self.current] if self.current is not None else None
        self.right_button.setEnabled(s is not None and s.audit_dir is not None)
        self.unmark_button.setEnabled(s is not None and s.tile_id in self.marked)

    def mark_right(self) -> bool:
        """Record the current suspect as checked with its label right (``reviewed.json`` in the audit folder),
        show it ticked and go to the next one; False when there is nothing to mark."""
        if self.current is None:
            return False
        s = self.suspects[self.current]
        if s.audit_dir is None:
            return False
        from farmannot.errors import FarmannotError
        from farmannot.train.review import mark_reviewed

        try:
            mark_reviewed(s.audit_dir, s.tile_id)
        except FarmannotError as exc:
            QtWidgets.QMessageBox.warning(self, "Suspect not marked", str(exc))
            return False
        self._show_mark(self.current, True)
        self._window.show_status_message(f"Suspect {s.rank} marked right; Alt+U on it takes the mark back", 8000)
        self.step(1)
        self._update_buttons()
        return True

    def unmark(self) -> bool:
        """Take back the current suspect's "label is right" mark; False when it had none."""
        if self.current is None:
            return False
        s = self.suspects[self.current]
        if s.audit_dir is None or s.tile_id not in self.marked:
            return False
        from farmannot.errors import FarmannotError
        from farmannot.train.review import unmark_reviewed

        try:
            unmark_reviewed(s.audit_dir, s.tile_id)
        except (FarmannotError, OSError) as exc:
            QtWidgets.QMessageBox.warning(self, "Mark not taken back", str(exc))
            return False
        self._show_mark(self.current, False)
        self._update_buttons()
        return True

    def _on_row(self, row: int) -> None:
        if row < 0 or row == self.current:
            return
        if not self.open_suspect(row):  # refused (unsaved changes kept): the list goes back to the suspect shown
            self.list.blockSignals(True)
            self.list.setCurrentRow(-1 if self.current is None else self.current)
            self.list.blockSignals(False)

    def open_suspect(self, index: int) -> bool:
        """Open suspect ``index``'s annotation (if not open), show and outline its window; False if refused."""
        s = self.suspects[index]
        w = self._window
        if s.annotation is None:
            w.show_status_message(f"Suspect {s.rank}: the audit does not know the annotation of scene {s.scene}.", 8000)
            return False
        if not self.is_open(s.annotation):
            if not w._can_continue():  # labelme's "Save annotations?" prompt; Cancel keeps the open file
                return False
            w._load_file(str(s.annotation))
            if not self.is_open(s.annotation):
                return False
        self.current = index
        if self.list.currentRow() != index:
            self.list.blockSignals(True)
            self.list.setCurrentRow(index)
            self.list.blockSignals(False)
        self.info.setText(f"Rank {s.rank}: tile {s.tile_id} of {s.scene}; region disagreement "
                          f"{s.region_disagreement:.3f}, boundary {s.boundary_disagreement:.3f}. Yellow: the tile; "
                          "magenta: the out-of-fold model's parcels (not editable). Fix the label and save, or "
                          "mark it right.")
        pix = QtGui.QPixmap(str(s.overlay)) if s.overlay is not None and s.overlay.is_file() else QtGui.QPixmap()
        self.preview.setPixmap(pix.scaled(130, 130, QtCore.Qt.KeepAspectRatio, QtCore.Qt.SmoothTransformation)
                               if not pix.isNull() else QtGui.QPixmap())
        self._outlines = oof_outline(s.oof, s.window) if s.window else []
        if s.window:
            self._show_window(s.window)
        w._canvas_widgets.canvas.update()
        self._update_buttons()
        return True

    def is_open(self, annotation: Path) -> bool:
        path = self._window._label_file_path
        return bool(path) and Path(path).resolve() == annotation.resolve()

    # -- canvas ---------------------------------------------------------------------------------------------

    def _grid_view(self):
        grid = getattr(self._window, "scene_grid_dock", None)
        return grid.current if grid is not None and grid.scene is not None else None

    def to_canvas(self, xy) -> np.ndarray:
        """Scene pixel (edge) coordinates -> canvas image coordinates (the shown view's in grid mode)."""
        view = self._grid_view()
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return xy if view is None else view.to_view(xy)

    def window_rect(self, window: tuple[int, int, int, int]) -> QtCore.QRectF:
        col, row, wd, ht = window
        (x0, y0), (x1, y1) = self.to_canvas([[col, row], [col + wd, row + ht]])
        return QtCore.QRectF(x0, y0, x1 - x0, y1 - y0)

    def _show_window(self, window: tuple[int, int, int, int]) -> None:
        from labelme.app import _ZoomMode

        w = self._window
        grid = getattr(w, "scene_grid_dock", None)
        if grid is not None and grid.scene is not None:
            col, row, wd, ht = window
            grid.show_view(grid.scene.view_at(col + wd / 2, row + ht / 2).index)  # the grid's public move
        rect = self.window_rect(window)
        area = w.centralWidget().viewport().size()
        scale = min(area.width() / max(rect.width() * CONTEXT, 1e-6),
                    area.height() / max(rect.height() * CONTEXT, 1e-6))
        scale = min(max(scale, 0.01), MAX_ZOOM)
        w._zoom_mode = _ZoomMode.MANUAL_ZOOM
        w._set_zoom(max(1, int(scale * 100)))
        canvas = w._canvas_widgets.canvas
        self._zoom_set = canvas.scale
        s, off = canvas.scale, canvas._compute_image_origin_offset()
        c = rect.center()
        w.set_scroll_value(QtCore.Qt.Horizontal, (c.x() + off.x()) * s - area.width() / 2)
        w.set_scroll_value(QtCore.Qt.Vertical, (c.y() + off.y()) * s - area.height() / 2)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt name
        """The image area was resized (window enlarged, dock closed): fit the suspect's tile again, unless the
        annotator has zoomed since."""
        if event.type() == QtCore.QEvent.Resize and self.current is not None:
            s = self.suspects[self.current]
            canvas = self._window._canvas_widgets.canvas
            if s.window and s.annotation is not None and self.is_open(s.annotation) \
                    and getattr(self, "_zoom_set", None) == canvas.scale:
                QtCore.QTimer.singleShot(0, lambda w=s.window: self._show_window(w))
        return False

    def paint(self, painter: QtGui.QPainter) -> None:
        """Canvas layer: the suspect windows of the open annotation and the model's outline (image coordinates
        x scale)."""
        if self.current is None:
            return
        s = self.suspects[self.current]
        if s.annotation is None or not self.is_open(s.annotation):
            return
        scale = self._window._canvas_widgets.canvas.scale
        painter.save()
        for other in self.suspects:
            if other is s or other.window is None or other.annotation is None or \
                    other.annotation.resolve() != s.annotation.resolve():
                continue
            r = self.window_rect(other.window)
            painter.setPen(QtGui.QPen(QtGui.QColor(*WINDOW_RGB, 140), 1, QtCore.Qt.DashLine))
            painter.drawRect(QtCore.QRectF(r.x() * scale, r.y() * scale, r.width() * scale, r.height() * scale))
        pen = QtGui.QPen(QtGui.QColor(*MODEL_RGB), 2)
        pen.setCosmetic(True)
        painter.setPen(pen)
        for ring in self._outlines:
            pts = self.to_canvas(ring) * scale
            painter.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(x, y) for x, y in pts]))
        if s.window:
            r = self.window_rect(s.window)
            pen = QtGui.QPen(QtGui.QColor(*WINDOW_RGB), 3)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawRect(QtCore.QRectF(r.x() * scale, r.y() * scale, r.width() * scale, r.height() * scale))
        painter.restore()


def install_suspects_dock(window) -> SuspectsDock | None:
    """Add the suspects dock when ``AnnotateOptions.extra["suspects"]`` holds ``(project, suspects)``.

    The dock's :meth:`SuspectsDock.paint` is appended to the canvas instance's ``_render_layers`` (labelme
    6.3.1 draws the layers in order, the painter already translated and in image x scale coordinates); the
    first suspect is opened once the event loop runs, unless something else was opened by then.
    """
    loaded = (window._fa.extra or {}).get("suspects")
    if not loaded:
        return None
    project, suspects = loaded
    dock = SuspectsDock(window, suspects, project)
    window.centralWidget().installEventFilter(dock)
    # a tab of the drafts dock (the other review list), in front; the file list's group has three tabs already
    window.addDockWidget(QtCore.Qt.RightDockWidgetArea, dock)
    window.tabifyDockWidget(window.drafts_dock, dock)
    dock.raise_()
    canvas = window._canvas_widgets.canvas
    layers = canvas._render_layers
    canvas._render_layers = lambda: (*layers(), dock.paint)

    def first() -> None:
        if dock.current is None and window._image_path is None:
            dock.step(1)

    QtCore.QTimer.singleShot(0, first)
    return dock
