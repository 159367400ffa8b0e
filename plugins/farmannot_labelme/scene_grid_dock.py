"""A large scene in ``farmannot annotate``: a grid of views the annotator moves between, one annotation file.

When the opened raster (or the raster an opened annotation points at) has a side longer than the grid
threshold (:data:`farmannot.sam.chip_embed.LARGE_SCENE_PX`; ``AnnotateOptions.extra["scene_grid"]`` can
set ``threshold``, ``view``, ``overlap``, ``max_display``, ``chip``, ``chip_overlap``), the canvas shows one
*view* of it (:mod:`farmannot.sam.scene_views`: a decimated read with the scene-wide stretch, never the
whole scene at full resolution). The dock shows a thumbnail of the scene with the view grid, the current
view highlighted; clicking the thumbnail, the arrows or the view list moves to another view.

Shapes are kept in *scene* pixel coordinates: those meeting the shown view are on the canvas in view
coordinates, the others wait in :attr:`SceneGrid.store`. Leaving a view moves the canvas shapes back;
saving writes one labelme file in scene coordinates (``imageWidth``/``imageHeight`` of the scene, no image
data). SAM clicks in a view run on the native-resolution chip that holds the object
(:meth:`farmannot.sam.scene_views.LargeScene.segment`), so fields across chip or view edges come out whole.

Installed by :func:`install_scene_docks` (one call in ``FarmannotMainWindow._fa_install``), which wraps
four of the window's instance methods (``_open_image_into_state``, ``_open_label_file_into_state``,
``save_labels``, ``_fa_apply_display``) and the SAM bridge's ``prepare``; outside grid mode each wrapper calls
the original unchanged (``prepare`` only skips prefetching a large next scene, which the bridge cannot render
whole). In grid mode the canvas's click worker runs :meth:`SceneGridDock.click_job` (``farmannot_grid_job``),
so a click never blocks the window here either.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

from labelme._label_file import LabelData, _load_shape_json_obj
from labelme.app import _shape_to_dict, _shapes_from_dicts
from PyQt5 import QtCore, QtGui, QtWidgets

from farmannot.errors import FarmannotError
from farmannot.io.atomic import write_json
from farmannot.io.stretch import DisplaySettings
from farmannot.labels.polygonize import Rings
from farmannot.predict.drafts import PROPOSAL_FLAG
from farmannot.sam.chip_embed import LARGE_SCENE_PX, is_large
from farmannot.sam.click import Drawn
from farmannot.sam.imagery import Picture, is_raster_path
from farmannot.sam.scene_views import LargeScene, SceneView, shape_to_scene, split_shapes, view_labelme_rings
from farmannot_labelme.canvas import drawn_outlines, outline_rings
from farmannot_labelme.drafts_dock import DraftsDock
from farmannot_labelme.qimage import png_bytes, rgb_to_qimage

log = logging.getLogger(__name__)
_RESERVED = ("version", "imageData", "imagePath", "shapes", "flags", "imageHeight", "imageWidth")


def _band_map(path: Path, sensor: str | None) -> dict[str, int]:
    from farmannot.io.raster import open_raster, scene_info

    with open_raster(path) as src:
        try:
            return scene_info(src, sensor=sensor).band_map
        except FarmannotError:
            return {}


class _Thumbnail(QtWidgets.QLabel):
    clicked = QtCore.pyqtSignal(float, float)  # scene x, y

    def __init__(self) -> None:
        super().__init__()
        self.factor = 1.0
        self.setAlignment(QtCore.Qt.AlignLeft | QtCore.Qt.AlignTop)
        self.setCursor(QtCore.Qt.PointingHandCursor)

    def mousePressEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802 - Qt name
        self.clicked.emit(ev.pos().x() * self.factor, ev.pos().y() * self.factor)


class SceneGridDock(QtWidgets.QDockWidget):
    """The view grid of a large scene and the state that keeps its annotation in scene coordinates."""

    view_changed = QtCore.pyqtSignal(int)

    def __init__(self, window, settings: dict | None = None) -> None:
        super().__init__("Views", window)
        self.setObjectName("farmannot-scene-grid-dock")
        self._window = window
        self.settings = dict(settings or {})
        self.scene: LargeScene | None = None
        self.current: SceneView | None = None
        self.store: list[dict] = []  # shapes outside the current view, scene coordinates (labelme JSON dicts)
        self._thumb_rgb = None
        body = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(body)
        lay.setContentsMargins(4, 4, 4, 4)
        self.info = QtWidgets.QLabel("Large scenes open here as a grid of views.")
        self.info.setWordWrap(True)
        self.thumbnail = _Thumbnail()
        self.thumbnail.clicked.connect(self._on_thumbnail_click)
        nav = QtWidgets.QHBoxLayout()
        self.prev_button = QtWidgets.QPushButton("\u25c0")
        self.next_button = QtWidgets.QPushButton("\u25b6")
        self.views_combo = QtWidgets.QComboBox()
        self.views_combo.setObjectName("farmannot-scene-views")
        self.views_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.views_combo.setMinimumContentsLength(6)
        for b in (self.prev_button, self.next_button):
            b.setMinimumWidth(28)
            b.setMaximumWidth(40)
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.views_combo.activated.connect(self.show_view)
        nav.addWidget(self.prev_button)
        nav.addWidget(self.views_combo, 1)
        nav.addWidget(self.next_button)
        lay.addWidget(self.info)
        lay.addWidget(self.thumbnail)
        lay.addLayout(nav)
        lay.addStretch(1)
        self.setWidget(body)
        self._set_enabled(False)

    # -- opening ---------------------------------------------------------------------------------------

    def _threshold(self) -> int:
        return int(self.settings.get("threshold", LARGE_SCENE_PX))

    def wants(self, image_path: str | os.PathLike) -> bool:
        """Whether ``image_path`` is a raster large enough for the grid."""
        from farmannot.io.raster import open_raster

        path = Path(image_path)
        if not is_raster_path(path) or not path.is_file():
            return False
        try:
            with open_raster(path) as src:
                return is_large(src.width, src.height, self._threshold())
        except FarmannotError:
            return False

    def open_scene(self, image_path: str | os.PathLike, shapes: list[dict]) -> list[dict]:
        """Start grid mode on ``image_path`` with ``shapes`` (scene coordinates); returns the first view's shapes."""
        s = self.settings
        fa = self._window._fa
        self.scene = LargeScene(image_path, band_map=_band_map(Path(image_path), fa.sensor),
                                view=int(s.get("view", 4096)), overlap=int(s.get("overlap", 256)),
                                max_display=int(s.get("max_display", 4096)), chip=int(s.get("chip", 1024)),
                                chip_overlap=int(s.get("chip_overlap", 256)), settings=fa.display)
        view = self.scene.views[0]
        inside, self.store = split_shapes(shapes, view)
        self.current = view
        self._set_picture(view)
        self._thumb_rgb, self.thumbnail.factor = self.scene.overview(int(s.get("thumbnail", 320)))
        self.views_combo.clear()
        self.views_combo.addItems([v.label() for v in self.scene.views])
        self._set_enabled(True)
        self._show_current()
        self.raise_()
        return inside

    def close_scene(self) -> None:
        self.scene, self.current, self.store = None, None, []
        self._thumb_rgb = None
        self.thumbnail.clear()
        self.views_combo.clear()
        self.info.setText("Large scenes open here as a grid of views.")
        self._set_enabled(False)

    def _set_enabled(self, on: bool) -> None:
        for w in (self.prev_button, self.next_button, self.views_combo):
            w.setEnabled(on)

    def _set_picture(self, view: SceneView) -> None:
        w, scene = self._window, self.scene
        rgb = scene.view_picture(view)
        w._fa_picture = Picture(rgb=rgb, bands=list(scene.display.bands), band_names=[],
                                stretch=scene.display.stretch.to_dict(), georef=scene.georef,
                                band_count=scene.count)
        w._image_data = png_bytes(rgb)

    # -- moving between views ---------------------------------------------------------------------------

    def canvas_shapes_in_scene(self) -> list[dict]:
        """The shapes on the canvas as labelme JSON dicts in scene coordinates."""
        if self.current is None:
            return []
        out = []
        for item in self._window._docks.label_list:
            shape = item.shape()
            if shape is None:
                continue
            d = _shape_to_dict(shape)
            d["points"] = [list(p) for p in d["points"]]
            out.append(shape_to_scene(d, self.current))
        return out

    def all_shapes(self) -> list[dict]:
        """Every shape of the scene, scene coordinates (the stored ones, then the current view's)."""
        return list(self.store) + self.canvas_shapes_in_scene()

    def step(self, delta: int) -> None:
        if self.scene is not None and self.current is not None:
            self.show_view((self.current.index + delta) % len(self.scene.views))

    def _on_thumbnail_click(self, x: float, y: float) -> None:
        if self.scene is not None:
            self.show_view(self.scene.view_at(x, y).index)

    def show_view(self, index: int) -> None:
        """Swap the canvas to view ``index``: shapes go back to scene coordinates, the new view's come in."""
        if self.scene is None or self.current is None or index == self.current.index:
            return
        w = self._window
        dirty = bool(getattr(w, "_is_changed", False))
        shapes = self.all_shapes()
        view = self.scene.views[index]
        inside, self.store = split_shapes(shapes, view)
        self.current = view
        self._set_picture(view)
        image = QtGui.QImage.fromData(w._image_data)
        w._image = image
        canvas = w._canvas_widgets.canvas
        canvas.reset_state()  # selection and undo history belong to the view left (its coordinates)
        canvas.load_pixmap(QtGui.QPixmap.fromImage(image), clear_shapes=True)
        w._docks.label_list.clear()
        w._load_shapes(_shapes_from_dicts(shape_dicts=[_load_shape_json_obj(d) for d in inside],
                                          label_flags=w._config["label_flags"]))
        w._actions.undo.setEnabled(canvas.can_restore_shape)
        w.sam_bridge.prepare(w._fa_picture.rgb, f"{Path(self.scene.path).name} {view.label()}")
        if dirty:
            w.mark_dirty()
        canvas.update()
        self._show_current()
        self.view_changed.emit(index)

    def _show_current(self) -> None:
        scene, view = self.scene, self.current
        self.views_combo.setCurrentIndex(view.index)
        name = Path(scene.path).name.replace("_", "_\u200b")  # a long product name may wrap: a narrow dock
        self.info.setText(f"{name}: {scene.width} x {scene.height} px in {len(scene.views)} "
                          f"views. Showing {view.label()}; {len(self.store)} shape(s) in other views.")
        if self._thumb_rgb is None:
            return
        pix = QtGui.QPixmap.fromImage(rgb_to_qimage(self._thumb_rgb))
        f = self.thumbnail.factor
        p = QtGui.QPainter(pix)
        p.setPen(QtGui.QPen(QtGui.QColor(255, 255, 255, 150), 1))
        for v in scene.views:
            x0, y0, x1, y1 = v.bounds()
            p.drawRect(QtCore.QRectF(x0 / f, y0 / f, (x1 - x0) / f - 1, (y1 - y0) / f - 1))
        x0, y0, x1, y1 = view.bounds()
        rect = QtCore.QRectF(x0 / f, y0 / f, (x1 - x0) / f - 1, (y1 - y0) / f - 1)
        p.fillRect(rect, QtGui.QColor(255, 200, 0, 70))
        p.setPen(QtGui.QPen(QtGui.QColor(255, 200, 0), 2))
        p.drawRect(rect)
        p.end()
        self.thumbnail.setPixmap(pix)

    # -- window hooks -------------------------------------------------------------------------------------

    def open_image(self, orig, image_path: str) -> bool:
        if not self.wants(image_path):
            self.close_scene()
            return orig(image_path)
        w = self._window
        try:
            self.open_scene(image_path, [])
        except FarmannotError as exc:
            w.show_farmannot_error("Cannot show image", str(exc))
            return False
        w._image_path, w._label_file_path = image_path, None
        return True

    def open_label_file(self, orig, label_path: str):
        w = self._window
        try:
            with open(label_path, encoding="utf-8") as fh:
                raw = json.load(fh)
            image_path = str(Path(label_path).parent / Path(str(raw["imagePath"]).replace("\\", "/")))
        except (OSError, ValueError, KeyError, TypeError):
            raw, image_path = None, None
        if raw is None or not self.wants(image_path):
            self.close_scene()
            return orig(label_path)
        try:
            shapes = [dict(s) for s in raw.get("shapes") or []]
            shapes += [dict(s) for s in getattr(w, "_fa_extra_shapes", [])]  # drafts opened with it
            inside = self.open_scene(image_path, shapes)
            shape_dicts = [_load_shape_json_obj(d) for d in inside]
        except (FarmannotError, ValueError, TypeError) as exc:
            w.show_farmannot_error("Cannot open annotation", f"{label_path}: {exc}")
            self.close_scene()
            return None
        w._label_file_path, w._image_path = label_path, image_path
        w._other_data = {k: v for k, v in raw.items() if k not in _RESERVED}
        return LabelData(image_path=str(raw["imagePath"]), image_data=w._image_data, shapes=shape_dicts,
                         flags=raw.get("flags") or {}, other_data=w._other_data)

    def save_labels(self, orig, label_path: str) -> bool:
        if self.scene is None or self.current is None:
            return orig(label_path)
        w = self._window
        target = Path(label_path)
        tmp = target.with_name(f".{target.stem}.view.json")
        try:
            ok = orig(str(tmp))
            if not ok:
                return False
            with open(tmp, encoding="utf-8") as fh:
                raw = json.load(fh)
            raw["shapes"] = list(self.store) + [shape_to_scene(d, self.current) for d in raw["shapes"]]
            raw["imageHeight"], raw["imageWidth"] = self.scene.height, self.scene.width
            raw["imageData"] = None
            raw["imagePath"] = os.path.relpath(self.scene.path, target.parent).replace(os.sep, "/")
            block = raw.setdefault("farmannot", {})
            block.setdefault("scene", {}).update(width=self.scene.width, height=self.scene.height)
            block["scene_views"] = {"coordinates": "scene", "current": self.current.index,
                                    "views": len(self.scene.views)}
            write_json(target, raw)
        except OSError as exc:
            w.show_farmannot_error("Error saving annotation", f"{target}: {exc}")
            return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        w._label_file_path = str(target)
        return True

    def apply_display(self, orig, settings: DisplaySettings) -> None:
        """The Display dock's choice (the same value the canvas uses): the view re-read with it."""
        if self.scene is None or self.current is None:
            return orig(settings)
        w = self._window
        try:
            self.scene.set_display(settings)
        except FarmannotError as exc:
            w.show_farmannot_error("Cannot show bands", str(exc))
            return None
        w._fa.display = settings
        w.sam_bridge.render_options.update(settings.render_options())
        index = self.current.index
        self.current = SceneView(-1, 0, 0, self.current.window, self.current.factor)  # force a reload
        self.show_view(index)
        w._fa_show_display(str(self.scene.path))

    def prepare_sam(self, orig, rgb, name, next_path=None) -> None:
        """In grid mode SAM works on chips, not on the shown view: no whole-view embedding, no prefetch of
        a large next scene (it is embedded per chip when opened)."""
        if next_path and self.wants(next_path):
            next_path = None
        if self.scene is None:
            return orig(rgb, name, next_path)
        bridge = self._window.sam_bridge
        bridge.show_without_embedding(rgb, name)
        if bridge.session is not None:
            bridge.status.emit(f"SAM on {Path(self.scene.path).name}: each click runs on the "
                               f"{self.scene.chip} px chip that holds it (embeddings from the chip cache)")
        else:
            orig(rgb, name, None)  # the no-checkpoint hint

    def stored_drafts(self) -> list[dict]:
        """Draft shapes waiting in other views."""
        return [d for d in self.store if (d.get("flags") or {}).get(PROPOSAL_FLAG)]

    def accept_stored_drafts(self) -> int:
        """Clear the proposal flag of the drafts in other views; returns how many."""
        drafts = self.stored_drafts()
        for d in drafts:
            d["flags"] = {k: v for k, v in d["flags"].items() if k != PROPOSAL_FLAG}
        return len(drafts)

    def _on_chip_ready(self, name: str, key: str, seconds: float, hit: bool) -> None:
        if self.scene is not None and name.startswith("chip "):
            self._window._fa_set_sam_status(f"SAM ready on {name} (embedded in {seconds:.1f} s): click again")

    def click_job(self, points, point_labels):
        """A SAM prompt in grid mode, taken on the GUI thread; the returned job runs on the canvas's click worker.

        The job segments on the chip holding the object, in scene coordinates (fields drawn cut it back,
        ``_background_`` holes stay free, as on the whole-image canvas), and gives the field as labelme-vertex
        rings in view coordinates; ``None`` when the chip's embedding is not cached yet (then queued).
        """
        w = self._window
        canvas, bridge = w._canvas_widgets.canvas, w.sam_bridge
        scene, view, session = self.scene, self.current, bridge.session
        pts = view.to_scene([[p.x(), p.y()] for p in points])
        labels = [int(v) for v in point_labels]
        outlines = drawn_outlines(canvas.shapes) if bridge.keep_apart else []
        simplify_px, min_area_px = bridge.simplify_px, bridge.min_area_px

        def job() -> list[Rings] | None:
            existing = []
            for (o_pts, kind, holes), fills in outlines:  # labelme vertices moved to scene pixels, then read as labelme reads them
                r = outline_rings(view.to_scene(o_pts, centres=True).tolist(), kind,
                                  [view.to_scene(h, centres=True).tolist() for h in holes])
                if r is not None:
                    existing.append(Drawn(r, fills))
            res = scene.segment(session, pts, labels, existing, compute=False, simplify_px=simplify_px,
                                min_area_px=min_area_px)
            if res is None:
                chip = scene.chip_embedding(session, scene.chip_for(pts))
                c, r, cw, ch = chip.parts["window"]
                bridge.embed_in_background(chip.rgb, f"chip x {c}-{c + cw}, y {r}-{r + ch}", chip.key)
                bridge.status.emit("SAM: computing the embedding of the chip around your click in the background; "
                                   "click again when the status bar says ready")
                return None
            bridge.status.emit(res.message())
            return view_labelme_rings(res.polygons, view)  # labelme vertices in scene px, moved into the view

        return job


def install_scene_docks(window) -> tuple[SceneGridDock, DraftsDock]:
    """Add the scene-grid and drafts docks to a :class:`FarmannotMainWindow` and wrap its hooks (see above)."""
    grid = SceneGridDock(window, settings=(window._fa.extra or {}).get("scene_grid"))
    drafts = DraftsDock(window)
    window.addDockWidget(QtCore.Qt.RightDockWidgetArea, grid)
    window.addDockWidget(QtCore.Qt.RightDockWidgetArea, drafts)
    window.tabifyDockWidget(window.display_dock, grid)
    window.splitDockWidget(window._docks.shape_dock, drafts, QtCore.Qt.Vertical)
    window._docks.file_dock.raise_()

    def wrap(obj, name, hook):
        orig = getattr(obj, name)
        setattr(obj, name, lambda *a, **k: hook(orig, *a, **k))

    drafts.elsewhere_count = lambda: len(grid.stored_drafts())
    drafts.accept_elsewhere = grid.accept_stored_drafts
    wrap(window, "_open_image_into_state", grid.open_image)
    wrap(window, "_open_label_file_into_state", grid.open_label_file)
    wrap(window, "save_labels", grid.save_labels)
    wrap(window, "_fa_apply_display", grid.apply_display)
    canvas = window._canvas_widgets.canvas
    canvas.farmannot_grid_active = lambda: grid.scene is not None and grid.current is not None  # clicks go to chips
    canvas.farmannot_grid_job = grid.click_job
    wrap(window.sam_bridge, "prepare", grid.prepare_sam)
    window.sam_bridge.embedding_ready.connect(grid._on_chip_ready)
    return grid, drafts
