"""labelme shapes -> label rasters (mask, boundary, parcel ids) for any window of a scene.

labelme's semantics: shapes paint in file order, later over earlier; ``__ignore__`` paints 255 (not
scored), ``_background_`` paints 0 (so it carves holes in farmland drawn before it). The pixels are labelme's
own: every window is drawn with PIL as ``labelme.utils.shape_to_mask`` draws (``farmannot.labels.paint``),
all the window's shapes on one canvas in one pass, so a 10,000 x 10,000 px scene never needs a full-size
label array: memory is set by the window size and a few integers per vertex.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from rasterio.windows import Window
from scipy import ndimage

from farmannot.errors import InputError
from farmannot.io.labelme_json import Shape
from farmannot.labels.geometry import RepairReport, shapes_in_image, too_few_points
from farmannot.labels.paint import Drawing

IGNORE_LABEL = "__ignore__"
BACKGROUND_LABEL = "_background_"
IGNORE_VALUE = 255
#: Default label map: every label that means farmland -> 1.
DEFAULT_LABEL_MAP: dict[str, int] = {"farmland": 1}


@dataclass
class LabelPlan:
    """A scene's shapes, ready to draw window by window.

    Attributes:
        drawing: The kept shapes as labelme's PIL primitives, file order.
        values: Mask value per kept shape (class, 0 for background, 255 for ignore).
        parcel_ids: Instance id per kept shape (0 for background / ignore shapes).
        width, height: Scene size in pixels.
        report: What was repaired, clipped or dropped.
        n_parcels: Number of distinct parcel ids.
    """

    drawing: Drawing
    values: list[int]
    parcel_ids: list[int]
    width: int
    height: int
    report: RepairReport
    n_parcels: int

    def subset(self, idx) -> LabelPlan:
        """The plan of the shapes ``idx`` only (increasing indices; a work unit's shapes): the same labels in
        every window whose touching shapes ``idx`` holds. The parcel count stays the scene's; the repair report
        stays with the scene's plan (empty here)."""
        idx = np.asarray(idx, dtype=np.int64)
        return LabelPlan(self.drawing.subset(idx), [self.values[i] for i in idx],
                         [self.parcel_ids[i] for i in idx], self.width, self.height, RepairReport(), self.n_parcels)

    def arrays(self) -> dict[str, np.ndarray]:
        """The plan's shapes as flat arrays (:meth:`Drawing.arrays` with each shape's value and parcel id)."""
        return {**self.drawing.arrays(), "value": np.array(self.values, np.int64),
                "parcel": np.array(self.parcel_ids, np.int64)}

    @classmethod
    def from_arrays(cls, a: Mapping[str, np.ndarray], width: int, height: int, n_parcels: int) -> LabelPlan:
        """The plan of :meth:`arrays` (its repair report stays with the scene's plan: empty here)."""
        return cls(Drawing.from_arrays(a), a["value"].tolist(), a["parcel"].tolist(), width, height, RepairReport(),
                   n_parcels)

    def in_window(self, window: Window) -> list[int]:
        """Indices (file order) of the shapes that can paint a pixel of ``window``."""
        return self.drawing.touching(int(window.col_off), int(window.row_off), int(window.width),
                                     int(window.height)).tolist()

    def which(self, window: Window) -> tuple[np.ndarray, list[int]]:
        """The window's canvas (``k + 1``: the last shape ``idx[k]`` over a pixel, 0: none) and ``idx``."""
        c0, r0, w, h = int(window.col_off), int(window.row_off), int(window.width), int(window.height)
        idx = self.in_window(window)
        return self.drawing.paint(idx, c0, r0, w, h), idx


class LabelPlanner:
    """:func:`plan_labels` fed in batches (a streamed annotation): memory holds the plan, not the shapes.

    ``add`` the shapes in file order, then ``finish``; the plan equals ``plan_labels`` of all of them. With
    ``keep=False`` the planner keeps only the report and the parcel numbering: each batch's plan, returned by
    ``add``, goes where the caller puts it (a work unit's file), and ``finish`` gives a plan without shapes.
    """

    def __init__(self, width: int, height: int, label_map: Mapping[str, int] | None = None,
                 source: str = "annotation", keep: bool = True) -> None:
        self.width, self.height, self.source = width, height, source
        self.lmap = dict(DEFAULT_LABEL_MAP if label_map is None else label_map)
        self.lmap[IGNORE_LABEL] = IGNORE_VALUE
        self.lmap[BACKGROUND_LABEL] = 0
        self.report = RepairReport()
        self.keep = keep
        self.parts: list[LabelPlan] = []
        self.groups: dict[tuple, int] = {}  # (label, group_id) -> parcel id; an ungrouped shape is its own parcel
        self.n_ids = self.n_area = self.n_seen = self.n_kept = self.n_too_few = 0

    def add(self, shapes: Sequence[Shape]) -> LabelPlan:
        """Plan the next shapes of the file; their plan (the kept ones, in file order).

        Raises:
            InputError: a label not in the label map.
        """
        first = self.n_seen
        for i, shape in enumerate(shapes, start=first):
            if shape.label not in self.lmap:
                raise InputError(
                    f"{self.source}: shape {i} ({shape.label!r}) has label {shape.label!r}, which is not in the "
                    f"label map ({', '.join(sorted(self.lmap))}); add it under 'label_map' in the build config or "
                    "relabel it."
                )
        kept, values, pids = [], [], []
        inside_all = shapes_in_image(shapes, self.width, self.height, self.report, first)
        for i, (shape, inside) in enumerate(zip(shapes, inside_all), start=first):
            where = f"shape {i} ({shape.label!r})"
            if inside is None:
                self.report.dropped.append({"shape": where, "reason": f"{shape.shape_type} is not an area"})
                continue
            self.n_area += 1
            if not inside:
                few = too_few_points(shape)
                self.n_too_few += few
                self.report.dropped.append({"shape": where, "reason": (
                    f"a {shape.shape_type} of {len(shape.points)} point(s), too few to draw" if few
                    else "empty after repair and clipping to the image")})
                continue
            value = int(self.lmap[shape.label])
            pid = 0
            if value not in (0, IGNORE_VALUE):
                pid = self.groups.get((shape.label, shape.group_id), 0) if shape.group_id is not None else 0
                if not pid:
                    self.n_ids += 1
                    pid = self.n_ids
                    if shape.group_id is not None:
                        self.groups[(shape.label, shape.group_id)] = pid
            kept.append(shape)
            values.append(value)
            pids.append(pid)
        part = LabelPlan(Drawing.of(kept), values, pids, self.width, self.height, RepairReport(), 0)
        if self.keep:
            self.parts.append(part)
        self.n_seen += len(shapes)
        self.n_kept += len(kept)
        return part

    def finish(self) -> LabelPlan:
        """The plan.

        Raises:
            InputError: farmland shapes that all lie outside the image.
        """
        if self.n_area and not self.n_kept and self.n_area == self.n_too_few:
            raise InputError(f"{self.source}: every shape has too few points to draw (a polygon needs 3, a rectangle "
                             "or circle 2); redraw the shapes in labelme.")
        if self.n_area and not self.n_kept:
            raise InputError(f"{self.source}: every shape lies outside the {self.width} x {self.height} px image; "
                             "check that imagePath points at the scene the shapes were drawn on.")
        return LabelPlan(Drawing.concat([p.drawing for p in self.parts]), [v for p in self.parts for v in p.values],
                         [i for p in self.parts for i in p.parcel_ids], self.width, self.height, self.report,
                         self.n_ids)


def plan_labels(shapes: Sequence[Shape], width: int, height: int,
                label_map: Mapping[str, int] | None = None, source: str = "annotation") -> LabelPlan:
    """Repair, clip and order a scene's shapes for rasterising.

    Args:
        shapes: labelme shapes in file order.
        width, height: The scene's size in pixels.
        label_map: label -> mask value (1..254); ``__ignore__`` and ``_background_`` are always known.
        source: The annotation file, for messages.

    Raises:
        InputError: a label not in the label map, or farmland shapes that all lie outside the image.
    """
    planner = LabelPlanner(width, height, label_map, source)
    planner.add(shapes)
    return planner.finish()


def rasterize_mask(plan: LabelPlan, window: Window) -> np.ndarray:
    """uint8 mask of ``window``: class values, 0 background, 255 ignore (later shapes win)."""
    which, idx = plan.which(window)
    return np.array([0] + [plan.values[i] for i in idx], dtype=np.uint8)[which]


def rasterize_parcels(plan: LabelPlan, window: Window) -> np.ndarray:
    """uint32 scene-wide parcel ids of ``window`` (0: no parcel; ignore and background shapes carve)."""
    which, idx = plan.which(window)
    return np.array([0] + [plan.parcel_ids[i] for i in idx], dtype=np.uint32)[which]


def parcel_boundaries(parcels: np.ndarray, width: int = 1) -> np.ndarray:
    """uint8 0/1 boundary: parcel pixels within ``width`` px of a pixel with another id (or none).

    The edge ring inside each parcel, as skimage's ``find_boundaries(connectivity=1, mode='inner')`` marks
    it (a pixel whose 4-neighbourhood's grey dilation and erosion differ), so two touching parcels each get
    their own edge and stay apart; the image border is not an edge. The dilation and erosion are OpenCV's
    (a 3 x 3 cross, the border replicated), on ids renumbered to 16 bits where they do not fit: only equality
    of ids matters.
    """
    p = np.asarray(parcels)
    ids = _morphology_ids(p)
    edge = (cv2.dilate(ids, _CROSS, borderType=cv2.BORDER_REPLICATE)
            != cv2.erode(ids, _CROSS, borderType=cv2.BORDER_REPLICATE)) & (p > 0)
    if width > 1:
        edge = ndimage.binary_dilation(edge, structure=np.ones((3, 3), bool), iterations=width - 1)
        edge &= p > 0
    return edge.astype(np.uint8)


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def _morphology_ids(p: np.ndarray) -> np.ndarray:
    """``p`` as an array OpenCV's morphology takes (uint16, else float64) with the same equalities."""
    if p.size and (p.min() < 0 or p.max() > 0xFFFF):
        p = np.unique(p, return_inverse=True)[1].reshape(p.shape)  # ranks: equal ids stay equal
        if p.max() > 0xFFFF:
            return np.ascontiguousarray(p, dtype=np.float64)  # exact below 2**53
    return np.ascontiguousarray(p, dtype=np.uint16)


@dataclass
class TileLabels:
    """The three label levels of one tile."""

    mask: np.ndarray      # uint8: 0 background, class values, 255 ignore
    boundary: np.ndarray  # uint8 0/1
    parcel: np.ndarray    # uint16 tile-local instance ids 1..n in order of scene id
    parcel_scene_ids: list[int]


def tile_labels(plan: LabelPlan, window: Window, boundary_width: int = 1) -> TileLabels:
    """Mask, boundary and parcel rasters of one window; the boundary sees ``boundary_width`` px beyond it.

    One drawing of the padded window gives the last shape over each pixel; the mask and the parcel ids
    are looked up from it.
    """
    pad = boundary_width
    c0, r0 = int(window.col_off), int(window.row_off)
    h, w = int(window.height), int(window.width)
    # padded window clipped to the scene; outside the scene the edge pixels repeat (no false edge there)
    pc0, pr0 = max(0, c0 - pad), max(0, r0 - pad)
    pc1, pr1 = min(plan.width, c0 + w + pad), min(plan.height, r0 + h + pad)
    which, idx = plan.which(Window(pc0, pr0, pc1 - pc0, pr1 - pr0))
    mask_lut = np.array([0] + [plan.values[i] for i in idx], dtype=np.uint8)
    # the window's scene parcel ids, sorted, and each canvas value's rank among them (0: no parcel)
    scene_ids, rank_lut = np.unique(np.array([0] + [plan.parcel_ids[i] for i in idx], dtype=np.uint32),
                                    return_inverse=True)
    ranks = rank_lut.reshape(-1).astype(np.int32)[which]
    padded = np.pad(ranks, ((pr0 - (r0 - pad), (r0 + h + pad) - pr1), (pc0 - (c0 - pad), (c0 + w + pad) - pc1)),
                    mode="edge")
    boundary = parcel_boundaries(padded, boundary_width)[pad:pad + h, pad:pad + w]
    inner = (slice(r0 - pr0, r0 - pr0 + h), slice(c0 - pc0, c0 - pc0 + w))
    ranks = ranks[inner]
    mask = mask_lut[which[inner]]
    present = np.bincount(ranks.ravel(), minlength=len(scene_ids)) > 0
    present[0] = False
    ids = [int(v) for v in scene_ids[present]]
    if len(ids) > np.iinfo(np.uint16).max:
        raise InputError(f"a tile holds {len(ids)} parcels, more than a uint16 parcel raster can number.")
    lut = np.zeros(len(scene_ids), dtype=np.uint16)  # rank -> tile-local id 1..n in order of scene id
    lut[present] = np.arange(1, len(ids) + 1, dtype=np.uint16)
    return TileLabels(np.ascontiguousarray(mask), np.ascontiguousarray(boundary), lut[ranks], ids)


def class_raster(shapes: Sequence[Shape], height: int, width: int, values: Mapping[str, int],
                 dtype: str = "int32", fill: int = 0) -> np.ndarray:
    """A whole-image class raster as labelme's converter makes it (``labelme2voc``): later shapes win.

    Args:
        shapes: labelme shapes in file order (area types only; others are skipped).
        values: label -> class value (labelme: ``__ignore__`` -1, ``_background_`` 0, then 1, 2, ...).
    """
    inside = shapes_in_image(shapes, width, height, RepairReport())
    keep = [s for s, ok in zip(shapes, inside) if ok]
    drawing = Drawing.of(keep)
    which = drawing.paint(range(len(keep)), 0, 0, width, height)
    lut = np.array([fill] + [int(values[s.label]) for s in keep], dtype=dtype)
    return lut[which]
