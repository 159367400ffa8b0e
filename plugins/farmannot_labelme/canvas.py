"""labelme's canvas with farmannot's mask -> polygon step for the AI point/box tools.

Only :meth:`_shapes_from_ai_points` changes, and only while farmannot's SAM is the chosen AI model: the
prompt still goes through ``self._get_osam_session().run(...)`` (labelme's path), but with the picture in
true RGB order, and the mask becomes polygons through :mod:`farmannot.labels.polygonize` (vertices
simplified at ~1.5 px, every part, holes handed on under ``"farmannot": {"holes": ...}``, cut back where
fields are already drawn). When labelme labels the new shapes (:meth:`set_last_label`), the holes become
``_background_`` shapes right after their field, in the same undo step (one Undo takes the field and its holes
away) and without the per-shape ``"farmannot"`` key;
written in labelme's vertex convention so labelme's own rasteriser gives the mask back. Other output formats (mask, rectangle, circle) use labelme's builders.
"""

from __future__ import annotations

import numpy as np
from labelme import _automation
from labelme._shape import Shape
from labelme.widgets import Canvas
from PyQt5 import QtCore, QtGui
from PyQt5.QtCore import QPointF

from farmannot.labels.polygonize import Rings, from_labelme_rings, to_labelme_rings
from farmannot.sam.prompts import prompt_from_labelme
from farmannot_labelme.qimage import qimage_to_rgb
from farmannot_labelme.sam_bridge import MODEL_NAME, SamBridge, full_mask


NOT_A_FIELD = ("_background_", "__ignore__")  # labelme's (and farmannot.labels') special labels


def shape_rings(shape: Shape) -> Rings | None:
    """A drawn polygon/rectangle as pixel-edge rings (for cutting new fields back), holes included."""
    pts = [(p.x(), p.y()) for p in shape.points]
    if shape.shape_type == "rectangle" and len(pts) == 2:
        (x0, y0), (x1, y1) = pts
        pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    elif shape.shape_type != "polygon" or len(pts) < 3:
        return None
    holes = (shape.other_data.get("farmannot") or {}).get("holes") or []
    rings = from_labelme_rings(pts, [h for h in holes if len(h) >= 3])
    return rings if len(rings.exterior) >= 3 else None


def rings_to_shapes(edge_rings: Rings) -> list[Shape]:
    """Pixel-edge rings -> labelme polygon shapes (labelme's vertex convention; holes kept aside)."""
    return [_shape(r) for r in to_labelme_rings(edge_rings) if len(r.exterior) >= 3]


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
        before = [s for s in self.shapes[:len(self.shapes) - len(new)] if s.label not in NOT_A_FIELD]
        out = []
        for s in new:
            out.append(s)
            out.extend(h for h in hole_shapes(s) if not _filled_by(h, before))
        if len(out) == len(new):
            return new
        self.shapes = self.shapes[:len(self.shapes) - len(new)] + out
        self.shape_backups.pop()  # the backup labelme just took lacks the holes
        self.backup_shapes()
        return out

    def _shapes_from_ai_points(self, points: list[QPointF], point_labels: list[int]) -> list[Shape]:
        bridge = self.farmannot_bridge
        if bridge is None or self.get_ai_model_name() != MODEL_NAME:
            return super()._shapes_from_ai_points(points, point_labels)
        rgb = self._farmannot_rgb()
        response = self._get_osam_session().run(
            image=rgb,
            image_id=str(self._pixmap_hash),
            points=np.array([[p.x(), p.y()] for p in points]),
            point_labels=np.array(point_labels),
        )
        mask = full_mask(response, rgb.shape[:2])
        if not mask.any():
            return []
        if self._ai_output_format != "polygon":
            detections = [_automation.Detection(bbox=(float(a.bounding_box.xmin), float(a.bounding_box.ymin),
                                                      float(a.bounding_box.xmax), float(a.bounding_box.ymax)),
                                                mask=a.mask) for a in response.annotations]
            return _automation.shapes_from_detections(detections=detections, shape_type=self._ai_output_format)
        fields = [r for s in self.shapes if s.label not in NOT_A_FIELD and (r := shape_rings(s)) is not None]
        holes = [r for s in self.shapes if s.label == NOT_A_FIELD[0] and (r := shape_rings(s)) is not None]
        box = prompt_from_labelme([[p.x(), p.y()] for p in points], point_labels).box
        return [s for r in bridge.polygons(mask, fields, box, free=holes) for s in rings_to_shapes(r)]


def _filled_by(hole: Shape, fields: list[Shape]) -> bool:
    """A hole that fields drawn before fill (the new field was cut back around them): no ``_background_``
    shape there, which would paint over those fields."""
    from shapely import union_all

    ring = shape_rings(hole)
    polys = [r.to_shapely() for s in fields if (r := shape_rings(s)) is not None]
    if ring is None or not polys:
        return False
    h = ring.to_shapely()
    return h.area > 0 and h.intersection(union_all(polys)).area >= 0.5 * h.area


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
