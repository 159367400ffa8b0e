"""Numbers that caption suggestions are made from: pure functions over masks, band arrays and DEMs.

Nothing here decides a keyword; :mod:`farmannot.captions.suggest` compares these numbers with the thresholds
in ``templates/suggest.yaml``. Connected components, contours, minimum-area rectangles and Douglas-Peucker
simplification are OpenCV's; smoothing and distances are scipy's; slope is the terrain module's Horn slope.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from farmannot.spectral.indices import normalized_difference
from farmannot.terrain.derive import slope_degrees


def min_pixels(area_m2: float, pixel_size_m: float) -> int:
    """Pixels in ``area_m2`` at ``pixel_size_m`` (at least 1)."""
    return max(1, math.ceil(area_m2 / (pixel_size_m * pixel_size_m)))


def label_components(mask: np.ndarray, min_px: int = 1, connectivity: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Components of ``mask`` (``connectivity`` 8 or 4) with at least ``min_px`` pixels, relabelled 1..n.

    Returns:
        ``(labels, areas)``: int32 label image (0 background, dropped specks 0) and the n areas in pixels.
    """
    # by keyword: OpenCV's second and third positional parameters are output arrays, not the connectivity
    n, lab, stats, _ = cv2.connectedComponentsWithStats(np.ascontiguousarray(mask, dtype=np.uint8),
                                                        connectivity=connectivity, ltype=cv2.CV_32S)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= min_px) + 1
    lut = np.zeros(n, np.int32)
    lut[keep] = np.arange(1, len(keep) + 1, dtype=np.int32)
    return lut[lab], areas[keep - 1].astype(np.int64)


def equivalent_elongation(perimeter: float, area: float) -> float:
    """Length / width of the rectangle with the same perimeter and area (1 for compact shapes).

    Unlike a bounding rectangle this follows curved strips (rivers, terraces): a strip of length L and width
    w has perimeter about 2(L + w) whatever its course.
    """
    if area <= 0:
        return 1.0
    k = perimeter * perimeter / (4.0 * area)
    disc = (k - 2.0) ** 2 - 4.0
    if k <= 4.0 or disc <= 0:
        return 1.0
    return ((k - 2.0) + math.sqrt(disc)) / 2.0


def inscribed_elongation(patch: np.ndarray, area: int) -> float:
    """Area / width squared, the width being the diameter of the largest inscribed disc (1 for compact shapes).

    A strip of length L and width w gives L / w, curved or not; a ragged outline, which inflates
    :func:`equivalent_elongation`, does not change it. ``patch`` needs a background border.
    """
    dist = cv2.distanceTransform(np.ascontiguousarray(patch, dtype=np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    width = max(1.0, 2.0 * float(dist.max()) - 1.0)  # pixel centres: a w-px strip peaks at (w + 1) / 2
    return max(1.0, area / (width * width))


@dataclass(frozen=True)
class PatchShape:
    """Geometry of one connected patch (a parcel, a pond, a wood)."""

    area_px: int
    elongation: float        # length / width: the smaller of the outline-based and inscribed-width estimates
    rectangularity: float    # area / minimum-area rectangle area
    vertices: int            # vertices left after Douglas-Peucker simplification
    width_px: float          # area / half the simplified perimeter (mean width of a strip)


def patch_shape(patch: np.ndarray, tolerance_rel: float = 0.04, min_tolerance_px: float = 1.0) -> PatchShape:
    """Shape numbers of a single-patch boolean mask (its largest outer contour)."""
    m = np.pad(np.ascontiguousarray(patch, dtype=np.uint8), 1)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    area = int(patch.sum())
    if not contours or area == 0:
        return PatchShape(area, 1.0, 0.0, 0, 0.0)
    c = max(contours, key=cv2.contourArea)
    eps = max(min_tolerance_px, tolerance_rel * math.sqrt(area))
    simple = cv2.approxPolyDP(c, eps, True)
    # contours run through pixel centres: add the half pixel all round that they leave out
    perim = cv2.arcLength(simple if len(simple) > 2 else c, True) + 4.0
    (_, _), (w, h), _ = cv2.minAreaRect(c)
    rect_area = (w + 1.0) * (h + 1.0)
    return PatchShape(
        area_px=area,
        elongation=min(equivalent_elongation(perim, area), inscribed_elongation(m, area)),
        rectangularity=min(1.0, area / rect_area) if rect_area > 0 else 0.0,
        vertices=int(len(simple)),
        width_px=2.0 * area / perim if perim > 0 else 0.0,
    )


def patch_shapes(labels: np.ndarray, tolerance_rel: float = 0.04, min_tolerance_px: float = 1.0) -> list[PatchShape]:
    """:func:`patch_shape` of every labelled patch (label image from :func:`label_components`)."""
    out = []
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is not None:
            out.append(patch_shape(labels[sl] == i, tolerance_rel, min_tolerance_px))
    return out


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Median of ``values`` where each counts ``weights`` times (the value the typical pixel belongs to)."""
    order = np.argsort(values)
    v, w = np.asarray(values, float)[order], np.asarray(weights, float)[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, cum[-1] / 2.0)])


def layout_measures(mask: np.ndarray, pixel_size_m: float, min_region_m2: float, gap_m: float) -> dict[str, float]:
    """Coverage and contiguity of a farmland mask: blocks are parcels closer than ``gap_m`` merged."""
    mask = np.asarray(mask, bool)
    total = int(mask.sum())
    r = max(1, round(gap_m / pixel_size_m / 2.0))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    merged = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE) > 0
    blocks, _ = label_components(merged | mask, min_pixels(min_region_m2, pixel_size_m))
    per_block = np.bincount(blocks[mask], minlength=blocks.max() + 1)[1:] if total else np.zeros(0, int)
    per_block = per_block[per_block > 0]
    return {
        "coverage": total / mask.size,
        "blocks": int(len(per_block)),
        "largest_share": float(per_block.max() / total) if len(per_block) else 0.0,
        "mean_block_frac": float(per_block.mean() / mask.size) if len(per_block) else 0.0,
    }


def parcel_measures(parcels: np.ndarray, pixel_size_m: float, tolerance_rel: float,
                    min_tolerance_px: float) -> dict[str, float]:
    """Area-weighted parcel morphology of a parcel label image (0 = background)."""
    shapes = [s for s in patch_shapes(parcels, tolerance_rel, min_tolerance_px) if s.area_px > 0]
    if not shapes:
        return {"parcels": 0}
    a = np.array([s.area_px for s in shapes], float)
    w = a / a.sum()
    return {
        "parcels": len(shapes),
        "median_parcel_m2": weighted_median(a, a) * pixel_size_m ** 2,
        "elongation": float(np.sum(w * [s.elongation for s in shapes])),
        "rectangularity": float(np.sum(w * [s.rectangularity for s in shapes])),
        "vertices": float(np.sum(w * [s.vertices for s in shapes])),
    }


def green_leaf_index(red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> np.ndarray:
    """GLI = (2G - R - B) / (2G + R + B): an RGB greenness index (NaN where the sum is ~0)."""
    g2 = 2.0 * np.asarray(green, np.float32)
    return normalized_difference(g2, np.asarray(red, np.float32) + np.asarray(blue, np.float32))


def vegetation_map(bands: dict[str, np.ndarray], ndvi_thr: float, gli_thr: float) -> tuple[np.ndarray, str] | None:
    """Boolean green-vegetation map: NDVI > ``ndvi_thr`` with NIR, else GLI > ``gli_thr``; None without bands."""
    if "nir" in bands and "red" in bands:
        return normalized_difference(bands["nir"], bands["red"]) > ndvi_thr, "ndvi"
    if all(b in bands for b in ("red", "green", "blue")):
        return green_leaf_index(bands["red"], bands["green"], bands["blue"]) > gli_thr, "gli"
    return None


def water_map(bands: dict[str, np.ndarray], ndwi_thr: float, rgb_max_brightness: float) -> tuple[np.ndarray, str] | None:
    """Boolean water map: McFeeters NDWI > ``ndwi_thr`` with NIR, else dark bluish pixels; None without bands.

    The RGB rule (blue >= green > red, mean of the three below ``rgb_max_brightness``) expects values in
    0..1: reflectance, or digital numbers put through the scene stretch
    (:func:`farmannot.captions.annotation.read_index_bands` does that).
    """
    if "green" in bands and "nir" in bands:
        return normalized_difference(bands["green"], bands["nir"]) > ndwi_thr, "ndwi"
    if all(b in bands for b in ("red", "green", "blue")):
        r, g, b = (np.asarray(bands[k], np.float32) for k in ("red", "green", "blue"))
        with np.errstate(invalid="ignore"):
            return (b >= g) & (g > r) & ((r + g + b) / 3.0 < rgb_max_brightness), "rgb_dark_blue"
    return None


def building_map(bands: dict[str, np.ndarray], ndbi_thr: float, ndvi_thr: float) -> tuple[np.ndarray, str] | None:
    """Boolean built-up map: NDBI > ``ndbi_thr`` and not vegetated; None without SWIR and NIR."""
    if "swir1" in bands and "nir" in bands:
        built = normalized_difference(bands["swir1"], bands["nir"]) > ndbi_thr
        if "red" in bands:
            built &= ~(normalized_difference(bands["nir"], bands["red"]) > ndvi_thr)
        return built, "ndbi"
    return None


def smooth(z: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian smoothing with edge replication, for the broad trend of a DEM.

    Wide kernels (sigma > 8 px) run on a block-averaged copy, ``sigma / 4`` times smaller, and are
    interpolated back: the result is a smooth surface either way, at a fraction of the cost.
    """
    z = np.asarray(z, np.float64)
    f = int(sigma_px // 4) if sigma_px > 8 else 1
    h, w = z.shape
    if f > 1 and min(h, w) // f >= 4:
        small = cv2.resize(z, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
        sx, sy = sigma_px * small.shape[1] / w, sigma_px * small.shape[0] / h
        blurred = cv2.GaussianBlur(small, (0, 0), sigmaX=sx, sigmaY=sy, borderType=cv2.BORDER_REPLICATE)
        return cv2.resize(blurred, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(z, (0, 0), sigmaX=sigma_px, sigmaY=sigma_px, borderType=cv2.BORDER_REPLICATE)


def terrain_measures(dem: np.ndarray, pixel_size_m: float, farmland: np.ndarray | None, flat_slope: float,
                     trend_sigma_m: float) -> dict[str, float]:
    """Slope and relief numbers of a DEM aligned to the tile (metres, NaN as nodata).

    ``slope_median`` and ``flat_fraction`` are over the farmland when given (else the whole tile);
    ``trend_slope`` is the median slope of the DEM smoothed by a Gaussian of ``trend_sigma_m`` (the hillside
    under terrace steps); relief is the 2nd-98th percentile range; ``rim_rise`` the mean elevation of the
    outer tenth of the tile minus that of its central half.
    """
    z = np.asarray(dem, np.float64)
    ok = np.isfinite(z)
    if ok.sum() < 9:
        return {}
    slope = slope_degrees(z, pixel_size_m, pixel_size_m)
    filled = np.where(ok, z, np.nanmean(z))
    trend = smooth(filled, trend_sigma_m / pixel_size_m)
    trend_slope = slope_degrees(trend, pixel_size_m, pixel_size_m)
    region = ok & np.isfinite(slope)
    if farmland is not None and (region & farmland).sum() >= 9:
        region &= farmland
    h, w = z.shape
    bh, bw = max(1, h // 10), max(1, w // 10)
    border = np.zeros_like(ok)
    border[:bh], border[-bh:], border[:, :bw], border[:, -bw:] = True, True, True, True
    centre = np.zeros_like(ok)
    centre[h // 4: h - h // 4, w // 4: w - w // 4] = True
    lo, hi = np.percentile(z[ok], [2, 98])
    return {
        "slope_median": float(np.median(slope[region])),
        "slope_p90": float(np.percentile(slope[region], 90)),
        "flat_fraction": float(np.mean(slope[region] < flat_slope)),
        "trend_slope": float(np.median(trend_slope[region])),
        "relief_m": float(hi - lo),
        "elevation_mean_m": float(np.mean(z[ok])),
        "rim_rise_m": float(np.mean(z[border & ok]) - np.mean(z[centre & ok])) if (centre & ok).any() else 0.0,
    }
