"""labelme's canvas with farmannot's prompt -> polygons path for the AI point/box tools (Qt glue only).

While farmannot's SAM is the chosen AI model and the output is polygons, a prompt's field is made on the
click worker (``click_worker.py``) by :meth:`SamBridge.field_rings`: :func:`farmannot.sam.click.click_polygons`
(the clicked parts only, cut back at the fields drawn, ``_background_`` holes free) and labelme's vertex
convention (:func:`farmannot.sam.click.labelme_rings`, i.e. :mod:`farmannot.labels.convention`, as imports and drafts); the GUI thread only builds the
``Shape`` objects, holes handed on under ``"farmannot": {"holes": ...}``. When labelme labels the new shapes
(:meth:`set_last_label`), the holes become ``_background_`` shapes right after their field, in the same undo
step (one Undo takes the field and its holes away) and without the per-shape ``"farmannot"`` key. Other
output formats (mask, rectangle, circle) go through labelme's ``_get_osam_session().run`` and builders.
"""

from __future__ import annotations

import functools

import numpy as np
from labelme import _automation
from labelme._shape import Shape
from labelme.widgets import Canvas
from PyQt5 import QtCore, QtGui
from PyQt5.QtCore import QPointF

from farmannot.labels.convention import from_labelme_rings
from farmannot.labels.polygonize import Rings
from farmannot.sam.click import Drawn
from farmannot_labelme.qimage import qimage_to_rgb
from farmannot_labelme.sam_bridge import MODEL_NAME, SamBridge, full_mask

NOT_A_FIELD = ("_background_", "__ignore__")  # labelme's (and farmannot.labels') special labels


def shape_rings(shape: Shape) -> Rings | None:
    """A drawn polygon/rectangle as pixel-edge rings (for cutting new fields back), holes included."""
    return outline_rings(*shape_outline(shape))


def shape_outline(shape: Shape) -> tuple[list[tuple[float, float]], str, list]:
    """The plain data of a shape's outline (cheap; no geometry), for :func:`outline_rings` on any thread."""
    holes = (shape.other_data.get("farmannot") or {}).get("holes") or []
    return [(p.x(), p.y()) for p in shape.points], shape.shape_type, holes


def outline_rings(pts: list[tuple[float, float]], shape_type: str, holes: list) -> Rings | None:
    """A drawn outline (:func:`shape_outline`) as rings whose pixel-centre raster is what labelme fills.

    Cached by the outline's points: every click reads all fields drawn so far, which rarely change between
    clicks, and labelme's footprint costs about a millisecond per field.
    """
    return _outline_rings(tuple(map(tuple, pts)), shape_type, tuple(tuple(map(tuple, h)) for h in holes))


@functools.lru_cache(maxsize=8192)
def _outline_rings(pts: tuple, shape_type: str, holes: tuple) -> Rings | None:
    if shape_type == "rectangle" and len(pts) == 2:
        (x0, y0), (x1, y1) = pts
        pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    elif shape_type != "polygon" or len(pts) < 3:
        return None
    rings = from_labelme_rings(pts, [h for h in holes if len(h) >= 3])
    for a in (rings.exterior, *rings.holes):  # shared through the cache: read-only
        a.setflags(write=False)
    return rings if len(rings.exterior) >= 3 else None


def drawn_outlines(shapes: list[Shape]) -> list[tuple[tuple, bool]]:
    """The shapes drawn, in order, as plain data (GUI thread): fields fill, ``_background_`` holes free again
    (``__ignore__`` neither). :func:`drawn_from` makes them :class:`Drawn` on any thread."""
    return [(shape_outline(s), s.label != NOT_A_FIELD[0]) for s in shapes if s.label != NOT_A_FIELD[1]]


def drawn_from(outlines: list[tuple[tuple, bool]]) -> list[Drawn]:
    return [Drawn(r, fills) for o, fills in outlines if (r := outline_rings(*o)) is not None]


def _shape(rings: Rings) -> Shape:
    shape = Shape(shape_type="polygon")
    shape.points = [QPointF(float(x), float(y)) for x, y in rings.exterior]
    shape.point_labels = [1] * len(shape.points)
    if rings.holes:
        shape.other_data = {"farmannot": {"holes": [[[round(float(x), 3), round(float(y), 3)] for x, y in h]
                                                     for h in rings.holes]}}
    shape.close()
    return shape


class FarmannotCanvas(Canvas):
    """Installed on labelme's canvas instance by :class:`FarmannotMainWindow` (``canvas.__class__``)."""

    farmannot_bridge: SamBridge | None = None
    #: AI-Points clicks are negative without Shift (the E key, shortcuts.py)
    farmannot_negative: bool = False

    def _farmannot_event(self, event: QtGui.QMouseEvent) -> QtGui.QMouseEvent:
        if not (self.farmannot_negative and self.create_mode == "ai_points_to_shape" and self.mode.name == "CREATE"):
            return event
        return QtGui.QMouseEvent(event.type(), event.localPos(), event.windowPos(), event.screenPos(),
                                 event.button(), event.buttons(), event.modifiers() | QtCore.Qt.ShiftModifier)

    def mousePressEvent(self, a0: QtGui.QMouseEvent) -> None:  # noqa: N802 - Qt name
        super().mousePressEvent(self._farmannot_event(a0))

    def mouseMoveEvent(self, a0: QtGui.QMouseEvent) -> None:  # noqa: N802 - Qt name
        super().mouseMoveEvent(self._farmannot_event(a0))

    def _farmannot_rgb(self) -> np.ndarray:
        bridge = self.farmannot_bridge
        if (bridge is not None and bridge.current_rgb is not None
                and bridge.current_rgb.shape[:2] == (self.pixmap.height(), self.pixmap.width())):
            return bridge.current_rgb
        return qimage_to_rgb(self.pixmap.toImage())

    def set_last_label(self, text: str, flags: dict[str, bool]) -> list[Shape]:
        """labelme's, then each new field's holes inserted after it as ``_background_`` shapes, and the undo
        backup taken again so that the field and its holes are one step."""
        new = super().set_last_label(text, flags)
        holes = [(s, hole_shapes(s)) for s in new]
        if not any(h for _, h in holes):
            return new
        filled = _FilledBy([s for s in self.shapes[:len(self.shapes) - len(new)] if s.label not in NOT_A_FIELD])
        out = []
        for s, hs in holes:
            out.append(s)
            out.extend(h for h in hs if not filled(h))
        self.shapes = self.shapes[:len(self.shapes) - len(new)] + out
        self.shape_backups.pop()  # the backup labelme just took lacks the holes
        self.backup_shapes()
        return out

    # -- SAM clicks (the mask and its polygons on a worker thread: click_worker.py) -------------------------

    def _farmannot_worker(self):
        worker = self.__dict__.get("_fa_worker")
        if worker is None:
            from farmannot_labelme.click_worker import ClickWorker

            worker = self._fa_worker = ClickWorker(self._farmannot_result, parent=self)
        return worker

    def _farmannot_ours(self) -> bool:
        return self.farmannot_bridge is not None and self.get_ai_model_name() == MODEL_NAME

    def _farmannot_async(self) -> bool:
        """Polygons from farmannot's SAM on the click worker: the whole image, or a scene-grid view (its job
        runs on chips)."""
        bridge = self.farmannot_bridge
        return (self._farmannot_ours() and bridge.enabled
                and (bridge.is_ready() or self.farmannot_grid_active())  # else the click returns at once
                and self._ai_output_format == "polygon"
                and self.create_mode in ("ai_points_to_shape", "ai_box_to_shape"))

    #: Set by the scene grid: True while a large scene is shown as views (its clicks go to chips), and the
    #: job of a prompt there (``SceneGridDock.click_job``).
    farmannot_grid_active: staticmethod = staticmethod(lambda: False)
    farmannot_grid_job: staticmethod = staticmethod(lambda points, point_labels: None)

    def _farmannot_key(self, points: list[QPointF], point_labels: list[int]) -> tuple:
        drawn = tuple((id(s), s.label, len(s.points)) for s in self.shapes)
        return (self._pixmap_hash, tuple((round(p.x(), 3), round(p.y(), 3)) for p in points),
                tuple(int(v) for v in point_labels), hash(drawn))

    def _farmannot_prompt(self, current: Shape) -> tuple[list[QPointF], list[int]]:
        if self.create_mode == "ai_box_to_shape":
            from labelme.widgets.canvas import _normalize_bbox_points

            return _normalize_bbox_points(bbox_points=current.points), [2, 3]
        return list(current.points), list(current.point_labels)

    def _farmannot_job(self, points: list[QPointF], point_labels: list[int]):
        """What a prompt needs, taken on the GUI thread; the returned job runs anywhere (no Qt objects) and
        gives the field as labelme-vertex rings (:meth:`SamBridge.field_rings`)."""
        if self.farmannot_grid_active():
            return self.farmannot_grid_job(points, point_labels)
        bridge, rgb = self.farmannot_bridge, self._farmannot_rgb()
        pts = [[p.x(), p.y()] for p in points]
        labels = [int(v) for v in point_labels]
        outlines = drawn_outlines(self.shapes)

        def job() -> list[Rings]:
            return bridge.field_rings(rgb, pts, labels, drawn_from(outlines))

        return job

    def _farmannot_result(self, key, result, finish: bool) -> None:
        if isinstance(result, Exception):
            if self.farmannot_bridge is not None:
                self.farmannot_bridge.failed.emit("SAM click failed", str(result))
            return
        if finish and self._current is not None and key == self._farmannot_key(*self._farmannot_prompt(self._current)):
            super()._finalize()  # finds the result stored: instant
        if finish and result is not None:
            self._farmannot_done_status()
        if result is not None:  # None (embedding not ready): no repaint, which would ask again at once
            self.update()  # the preview shows the field

    def _finalize(self) -> None:
        if self._current is not None and self._farmannot_async():
            key = self._farmannot_key(*self._farmannot_prompt(self._current))
            worker = self._farmannot_worker()
            if not worker.has(key):  # finish once the worker has it; the window stays responsive meanwhile
                worker.submit(key, self._farmannot_job(*self._farmannot_prompt(self._current)), finish=True)
                self.farmannot_bridge.status.emit("SAM: segmenting (the window stays usable)...")
                return
        super()._finalize()

    def _cancel_current_shape(self) -> None:
        if "_fa_worker" in self.__dict__ and self._fa_worker.cancel_finish():
            self._farmannot_done_status()
        super()._cancel_current_shape()

    def _farmannot_done_status(self) -> None:
        """The "segmenting" message is over (the shape was added, or none came, or it was cancelled): the status
        says SAM is ready again, unless the image shown since is still being embedded (its own message stays).
        In the scene grid the chip's job says which chip answered (and whether to check a downsampled outline)."""
        bridge = self.farmannot_bridge
        if bridge is not None and bridge.is_ready() and not self.farmannot_grid_active():
            bridge.status.emit(f"SAM ready on {bridge.current_name}")

    def _build_ai_points_preview(self, current: Shape) -> Shape:
        """The field of the points placed so far once the worker has it; until then the points themselves
        (labelme ran SAM here on every repaint)."""
        if not self._farmannot_async():
            return super()._build_ai_points_preview(current)
        points, labels = list(current.points), list(current.point_labels)
        key = self._farmannot_key(points, labels)
        worker = self._farmannot_worker()
        rings = worker.result(key)
        if rings is None:
            worker.submit(key, self._farmannot_job(points, labels))
            preview = current.copy()
            if len(self._line.points) > 1 and len(self._line.point_labels) > 1:  # the cursor, as labelme shows it
                preview.add_point(point=self._line.points[1], label=self._line.point_labels[1])
            return preview
        return _shape(rings[0]) if rings else current.copy()

    def _shapes_from_ai_points(self, points: list[QPointF], point_labels: list[int]) -> list[Shape]:
        if not self._farmannot_ours():
            return super()._shapes_from_ai_points(points, point_labels)
        if self._ai_output_format != "polygon":
            rgb = self._farmannot_rgb()
            response = self._get_osam_session().run(image=rgb, image_id=str(self._pixmap_hash),
                                                    points=np.array([[p.x(), p.y()] for p in points]),
                                                    point_labels=np.array(point_labels))
            if not full_mask(response, rgb.shape[:2]).any():
                return []
            detections = [_automation.Detection(bbox=(float(a.bounding_box.xmin), float(a.bounding_box.ymin),
                                                      float(a.bounding_box.xmax), float(a.bounding_box.ymax)),
                                                mask=a.mask) for a in response.annotations]
            return _automation.shapes_from_detections(detections=detections, shape_type=self._ai_output_format)
        key = self._farmannot_key(points, point_labels)
        worker = self._farmannot_worker()
        rings = worker.result(key) if worker.has(key) else self._farmannot_job(points, point_labels)()
        return [_shape(r) for r in rings or []]  # None: the embedding is not ready (queued, the status says so)


class _FilledBy:
    """Whether a hole is filled by fields drawn before (the new field was cut back around them): no
    ``_background_`` shape there, which would paint over those fields. One spatial index for all holes."""

    def __init__(self, fields: list[Shape]) -> None:
        from shapely import STRtree

        self._polys = [r.to_shapely() for s in fields if (r := shape_rings(s)) is not None]
        self._tree = STRtree(self._polys) if self._polys else None

    def __call__(self, hole: Shape) -> bool:
        from shapely import union_all

        ring = shape_rings(hole)
        if ring is None or self._tree is None:
            return False
        h = ring.to_shapely()
        near = [self._polys[i] for i in self._tree.query(h, predicate="intersects")]
        return bool(near) and h.area > 0 and h.intersection(union_all(near)).area >= 0.5 * h.area


def hole_shapes(shape: Shape) -> list[Shape]:
    """Take the holes a new SAM field carries and return them as ``_background_`` polygons to add after it.

    ``build-dataset`` and labelme's own converters paint shapes in file order, so a ``_background_`` shape
    after the field cuts the hole out of it.
    """
    farm = shape.other_data.get("farmannot")
    if not isinstance(farm, dict) or not farm.get("holes"):
        return []
    holes = farm.pop("holes")
    if not farm:
        shape.other_data.pop("farmannot")
    out = []
    for ring in holes:
        hole = Shape(label=NOT_A_FIELD[0], shape_type="polygon")
        hole.points = [QPointF(float(x), float(y)) for x, y in ring]
        hole.point_labels = [1] * len(hole.points)
        hole.close()
        out.append(hole)
    return out
