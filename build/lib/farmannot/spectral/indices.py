"""Normalised-difference indices with a guarded denominator; invalid pixels become NaN."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# |a + b| below this counts as a zero sum: the index is undefined there (NaN), never +-inf.
EPS = 1e-6


def normalized_difference(a: np.ndarray, b: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """``(a - b) / (a + b)`` as float32; NaN where the sum is ~0, an input is not finite, or ``valid`` is False."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    den = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (a - b) / den
    # Guard only where needed: a scan for the rare bad pixel is cheaper than a masked divide everywhere.
    if not den.min() > EPS and np.abs(den).min() <= EPS:  # reflectances: den.min() > EPS decides
        out[np.abs(den) <= EPS] = np.nan
    if valid is not None and not valid.all():
        out[~valid] = np.nan
    return out


def ndvi(nir: np.ndarray, red: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """NDVI = (NIR - R) / (NIR + R)."""
    return normalized_difference(nir, red, valid)


def ndwi(green: np.ndarray, nir: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """NDWI (McFeeters) = (G - NIR) / (G + NIR)."""
    return normalized_difference(green, nir, valid)


def ndbi(swir: np.ndarray, nir: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """NDBI = (SWIR - NIR) / (SWIR + NIR)."""
    return normalized_difference(swir, nir, valid)


@dataclass(frozen=True)
class CategoryIndex:
    """Which index describes a SPIE category, and which bands it needs (numerator first)."""

    category: str
    index: str
    bands: tuple[str, str]


CATEGORIES: dict[str, CategoryIndex] = {
    "vegetation": CategoryIndex("vegetation", "ndvi", ("nir", "red")),
    "water": CategoryIndex("water", "ndwi", ("green", "nir")),
    "building": CategoryIndex("building", "ndbi", ("swir1", "nir")),
}


def category_index(category: str, bands: dict[str, np.ndarray], valid: np.ndarray | None = None) -> np.ndarray:
    """The index map of ``category`` from a dict of named band arrays."""
    spec = CATEGORIES[category]
    a, b = spec.bands
    return normalized_difference(bands[a], bands[b], valid)
