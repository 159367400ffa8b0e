"""labelme shapes -> label rasters (mask, boundary, parcel ids) for any window of a scene.

labelme's semantics: shapes paint in file order, later over earlier; ``__ignore__`` paints 255 (not
scored), ``_background_`` paints 0 (so it carves holes in farmland drawn before it). Every window is
rasterised on its own with :func:`rasterio.features.rasterize`, so a 10,000 x 10,000 px scene never needs a
full-size label array: memory is set by the tile size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from rasterio import features
from rasterio.transform import Affine
from rasterio.windows import Window
from scipy import ndimage
from shapely.geometry.base import BaseGeometry
from skimage.segmentation import find_boundaries

from farmannot.errors import InputError
from farmannot.io.labelme_json import Shape
from farmannot.labels.geometry import AREA_TYPES, RepairReport, shape_footprint

IGNORE_LABEL = "__ignore__"
BACKGROUND_LABEL = "_background_"
IGNORE_VALUE = 255
#: Default label map: every label that means farmland -> 1.
DEFAULT_LABEL_MAP: dict[str, int] = {"farmland": 1}


@dataclass
class LabelPlan:
    """A scene's shapes, ready to rasterise window by window.

    Attributes:
        footprints: Geometries in rasterio pixel coordinates, file order.
        values: Mask value per footprint (class, 0 for background, 255 for ignore).
        parcel_ids: Instance id per footprint (0 for background / ignore shapes).
        width, height: Scene size in pixels.
        report: What was repaired, clipped or dropped.
        n_parcels: Number of distinct parcel ids.
    """

    footprints: list[BaseGeometry]
    values: list[int]
    parcel_ids: list[int]
    width: int
    height: int
    report: RepairReport
    n_parcels: int

    def __post_init__(self) -> None:
        self._tree = shapely.STRtree(self.footprints) if self.footprints else None

    def in_window(self, window: Window) -> list[int]:
        """Indices (file order) of the footprints that touch ``window``."""
        if self._tree is None:
            return []
        c0, r0 = float(window.col_off), float(window.row_off)
        hits = self._tree.query(shapely.box(c0, r0, c0 + window.width, r0 + window.height))
        return sorted(int(i) for i in hits)


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
    lmap = dict(DEFAULT_LABEL_MAP if label_map is None else label_map)
    lmap[IGNORE_LABEL] = IGNORE_VALUE
    lmap[BACKGROUND_LABEL] = 0
    report = RepairReport()
    feet, values, pids = [], [], []
    instance: dict[tuple, int] = {}
    n_area = 0
    for i, shape in enumerate(shapes):
        where = f"shape {i} ({shape.label!r})"
        if shape.label not in lmap:
            raise InputError(
                f"{source}: {where} has label {shape.label!r}, which is not in the label map "
                f"({', '.join(sorted(lmap))}); add it under 'label_map' in the build config or relabel it."
            )
        foot = shape_footprint(shape, width, height, where, report)
        if foot is None:
            report.dropped.append({"shape": where, "reason": f"{shape.shape_type} is not an area"})
            continue
        n_area += 1
        if foot.is_empty:
            report.dropped.append({"shape": where, "reason": "empty after repair and clipping to the image"})
            continue
        value = int(lmap[shape.label])
        pid = 0
        if value not in (0, IGNORE_VALUE):
            key = (shape.label, shape.group_id) if shape.group_id is not None else ("#", i)
            pid = instance.setdefault(key, len(instance) + 1)
        feet.append(foot)
        values.append(value)
        pids.append(pid)
    if n_area and not feet:
        raise InputError(f"{source}: every shape lies outside the {width} x {height} px image; check that "
                         "imagePath points at the scene the shapes were drawn on.")
    return LabelPlan(feet, values, pids, width, height, report, len(instance))


def _burn(plan: LabelPlan, idx: list[int], window: Window, which: str, dtype: str) -> np.ndarray:
    shape = (int(window.height), int(window.width))
    vals = plan.values if which == "mask" else plan.parcel_ids
    pairs = [(plan.footprints[i], vals[i]) for i in idx]
    if not pairs:
        return np.zeros(shape, dtype=dtype)
    tr = Affine.translation(float(window.col_off), float(window.row_off))
    return features.rasterize(pairs, out_shape=shape, transform=tr, fill=0, dtype=dtype)


def rasterize_mask(plan: LabelPlan, window: Window) -> np.ndarray:
    """uint8 mask of ``window``: class values, 0 background, 255 ignore (later shapes win)."""
    return _burn(plan, plan.in_window(window), window, "mask", "uint8")


def rasterize_parcels(plan: LabelPlan, window: Window) -> np.ndarray:
    """uint32 scene-wide parcel ids of ``window`` (0: no parcel; ignore and background shapes carve)."""
    return _burn(plan, plan.in_window(window), window, "parcel", "uint32")


def parcel_boundaries(parcels: np.ndarray, width: int = 1) -> np.ndarray:
    """uint8 0/1 boundary: parcel pixels within ``width`` px of a pixel with another id (or none).

    skimage's ``find_boundaries(mode='inner')`` marks the edge ring inside each parcel, so two touching
    parcels each get their own edge and stay apart; the image border is not an edge.
    """
    edge = find_boundaries(parcels, connectivity=1, mode="inner") & (parcels > 0)
    if width > 1:
        edge = ndimage.binary_dilation(edge, structure=np.ones((3, 3), bool), iterations=width - 1)
        edge &= parcels > 0
    return edge.astype(np.uint8)


@dataclass
class TileLabels:
    """The three label levels of one tile."""

    mask: np.ndarray      # uint8: 0 background, class values, 255 ignore
    boundary: np.ndarray  # uint8 0/1
    parcel: np.ndarray    # uint16 tile-local instance ids 1..n in order of scene id
    parcel_scene_ids: list[int]


def tile_labels(plan: LabelPlan, window: Window, boundary_width: int = 1) -> TileLabels:
    """Mask, boundary and parcel rasters of one window; the boundary sees ``boundary_width`` px beyond it.

    One rasterisation of the padded window burns the index of the last shape over each pixel; the mask
    and the parcel ids are looked up from it.
    """
    pad = boundary_width
    c0, r0 = int(window.col_off), int(window.row_off)
    h, w = int(window.height), int(window.width)
    # padded window clipped to the scene; outside the scene the edge pixels repeat (no false edge there)
    pc0, pr0 = max(0, c0 - pad), max(0, r0 - pad)
    pc1, pr1 = min(plan.width, c0 + w + pad), min(plan.height, r0 + h + pad)
    big = Window(pc0, pr0, pc1 - pc0, pr1 - pr0)
    idx = plan.in_window(big)
    shape = (pr1 - pr0, pc1 - pc0)
    if idx:
        tr = Affine.translation(float(pc0), float(pr0))
        which = features.rasterize([(plan.footprints[i], k + 1) for k, i in enumerate(idx)], out_shape=shape,
                                   transform=tr, fill=0, dtype="uint32")
    else:
        which = np.zeros(shape, np.uint32)
    mask_lut = np.array([0] + [plan.values[i] for i in idx], dtype=np.uint8)
    pid_lut = np.array([0] + [plan.parcel_ids[i] for i in idx], dtype=np.uint32)
    parcels_big = pid_lut[which]
    padded = np.pad(parcels_big, ((pr0 - (r0 - pad), (r0 + h + pad) - pr1), (pc0 - (c0 - pad), (c0 + w + pad) - pc1)),
                    mode="edge")
    boundary = parcel_boundaries(padded, boundary_width)[pad:pad + h, pad:pad + w]
    inner = (slice(r0 - pr0, r0 - pr0 + h), slice(c0 - pc0, c0 - pc0 + w))
    parcels = parcels_big[inner]
    mask = mask_lut[which[inner]]
    ids = [int(v) for v in np.unique(parcels) if v]
    if len(ids) > np.iinfo(np.uint16).max:
        raise InputError(f"a tile holds {len(ids)} parcels, more than a uint16 parcel raster can number.")
    lut = np.zeros(int(parcels.max()) + 1 if parcels.size else 1, dtype=np.uint16)
    lut[ids] = np.arange(1, len(ids) + 1, dtype=np.uint16)
    return TileLabels(np.ascontiguousarray(mask), np.ascontiguousarray(boundary), lut[parcels], ids)


def class_raster(shapes: Sequence[Shape], height: int, width: int, values: Mapping[str, int],
                 dtype: str = "int32", fill: int = 0) -> np.ndarray:
    """A whole-image class raster as labelme's converter makes it (``labelme2voc``): later shapes win.

    Args:
        shapes: labelme shapes in file order (area types only; others are skipped).
        values: label -> class value (labelme: ``__ignore__`` -1, ``_background_`` 0, then 1, 2, ...).
    """
    report = RepairReport()
    pairs = []
    for i, s in enumerate(shapes):
        if s.shape_type not in AREA_TYPES:
            continue
        foot = shape_footprint(s, width, height, f"shape {i}", report)
        if foot is not None and not foot.is_empty:
            pairs.append((foot, int(values[s.label])))
    if not pairs:
        return np.full((height, width), fill, dtype=dtype)
    return features.rasterize(pairs, out_shape=(height, width), fill=fill, dtype=dtype)
