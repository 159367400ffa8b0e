"""Otsu's threshold on the valid values of an index map.

Same binning as scikit-image's ``threshold_otsu`` (256 equal bins spanning the value range, threshold at
a bin centre), but the histogram is built by quantising to uint8 with OpenCV and counting with
``cv2.calcHist``: the same answer (tests compare the two) about ten times faster, which matters at
hundreds of tiles per second.
"""

from __future__ import annotations

import cv2
import numpy as np

NBINS = 256


def _histogram(v: np.ndarray, lo: float, hi: float, valid: np.ndarray | None) -> np.ndarray:
    """Counts of ``v`` in 256 equal bins over [lo, hi] (hi in the last bin), ignoring ``~valid``."""
    alpha = NBINS / (hi - lo) * (1 - 1e-6)  # keeps v == hi inside bin 255
    # convertScaleAbs rounds to nearest; subtracting 0.5 turns that into floor (abs folds -0.5..0 to 0).
    q = cv2.convertScaleAbs(v, alpha=alpha, beta=-lo * alpha - 0.5)
    mask = None if valid is None else valid.view(np.uint8)
    return cv2.calcHist([q], [0], mask, [NBINS], [0, NBINS]).ravel().astype(np.float64)


def otsu_threshold(values: np.ndarray) -> float | None:
    """Otsu threshold of the finite entries of ``values``; None when there are none.

    A constant input returns that constant (nothing lies strictly above it).
    """
    v = np.asarray(values, dtype=np.float32)
    if v.ndim != 2:
        v = v.reshape(1, -1)
    v = np.ascontiguousarray(v)
    finite = None
    if not np.isfinite(v.min() + v.max()):  # NaN or inf somewhere
        finite = np.isfinite(v)
        if not finite.any():
            return None
        lo, hi = float(v[finite].min()), float(v[finite].max())
        v = np.where(finite, v, lo).astype(np.float32)
    else:
        lo, hi = float(v.min()), float(v.max())
    if hi == lo:
        return lo
    hist = _histogram(v, lo, hi, finite)
    width = (hi - lo) / NBINS
    centers = lo + width * (np.arange(NBINS) + 0.5)
    w1 = np.cumsum(hist)
    w2 = np.cumsum(hist[::-1])[::-1]
    m = hist * centers
    with np.errstate(invalid="ignore", divide="ignore"):
        mean1 = np.cumsum(m) / w1
        mean2 = (np.cumsum(m[::-1]) / w2[::-1])[::-1]
    var12 = w1[:-1] * w2[1:] * (mean1[:-1] - mean2[1:]) ** 2
    return float(centers[int(np.nanargmax(var12))])


def otsu_mask(index_map: np.ndarray) -> tuple[np.ndarray, float | None]:
    """Pixels strictly above the Otsu threshold (NaN pixels are never in the mask)."""
    t = otsu_threshold(index_map)
    if t is None:
        return np.zeros(index_map.shape, dtype=bool), None
    with np.errstate(invalid="ignore"):
        return index_map > t, t
