"""Blending weights for overlapping patches: a separable ramp that fades each patch out over the overlap.

Pixels near a patch edge get small (never zero) weight, so where two patches overlap the prediction moves
smoothly from one to the other instead of jumping at a seam.
"""

from __future__ import annotations

import numpy as np


def ramp(length: int, overlap: int) -> np.ndarray:
    """1-D weights: rising linearly over ``overlap`` px at both ends, 1 in the middle, always > 0."""
    w = np.ones(length, dtype=np.float32)
    if overlap <= 0 or length <= 2:
        return w
    n = min(overlap, length // 2)
    edge = (np.arange(1, n + 1, dtype=np.float32)) / (n + 1)
    w[:n] = edge
    w[length - n:] = edge[::-1]
    return w


def blend_weights(height: int, width: int, overlap: int) -> np.ndarray:
    """2-D weights of a ``height`` x ``width`` patch (outer product of two ramps)."""
    return np.outer(ramp(height, overlap), ramp(width, overlap))
