"""Prompts as labelme's AI tools send them, turned into SAM decoder inputs, and masks chosen from outputs.

labelme's point tool sends clicks with labels 1 (include) and 0 (exclude); its box tool sends two corners
with labels 2 and 3 (SAM's box-corner convention). SAM's predictor takes points and a box separately.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POSITIVE, NEGATIVE, BOX_TOP_LEFT, BOX_BOTTOM_RIGHT = 1, 0, 2, 3


@dataclass(frozen=True)
class Prompt:
    """SAM decoder inputs in image pixel coordinates (``x, y``)."""

    point_coords: np.ndarray | None  # (N, 2) float
    point_labels: np.ndarray | None  # (N,) int, 1 include / 0 exclude
    box: np.ndarray | None  # (4,) x0, y0, x1, y1

    @property
    def multimask(self) -> bool:
        """One click alone is ambiguous (field, field group, parcel part): ask SAM for three masks."""
        return self.box is None and self.point_labels is not None and len(self.point_labels) == 1


def prompt_from_labelme(points, labels) -> Prompt:
    """Split labelme's ``points``/``point_labels`` into SAM's points and box.

    Raises:
        ValueError: no prompt at all, a box with only one corner, or unknown labels.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    lab = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(pts) != len(lab) or len(pts) == 0:
        raise ValueError(f"need matching non-empty points and labels, got {len(pts)} and {len(lab)}")
    unknown = set(lab.tolist()) - {POSITIVE, NEGATIVE, BOX_TOP_LEFT, BOX_BOTTOM_RIGHT}
    if unknown:
        raise ValueError(f"unknown point labels {sorted(unknown)}")
    tl, br = lab == BOX_TOP_LEFT, lab == BOX_BOTTOM_RIGHT
    box = None
    if tl.any() or br.any():
        if tl.sum() != 1 or br.sum() != 1:
            raise ValueError("a box prompt needs exactly one corner of each kind (labels 2 and 3)")
        corners = np.vstack([pts[tl][0], pts[br][0]])
        box = np.concatenate([corners.min(axis=0), corners.max(axis=0)])
    clicks = ~(tl | br)
    if clicks.any():
        return Prompt(pts[clicks].astype(np.float32), lab[clicks].astype(np.int32), box)
    return Prompt(None, None, box)
