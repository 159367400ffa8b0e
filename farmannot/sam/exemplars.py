"""Example boxes for a concept prompt (``propose --text`` with ``--points`` / ``--spectral-boxes``), per chip.

SAM 3 takes a text prompt together with positive example boxes (``Sam3Processor.add_geometric_prompt``;
``Sam3Backend.text_masks(..., boxes=...)``). Two sources, both in the chip's pixel-edge coordinates
(``x0, y0, x1, y1``, as every farmannot geometry in pixels):

- survey points: a square of :data:`POINT_BOX_PX` pixels centred on each point the chip holds, clipped to the
  chip. A box, not a point: sam3's processor adds exemplars to a text prompt as boxes only, and
  ``text_masks`` is checked against it for boxes; a point with text has no such reference.
- spectral regions: the SPIE path of ``farmannot prompts`` on the chip's bands (the category's index,
  Otsu, the :data:`SPECTRAL_REGIONS` largest 8-connected regions above it, :mod:`farmannot.spectral`) with
  each region's axis-aligned bounding box.
"""

from __future__ import annotations

import numpy as np

from farmannot.spectral.indices import category_index
from farmannot.spectral.otsu import otsu_mask
from farmannot.spectral.regions import region_attributes

#: Side of the example box around a survey point, in chip (scene) pixels.
POINT_BOX_PX = 32
#: Regions of the spectral path that become example boxes on a chip (as ``farmannot prompts`` lists them).
SPECTRAL_REGIONS = 10

NO_BOXES = np.zeros((0, 4))


def point_boxes(xy: np.ndarray, window: tuple[int, int, int, int], size: float = POINT_BOX_PX) -> np.ndarray:
    """Boxes ``(N, 4)`` in chip pixels around the scene points ``xy`` (pixel-edge ``(N, 2)``) inside
    ``window`` = ``(col_off, row_off, width, height)``; points on the window's right or bottom edge are outside."""
    col, row, w, h = window
    xy = np.asarray(xy, dtype=float).reshape(-1, 2) - (col, row)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    p = xy[inside]
    half = size / 2
    return np.column_stack([np.clip(p[:, 0] - half, 0, w), np.clip(p[:, 1] - half, 0, h),
                            np.clip(p[:, 0] + half, 0, w), np.clip(p[:, 1] + half, 0, h)])


def spectral_boxes(bands: dict[str, np.ndarray], valid: np.ndarray | None, category: str,
                   max_regions: int = SPECTRAL_REGIONS) -> np.ndarray:
    """Boxes ``(N, 4)`` (pixel edges, largest region first) of the ``category``'s spectral regions on a chip
    whose bands (named as in ``CATEGORIES[category].bands``) are given."""
    mask, _ = otsu_mask(category_index(category, bands, valid))
    regions = region_attributes(mask, max_regions=max_regions, bbox="axis")
    if not regions:
        return NO_BOXES
    # bbox_px corners are pixel indices (TL, TR, BR, BL); the box covers those pixels: + 1 on the far edges
    return np.array([[r.bbox_px[0][0], r.bbox_px[0][1], r.bbox_px[2][0] + 1, r.bbox_px[2][1] + 1]
                     for r in regions], dtype=float)
