"""Water and vegetation maps for the surroundings checks, robust to uncalibrated bands and RGB-only input.

The plain index thresholds (:func:`farmannot.captions.measures.water_map`, ``vegetation_map``) assume
reflectance. Two things go wrong without it, and the functions here address each with a physical argument
rather than a tuned number:

- **NIR on an unknown scale** (digital numbers of a product without a reflectance scale). Bright surfaces
  that are not green in the visible bands (bare soil, rock, roofs) lie on the *soil line*, NIR about 1.2 times
  red in reflectance (Baret and Guyot). :func:`soil_line_nir` rescales NIR so that the tile's bright non-green
  pixels sit there; multiplying NIR by any factor then gives the same NDVI and NDWI maps.
- **No NIR at all.** Dark water and dark shadow or canopy look alike pixel by pixel. Water is told apart by
  what a pixel cannot show: red the weakest band and blue at least as strong as green (vegetation peaks in
  green), and above all an *homogeneous surface*: a water body has an interior whose brightness hardly
  varies, while shadows are slivers beside sunlit slopes and canopy is speckled (:func:`homogeneous_patches`).

Everything is pure numpy / OpenCV over band arrays (NaN = invalid), in any unit: thresholds on texture are
relative to the tile's own brightness range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from farmannot.captions.measures import green_leaf_index
from farmannot.spectral.indices import normalized_difference


@dataclass(frozen=True)
class CoverMap:
    """A boolean land-cover map with how it was made and the numbers behind it."""

    mask: np.ndarray
    method: str
    evidence: dict[str, float]


def soil_line_nir(bands: Mapping[str, np.ndarray], soil_ratio: float = 1.2,
                  min_share: float = 0.1) -> tuple[np.ndarray, float]:
    """NIR rescaled so that the tile's bright, non-green pixels have NIR / red = ``soil_ratio``.

    Reference pixels: valid, not green in the visible (green leaf index <= 0; visible digital numbers, any
    above 1.5, are first divided by their tile median, a grey-world balance), at least as bright as the
    tile's median visible brightness (dark water and shadow are off the soil line). Their lower quartile of
    NIR / red is taken as the soil line (vegetation and wet patches among them only raise the ratio). When
    fewer than ``min_share`` of the valid pixels qualify (a tile of forest or water), NIR is returned
    unchanged: there is no soil to calibrate against.

    Returns:
        ``(nir, factor)``: the rescaled NIR and the factor applied (1.0 when unchanged).
    """
    nir = np.asarray(bands["nir"], np.float32)
    if not all(k in bands for k in ("red", "green", "blue")):
        return nir, 1.0
    r, g, b = (np.asarray(bands[k], np.float32) for k in ("red", "green", "blue"))
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(nir) & np.isfinite(r) & np.isfinite(g) & np.isfinite(b) & (r > 0) & (nir > 0)
        if not ok.any():
            return nir, 1.0
        vr, vg, vb = r, g, b
        if max(float(np.nanmax(r)), float(np.nanmax(g)), float(np.nanmax(b))) > 1.5:
            # digital numbers: band gains and offsets differ, so balance them on the tile (grey world)
            vr, vg, vb = (x / np.float32(max(float(np.median(x[ok])), 1e-6)) for x in (r, g, b))
        bright = (vr + vg + vb) / 3.0
        ref = ok & (green_leaf_index(vr, vg, vb) <= 0) & (bright >= np.median(bright[ok]))
        if ref.sum() < max(1, min_share * ok.sum()):
            return nir, 1.0
        ratio = float(np.median(nir[ref] / r[ref]))
    if not np.isfinite(ratio) or ratio <= 0:
        return nir, 1.0
    factor = soil_ratio / ratio
    return nir * np.float32(factor), factor


@dataclass(frozen=True)
class SceneCalibration:
    """The scene's soil-line NIR factor (:func:`scene_soil_calibration`).

    Attributes:
        nir_factor: Multiply the scene's NIR by this to put its bare soil on the soil line (1.0 when no soil
            was found).
        soil_found: Whether the scene had bare soil to calibrate on; when False, callers keep their
            uncalibrated behaviour.
        evidence: The numbers behind it (``soil_share``, ``soil_nir_red``, ``green_nir_red``, ``contrast``).
    """

    nir_factor: float
    soil_found: bool
    evidence: dict[str, float]


def scene_soil_calibration(bands: Mapping[str, np.ndarray], soil_ratio: float = 1.2, min_share: float = 0.05,
                           min_contrast: float = 1.3) -> SceneCalibration:
    """Soil-line NIR factor of a whole scene (usually a decimated read), for NIR on an unknown scale.

    A tile that is all crop has no soil to calibrate on, and balancing its visible bands on itself (grey
    world) makes a uniformly green tile look neutral. Over a whole scene, bare soil is usually somewhere: the
    visible bands are balanced on the *scene* medians, the bright (at least the scene's median visible
    brightness), not-green (green leaf index <= 0) pixels are the soil candidates and the lower quartile of
    their NIR / red is the soil line; the factor puts it at ``soil_ratio``.

    Soil is only accepted when it is a separate surface: at least ``min_share`` of the valid pixels are
    candidates, and the green pixels' median NIR / red is at least ``min_contrast`` times the soil line
    (green crops reflect far more NIR per unit red than soil; a scene of one cover, all crop or all fallow,
    splits into two halves that differ much less). Otherwise the factor is 1.0 and ``soil_found`` False.
    Both tests compare ratios of ratios, so multiplying NIR (or any visible band) by a constant changes the
    factor by its inverse and the rescaled NIR not at all.

    Args:
        bands: ``red``, ``green``, ``blue`` and ``nir`` arrays of the same shape, NaN where invalid.
        soil_ratio: NIR / red of bare soil in reflectance (Baret and Guyot: 1.1-1.3).
        min_share: Least share of valid pixels that must be soil candidates.
        min_contrast: Least ratio of the green pixels' NIR / red to the soil line.
    """
    none = SceneCalibration(1.0, False, {})
    if not all(k in bands for k in ("red", "green", "blue", "nir")):
        return none
    r, g, b, nir = (np.asarray(bands[k], np.float32) for k in ("red", "green", "blue", "nir"))
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(nir) & np.isfinite(r) & np.isfinite(g) & np.isfinite(b) & (r > 0) & (g > 0) & \
            (b > 0) & (nir > 0)
        if ok.sum() < 10:
            return none
        vr, vg, vb = (x[ok] / np.float32(float(np.median(x[ok]))) for x in (r, g, b))
        q = nir[ok] / r[ok]
        bright = (vr + vg + vb) / 3.0
        gli = green_leaf_index(vr, vg, vb)
        soil = (gli <= 0) & (bright >= np.median(bright))
        green = gli > 0
    ev = {"soil_share": round(float(soil.mean()), 4)}
    if soil.sum() < max(1, min_share * ok.sum()) or not green.any():
        return SceneCalibration(1.0, False, ev)
    soil_q = float(np.percentile(q[soil], 25))
    green_q = float(np.median(q[green]))
    contrast = green_q / soil_q if soil_q > 0 else 0.0
    ev.update(soil_nir_red=round(soil_q, 4), green_nir_red=round(green_q, 4), contrast=round(contrast, 4))
    if not np.isfinite(contrast) or contrast < min_contrast:
        return SceneCalibration(1.0, False, ev)
    return SceneCalibration(soil_ratio / soil_q, True, ev)


def brightness(bands: Mapping[str, np.ndarray]) -> np.ndarray:
    """Mean of the visible bands present (red, green, blue), float32, NaN where any is invalid."""
    vis = [np.asarray(bands[k], np.float32) for k in ("red", "green", "blue") if k in bands]
    return np.mean(vis, axis=0) if vis else np.asarray(next(iter(bands.values())), np.float32)


def homogeneous_patches(candidates: np.ndarray, value: np.ndarray, max_texture_rel: float,
                        min_core_share: float) -> tuple[np.ndarray, dict[str, float]]:
    """Keep the connected candidate patches that have a smooth interior.

    A patch is kept when (a) at least ``min_core_share`` of its pixels are *core* pixels (their whole 3 x 3
    neighbourhood is candidate: a one- or two-pixel sliver has none) and (b) the median over its core of the
    local standard deviation of ``value`` among candidate neighbours (3 x 3, so the contrast with the shore
    does not count) is at most ``max_texture_rel`` times the tile's 2-98 % range of ``value``.

    Returns:
        ``(kept, evidence)``: the mask of kept patches and ``texture_rel`` (area-weighted median texture of
        the kept patches, relative to the tile range; the candidates' when none is kept), ``kept_share`` (kept
        candidate pixels / candidate pixels), ``candidate_frac`` (candidate pixels / tile).
    """
    cand = np.asarray(candidates, bool)
    v = np.asarray(value, np.float32)
    fin = np.isfinite(v)
    if not cand.any() or not fin.any():
        return np.zeros_like(cand), {"texture_rel": 0.0, "kept_share": 0.0, "candidate_frac": 0.0}
    lo, hi = np.percentile(v[fin], [2, 98])
    span = float(hi - lo) if hi > lo else 1.0
    m = cand.astype(np.float32)
    x = np.where(cand & fin, v, 0).astype(np.float32)
    k = (3, 3)
    n = cv2.blur(m, k, borderType=cv2.BORDER_REFLECT)
    mu = cv2.blur(x, k, borderType=cv2.BORDER_REFLECT) / np.maximum(n, 1e-6)
    var = cv2.blur(x * x, k, borderType=cv2.BORDER_REFLECT) / np.maximum(n, 1e-6) - mu * mu
    texture = np.sqrt(np.maximum(var, 0)) / span
    core = cv2.erode(cand.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE) > 0
    lab, count = ndimage.label(cand, np.ones((3, 3), int))
    idx = np.arange(1, count + 1)
    area = np.asarray(ndimage.sum(cand, lab, idx), float)
    ncore = np.asarray(ndimage.sum(core, lab, idx), float)
    med = np.asarray(ndimage.median(texture, lab * core, idx), float)
    med = np.where(ncore > 0, np.nan_to_num(med, nan=np.inf), np.inf)
    keep = (ncore >= min_core_share * area) & (med <= max_texture_rel)
    lut = np.zeros(count + 1, bool)
    lut[1:] = keep
    kept = lut[lab]
    sel = keep if keep.any() else np.isfinite(med)
    tex = float(np.average(med[sel], weights=area[sel])) if sel.any() else float("inf")
    return kept, {"texture_rel": round(tex, 4) if np.isfinite(tex) else 1.0,
                  "kept_share": round(float(kept.sum() / cand.sum()), 4),
                  "candidate_frac": round(float(cand.mean()), 4)}


def _nir(bands: Mapping[str, np.ndarray], t: Mapping[str, float], nir_factor: float | None) -> tuple[np.ndarray, float]:
    """NIR times the scene's factor when given, else rescaled on the tile's own soil line."""
    if nir_factor is not None:
        return np.asarray(bands["nir"], np.float32) * np.float32(nir_factor), float(nir_factor)
    return soil_line_nir(bands, t["soil_nir_red_ratio"])


def _scene_note(nir_factor: float | None) -> dict[str, str]:
    return {"nir_calibration": "scene"} if nir_factor is not None else {}


def water_cover(bands: Mapping[str, np.ndarray], t: Mapping[str, float],
                nir_factor: float | None = None) -> CoverMap | None:
    """Water: NDWI on soil-line NIR with NIR, else smooth, dark-or-bluish, red-poor patches; None without bands.

    ``t`` is the ``surroundings`` section of ``templates/suggest.yaml``. With NIR the NDWI map is also
    required to be homogeneous (the same patch test as RGB): water has no canopy texture in any band.
    ``nir_factor`` (the scene's soil line, :func:`scene_soil_calibration`) replaces the tile's soil line.
    """
    tex_max, core = t["water_max_texture_rel"], t["water_min_core_share"]
    if "green" in bands and "nir" in bands:
        nir, factor = _nir(bands, t, nir_factor)
        raw = normalized_difference(np.asarray(bands["green"], np.float32), nir) > t["ndwi_water"]
        if "red" in bands:  # water reflects less NIR than red; land, sunlit or shaded, more
            with np.errstate(invalid="ignore"):
                raw &= nir < np.asarray(bands["red"], np.float32)
        kept, ev = homogeneous_patches(raw, nir, tex_max, core)
        return CoverMap(kept, "ndwi", {"nir_factor": round(factor, 4), **_scene_note(nir_factor), **ev})
    if not all(k in bands for k in ("red", "green", "blue")):
        return None
    r, g, b = (np.asarray(bands[k], np.float32) for k in ("red", "green", "blue"))
    with np.errstate(invalid="ignore", divide="ignore"):
        bluish = (g > r) & (b >= t["rgb_water_min_blue_green"] * g) & \
                 (normalized_difference(b, r) > t["rgb_water_min_blue_red"]) & \
                 ((r + g + b) / 3.0 < t["rgb_water_max_brightness"])
        black = (np.fmax(np.fmax(r, g), b) < t["rgb_water_max_dark"]) & (r <= np.fmax(g, b))
    kept, ev = homogeneous_patches(bluish | black, brightness(bands), tex_max, core)
    return CoverMap(kept, "rgb_smooth_bluish", ev)


def vegetation_cover(bands: Mapping[str, np.ndarray], t: Mapping[str, float],
                     water: np.ndarray | None = None, pixel_size_m: float | None = None,
                     nir_factor: float | None = None) -> CoverMap | None:
    """Tree cover: NDVI on soil-line NIR with NIR, else the green leaf index; never on water pixels.

    Where pixels resolve tree crowns (``pixel_size_m`` at most ``canopy_texture_max_pixel_m``), canopy is
    rough (lit crowns beside shaded gaps; texture of NIR, else of visible brightness) and crops or grass are
    smooth: green patches that pass the homogeneity test of :func:`homogeneous_patches` (limit ``crop_max_texture_rel``) are dropped as crops.
    Coarser pixels average crowns and gaps, so no texture test is made there (on 30 m Landsat the texture of
    woods and of dark crop fields overlaps). None without red + NIR or red + green + blue. ``nir_factor``
    (the scene's soil line) replaces the tile's soil line.
    """
    if "nir" in bands and "red" in bands:
        nir, factor = _nir(bands, t, nir_factor)
        veg = normalized_difference(nir, np.asarray(bands["red"], np.float32)) > t["ndvi_vegetation"]
        cover = CoverMap(veg, "ndvi", {"nir_factor": round(factor, 4), **_scene_note(nir_factor)})
        value = nir  # canopy shading is strongest in NIR
    elif all(k in bands for k in ("red", "green", "blue")):
        veg = green_leaf_index(bands["red"], bands["green"], bands["blue"]) > t["gli_vegetation"]
        cover = CoverMap(veg, "gli", {})
        value = brightness(bands)
    else:
        return None
    if water is not None:
        cover.mask[np.asarray(water, bool)] = False
    if pixel_size_m is not None and pixel_size_m <= t["canopy_texture_max_pixel_m"] and cover.mask.any():
        smooth, ev = homogeneous_patches(cover.mask, value, t["crop_max_texture_rel"], 0.2)
        cover.mask[smooth] = False
        cover.evidence["smooth_green_frac"] = round(float(smooth.mean()), 4)
    return cover


def close_canopy_gaps(trees: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Tree map with one-pixel gaps filled (3 x 3 closing) where ``allowed``.

    A single unflagged pixel between tree pixels is below what the map resolves (a canopy gap, a mixed or
    noisy pixel, a speck of dark water candidate): a wood with clearings is still one wood. Farmland and
    water are never filled (they are left out of ``allowed``).
    """
    closed = cv2.morphologyEx(np.asarray(trees, np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8),
                              borderType=cv2.BORDER_REPLICATE) > 0
    return (closed & np.asarray(allowed, bool)) | np.asarray(trees, bool)


def inscribed_width_m(patch: np.ndarray, pixel_size_m: float) -> float:
    """Diameter of the largest disc inside a single-patch mask, in metres (pixel centres, as in measures)."""
    m = np.pad(np.ascontiguousarray(patch, dtype=np.uint8), 1)
    dist = cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return max(1.0, 2.0 * float(dist.max()) - 1.0) * pixel_size_m
