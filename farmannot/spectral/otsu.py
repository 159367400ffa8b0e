"""Otsu's threshold on the valid values of an index map.

A histogram-based Otsu with the same binning as scikit-image's ``threshold_otsu`` (256 bins spanning the
value range, threshold at a bin centre), built with one ``bincount`` instead of ``np.histogram``: the same
answer several times faster, which matters at hundreds of tiles per second. Tests compare the two.
"""

from __future__ import annotations

import numpy as np


def otsu_threshold(values: np.ndarray, nbins: int = 256) -> float | None:
    """Otsu threshold of the finite entries of ``values``; None when there are none.

    A constant input returns that constant (nothing lies strictly above it).
    """
    v = np.asarray(values, dtype=np.float32).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    lo = float(v.min())
    hi = float(v.max())
    if hi == lo:
        return lo
    width = (hi - lo) / nbins
    idx = ((v - np.float32(lo)) * np.float32(nbins / (hi - lo))).astype(np.int32)
    np.minimum(idx, nbins - 1, out=idx)
    hist = np.bincount(idx, minlength=nbins).astype(np.float64)
    centers = lo + width * (np.arange(nbins) + 0.5)
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
