"""Suggest caption keywords from the farmland mask, the image bands and an aligned DEM, with evidence.

Each suggestion is a :class:`~farmannot.captions.schema.Keyword` with ``source="suggested"``, the numbers it
came from in ``evidence`` and a ``confidence`` that grows with the distance of those numbers from the
decision thresholds (``templates/suggest.yaml``). A person confirms or corrects; nothing here is final.

What needs what:

- distribution, shape, boundary: the farmland mask (and parcel ids when the shapes are known);
- sowing: bands (NDVI with NIR and red, else the RGB green leaf index);
- terrain, landscape, layout: a DEM on the tile's grid;
- buildings, water, vegetation (:func:`presence`): index maps outside the farmland and masks of shapes
  labelled with those land covers. Buildings need SWIR (NDBI) or building shapes; RGB-only water is a weak
  dark-and-bluish rule and says so in its evidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import ndimage

from farmannot.captions import landcover as lc
from farmannot.captions import measures as ms
from farmannot.captions.schema import Keyword
from farmannot.errors import FarmannotError
from farmannot.resources import load_template_yaml


def load_thresholds() -> dict[str, Any]:
    """``templates/suggest.yaml`` as a dict."""
    cfg = load_template_yaml("suggest.yaml")
    if not isinstance(cfg, dict):
        raise FarmannotError("templates/suggest.yaml: expected a mapping of thresholds.")
    return cfg


def _conf(*margins: float) -> float:
    """Confidence from relative margins to the decision thresholds: 0.5 on a threshold, 0.95 far from all."""
    m = min(max(0.0, x) for x in margins) if margins else 0.0
    return round(0.5 + 0.45 * min(1.0, m), 3)


def _rel(x: float, thr: float) -> float:
    """How far ``x`` is past ``thr``, relative to ``thr`` (0 on it)."""
    return abs(x - thr) / (abs(thr) if thr else 1.0)


def _round(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}


# ----------------------------------------------------------------------------------- farmland geometry
def suggest_distribution(mask: np.ndarray, pixel_size_m: float, cfg: Mapping[str, Any],
                         other_masks: Mapping[str, np.ndarray] | None = None) -> Keyword | None:
    """Macro distribution from coverage, block count and largest-block share (strips from river/road masks)."""
    lay = ms.layout_measures(mask, pixel_size_m, cfg["min_region_m2"], cfg["contiguity_gap_m"])
    if lay["blocks"] == 0:
        return None
    t = cfg["distribution"]
    for kind, names in (("rivers", ("river", "water")), ("roads", ("road",))):
        line = next((np.asarray(other_masks[n], bool) for n in names if other_masks and n in other_masks), None)
        if line is None or not line.any():
            continue
        dist_m = ndimage.distance_transform_edt(~line) * pixel_size_m
        share = float(np.mean(dist_m[np.asarray(mask, bool)] <= t["strip_max_distance_m"]))
        if share >= t["strip_min_share"] and lay["coverage"] <= t["strip_max_coverage"]:
            ev = _round({**lay, f"share_near_{kind}": share})
            return Keyword(f"strip_along_{kind}", "suggested", ev,
                           _conf(_rel(share, t["strip_min_share"]), _rel(lay["coverage"], t["strip_max_coverage"])))
    cov, share, mean_b = lay["coverage"], lay["largest_share"], lay["mean_block_frac"]
    if cov >= t["contiguous_min_coverage"] and share >= t["contiguous_min_largest_share"]:
        value, conf = "concentrated_contiguous", _conf(_rel(cov, t["contiguous_min_coverage"]),
                                                       _rel(share, t["contiguous_min_largest_share"]))
    elif cov <= t["scattered_max_coverage"] and mean_b <= t["scattered_max_mean_block_frac"]:
        value, conf = "scattered", _conf(_rel(cov, t["scattered_max_coverage"]),
                                         _rel(mean_b, t["scattered_max_mean_block_frac"]))
    else:
        value = "dispersed"
        conf = _conf(max(_rel(cov, t["contiguous_min_coverage"]) if cov < t["contiguous_min_coverage"] else 0,
                         _rel(share, t["contiguous_min_largest_share"])
                         if share < t["contiguous_min_largest_share"] else 0))
    return Keyword(value, "suggested", _round(lay), conf)


def suggest_shape_boundary(parcels: np.ndarray, pixel_size_m: float,
                           cfg: Mapping[str, Any]) -> dict[str, Keyword]:
    """``shape`` from parcel size, elongation and rectangularity; ``boundary`` from how far outlines simplify."""
    b = cfg["boundary"]
    pm = ms.parcel_measures(parcels, pixel_size_m, b["tolerance_rel"], b["min_tolerance_px"])
    if not pm.get("parcels"):
        return {}
    ev = _round(pm)
    s = cfg["shape"]
    el, rect, size = pm["elongation"], pm["rectangularity"], pm["median_parcel_m2"]
    if size < s["broken_max_median_parcel_m2"]:
        shape = Keyword("broken", "suggested", ev, _conf(_rel(size, s["broken_max_median_parcel_m2"])))
    elif el >= s["narrow_long_min_elongation"]:
        shape = Keyword("narrow_long", "suggested", ev, _conf(_rel(el, s["narrow_long_min_elongation"])))
    elif el >= s["striped_min_elongation"]:
        shape = Keyword("striped", "suggested", ev, _conf(_rel(el, s["striped_min_elongation"]),
                                                          _rel(el, s["narrow_long_min_elongation"])))
    elif rect >= s["blocky_min_rectangularity"]:
        shape = Keyword("blocky", "suggested", ev, _conf(_rel(rect, s["blocky_min_rectangularity"]),
                                                         _rel(el, s["blocky_max_elongation"])))
    else:
        shape = Keyword("irregular", "suggested", ev, _conf(_rel(rect, s["blocky_min_rectangularity"])))
    v = pm["vertices"]
    lo, hi = b["straight_max_vertices"], b["curved_min_vertices"]
    if v <= lo:
        boundary = Keyword("straight", "suggested", ev, _conf(_rel(v, lo)))
    elif v >= hi:
        boundary = Keyword("curved", "suggested", ev, _conf(_rel(v, hi)))
    else:
        boundary = Keyword("straight" if v - lo < hi - v else "curved", "suggested", ev, 0.5)
    return {"shape": shape, "boundary": boundary}


# ---------------------------------------------------------------------------------------- bands
def suggest_sowing(bands: Mapping[str, np.ndarray], farmland: np.ndarray, cfg: Mapping[str, Any],
                   nir_factor: float | None = None) -> Keyword | None:
    """Sowing from the green-vegetation fraction inside the farmland.

    ``nir_factor``: the scene's soil-line factor (:func:`farmannot.captions.landcover.scene_soil_calibration`)
    for NIR on an unknown scale; NIR is multiplied by it before the NDVI threshold. None: NIR as given.
    """
    t = cfg["sowing"]
    bands = dict(bands)
    if nir_factor is not None and "nir" in bands:
        bands["nir"] = np.asarray(bands["nir"], np.float32) * np.float32(nir_factor)
    veg = ms.vegetation_map(bands, t["ndvi_vegetated"], t["gli_vegetated"])
    if veg is None:
        return None
    green, method = veg
    first = next(iter(bands.values()))
    inside = np.asarray(farmland, bool) & np.isfinite(np.asarray(first, np.float32))
    if inside.sum() == 0:
        return None
    frac = float(green[inside].mean())
    ev = {"green_fraction": round(frac, 4), "index": method, "pixels": int(inside.sum())}
    if nir_factor is not None and method == "ndvi":
        ev["nir_factor"] = round(float(nir_factor), 4)
    if frac >= t["full_min_fraction"]:
        value, conf = "fully_covered", _conf(_rel(frac, t["full_min_fraction"]))
    elif frac >= t["partial_min_fraction"]:
        value, conf = "partially_covered", _conf(_rel(frac, t["partial_min_fraction"]),
                                                 _rel(frac, t["full_min_fraction"]))
    else:
        value, conf = "no_coverage", _conf(_rel(frac, t["partial_min_fraction"]))
    if method == "gli":
        conf = round(conf * 0.85, 3)  # greenness without NIR confuses dark soil and shadow
    return Keyword(value, "suggested", ev, conf)


# ------------------------------------------------------------------------------------------ DEM
def suggest_terrain(dem: np.ndarray, pixel_size_m: float, farmland: np.ndarray | None, cfg: Mapping[str, Any],
                    parcels: np.ndarray | None = None) -> dict[str, Keyword]:
    """``terrain`` and ``landscape`` from slope and relief (``layout`` too when the terrain is terraced)."""
    t, ls = cfg["terrain"], cfg["landscape"]
    tm = ms.terrain_measures(dem, pixel_size_m, farmland, t["flat_max_slope"] * 1.5, t["trend_sigma_m"])
    if not tm:
        return {}
    ev = _round(tm)
    out: dict[str, Keyword] = {}
    slope, trend, flat = tm["slope_median"], tm["trend_slope"], tm["flat_fraction"]
    if trend >= t["terraced_min_trend_slope"] and flat >= t["terraced_min_flat_fraction"]:
        out["terrain"] = Keyword("terraced", "suggested", ev, _conf(_rel(trend, t["terraced_min_trend_slope"]),
                                                                    _rel(flat, t["terraced_min_flat_fraction"])))
    elif slope <= t["flat_max_slope"]:
        out["terrain"] = Keyword("flat", "suggested", ev, _conf(_rel(slope, t["flat_max_slope"])))
    elif slope <= t["undulating_max_slope"]:
        out["terrain"] = Keyword("undulating", "suggested", ev, _conf(_rel(slope, t["flat_max_slope"]),
                                                                      _rel(slope, t["undulating_max_slope"])))
    else:
        out["terrain"] = Keyword("sloping", "suggested", ev, _conf(_rel(slope, t["undulating_max_slope"])))
    relief, elev, rim = tm["relief_m"], tm["elevation_mean_m"], tm["rim_rise_m"]
    if elev >= ls["plateau_min_elevation_m"] and relief <= ls["plateau_max_relief_m"]:
        land = Keyword("plateau", "suggested", ev, _conf(_rel(elev, ls["plateau_min_elevation_m"]),
                                                         _rel(relief, ls["plateau_max_relief_m"])))
    elif relief <= ls["plain_max_relief_m"]:
        land = Keyword("plain", "suggested", ev, _conf(_rel(relief, ls["plain_max_relief_m"])))
    elif rim >= ls["basin_min_rim_rise_m"] and relief <= ls["hills_max_relief_m"]:
        land = Keyword("basin", "suggested", ev, _conf(_rel(rim, ls["basin_min_rim_rise_m"])))
    elif relief <= ls["hills_max_relief_m"]:
        land = Keyword("hills", "suggested", ev, _conf(_rel(relief, ls["plain_max_relief_m"]),
                                                       _rel(relief, ls["hills_max_relief_m"])))
    else:
        land = Keyword("mountains", "suggested", ev, _conf(_rel(relief, ls["hills_max_relief_m"])))
    out["landscape"] = land
    if parcels is not None and out["terrain"].value == "terraced":
        align = contour_alignment(parcels, dem, pixel_size_m, t["trend_sigma_m"])
        if align is not None:
            value = "contour_tiers" if align >= 0.6 else "stepped_blocks"
            out["layout"] = Keyword(value, "suggested", {"contour_aligned_share": round(align, 4)},
                                    _conf(_rel(align, 0.6)))
    return out


def contour_alignment(parcels: np.ndarray, dem: np.ndarray, pixel_size_m: float, sigma_m: float) -> float | None:
    """Share of elongated-parcel area whose long axis runs within 30 degrees of the local contour line."""
    z = np.asarray(dem, np.float64)
    z = np.where(np.isfinite(z), z, np.nanmean(z))
    trend = ms.smooth(z, sigma_m / pixel_size_m)
    gy, gx = np.gradient(trend)  # image axes: rows down, columns right
    total = aligned = 0.0
    for i, sl in enumerate(ndimage.find_objects(parcels), start=1):
        if sl is None:
            continue
        m = parcels[sl] == i
        rows, cols = np.nonzero(m)
        if len(rows) < 10:
            continue
        cov = np.cov(np.vstack([cols, rows]).astype(float))
        evals, evecs = np.linalg.eigh(cov)
        if evals[1] < 4.0 * max(evals[0], 1e-9):  # not elongated (axis ratio < 2): no direction
            continue
        axis = evecs[:, 1]  # (dx, dy) of the long axis
        g = np.array([gx[sl][m].mean(), gy[sl][m].mean()])
        if np.hypot(*g) < 1e-9:
            continue
        contour_dir = np.array([-g[1], g[0]]) / np.hypot(*g)
        total += len(rows)
        if abs(float(axis @ contour_dir)) >= math.cos(math.radians(30)):
            aligned += len(rows)
    return aligned / total if total else None


# ---------------------------------------------------------------------------------- surroundings
_OTHER_LABELS = {"buildings": ("building", "buildings", "house", "settlement"),
                 "water": ("water", "river", "pond", "lake", "reservoir", "canal"),
                 "vegetation": ("vegetation", "tree", "trees", "forest", "woodland", "grass")}


def presence(bands: Mapping[str, np.ndarray] | None, farmland_mask: np.ndarray,
             other_masks: Mapping[str, np.ndarray] | None = None, pixel_size_m: float = 1.0,
             thresholds: Mapping[str, Any] | None = None, nir_factor: float | None = None) -> dict[str, Keyword]:
    """Buildings, water and vegetation around the farmland: absent, or present with a pattern.

    Land cover is taken from index maps (NDBI, NDWI, NDVI; RGB fallbacks for water and vegetation) outside
    the farmland, joined with masks of annotated shapes (``other_masks`` keyed by label: ``water``,
    ``building``, ``tree`` ...). A land cover nothing can see (buildings in an RGB tile without building
    shapes) gets no suggestion: a person must check it. ``nir_factor``: the scene's soil-line factor for NIR
    on an unknown scale, used instead of the tile's own soil line (None: the tile's).
    """
    cfg = dict(thresholds or load_thresholds())
    t = cfg["surroundings"]
    farmland = np.asarray(farmland_mask, bool)
    b = {k: np.asarray(v, np.float32) for k, v in (bands or {}).items()}
    valid = np.all([np.isfinite(v) for v in b.values()], axis=0) if b else np.ones_like(farmland)
    water = lc.water_cover(b, t, nir_factor) if b else None
    veg = lc.vegetation_cover(b, t, water.mask if water else None, pixel_size_m, nir_factor) if b else None
    built = ms.building_map(b, t["ndbi_building"], t["ndvi_vegetation"]) if b else None
    maps = {
        "water": (water.mask, water.method) if water else None,
        "vegetation": (veg.mask, veg.method) if veg else None,
        "buildings": built,
    }
    notes = {"water": water.evidence if water else {}, "vegetation": veg.evidence if veg else {}}
    out: dict[str, Keyword] = {}
    outside = ~farmland & valid
    min_px = ms.min_pixels(t["min_patch_m2"], pixel_size_m)
    for cover, found in maps.items():
        drawn = [np.asarray(m, bool) for k, m in (other_masks or {}).items() if k.lower() in _OTHER_LABELS[cover]]
        if found is None and not drawn:
            continue
        methods = ([found[1]] if found else []) + (["shapes"] if drawn else [])
        cover_map = found[0].copy() if found else np.zeros_like(farmland)
        for m in drawn:
            cover_map |= m
        cover_map &= outside
        land = valid & ~(water.mask if water else np.zeros_like(farmland))  # where woods could grow
        if cover == "vegetation":
            cover_map = lc.close_canopy_gaps(cover_map, outside & land)
        labels, areas = ms.label_components(cover_map, min_px)
        frac = float(areas.sum() / farmland.size)
        ev: dict[str, Any] = {"method": "+".join(methods), "fraction": round(frac, 4), "patches": int(len(areas)),
                              **notes.get(cover, {})}
        weak = 0.7 if methods in (["rgb_smooth_bluish"], ["gli"]) else 1.0
        weak *= _doubt(cover, notes.get(cover, {}), t) if found else 1.0
        drawn_px = int(sum((m & outside).sum() for m in drawn))
        if frac < t["min_fraction"] and not (drawn_px and len(areas)):  # one drawn house is a house
            conf = _conf(_rel(frac, t["min_fraction"])) if found else 0.3  # shapes alone cannot prove absence
            rejected = notes.get(cover, {}).get("candidate_frac", 0.0) >= t["min_fraction"]
            out[cover] = Keyword("absent", "suggested", ev, round(conf * weak * (0.8 if rejected else 1.0), 3))
            continue
        value, conf, extra = _pattern(cover, labels, areas, farmland.size, pixel_size_m, cfg, int(land.sum()))
        ev.update(extra)
        out[cover] = Keyword(value, "suggested", _round(ev), round(conf * weak, 3))
    return out


def _doubt(cover: str, notes: Mapping[str, float], t: Mapping[str, Any]) -> float:
    """Confidence factor (<= 1) for what the index map itself leaves unsure.

    NIR rescaled by the soil line by more than 1.5x either way: the calibration was inferred, not given.
    Water patches whose interior texture is close to the homogeneity limit: they might be shadow or canopy.
    """
    f = 1.0
    factor = notes.get("nir_factor", 1.0)
    if factor > 1.5 or factor < 1 / 1.5:
        f *= 0.85
    if cover == "water" and notes.get("kept_share", 0.0) > 0:
        margin = 1.0 - notes.get("texture_rel", 0.0) / t["water_max_texture_rel"]
        f *= 0.7 + 0.3 * min(1.0, max(0.0, margin))
    return f


def _pattern(cover: str, labels: np.ndarray, areas: np.ndarray, tile_px: int, pixel_size_m: float,
             cfg: Mapping[str, Any], land_px: int | None = None) -> tuple[str, float, dict[str, Any]]:
    """Pattern of a present land cover from its largest patch (and the patch count).

    Vegetation is judged against the tile's land (``land_px``: valid, not water): a wood on a peninsula of a
    reservoir tile is continuous forest even if the water takes most of the tile. Scattered *forests* need
    a patch with interior: an inscribed disc at least ``wood_min_width_m`` across (and three pixels, since
    a coarser tile cannot show a canopy interior).
    """
    t = cfg["surroundings"]
    top = int(np.argmax(areas)) + 1  # only the largest patch's outline matters for the pattern
    sl = ndimage.find_objects(labels, max_label=top)[top - 1]
    big = ms.patch_shape(labels[sl] == top, cfg["boundary"]["tolerance_rel"], cfg["boundary"]["min_tolerance_px"])
    big_frac = big.area_px / tile_px
    extra = {"largest_frac": big_frac, "largest_elongation": big.elongation,
             "largest_width_m": big.width_px * pixel_size_m}
    elong = big.elongation >= t["elongated_min"]
    # size first: a large lake or wood has a long, ragged outline that reads as "elongated" too
    if cover == "water":
        big_m2 = big.area_px * pixel_size_m ** 2  # ponds are small in absolute terms, whatever the tile
        if big_frac >= t["large_patch_frac"] or big_m2 >= t["lake_min_area_m2"]:
            return "lake_reservoir", _conf(max(_rel(big_frac, t["large_patch_frac"]) if big_frac >= t[
                "large_patch_frac"] else 0.0, _rel(big_m2, t["lake_min_area_m2"]) if big_m2 >= t[
                "lake_min_area_m2"] else 0.0)), extra
        if elong:
            narrow = big.width_px * pixel_size_m <= t["channel_max_width_m"]
            return ("channels" if narrow else "river"), _conf(_rel(big.elongation, t["elongated_min"])), extra
        return "scattered_ponds", _conf(_rel(big_frac, t["large_patch_frac"])), extra
    if cover == "vegetation":
        land_frac = big.area_px / max(land_px or tile_px, 1)
        extra["largest_land_frac"] = land_frac
        if land_frac >= t["large_patch_frac"]:
            return "forest", _conf(_rel(land_frac, t["large_patch_frac"])), extra
        if elong and big.width_px * pixel_size_m <= t["belt_max_width_m"]:
            return "tree_belts", _conf(_rel(big.elongation, t["elongated_min"])), extra
        wide = lc.inscribed_width_m(labels[sl] == top, pixel_size_m)
        wood_min = max(t["wood_min_width_m"], 3.0 * pixel_size_m)
        extra["largest_inscribed_width_m"] = wide
        if len(areas) >= t["many_patches"] and wide >= wood_min:
            return "scattered_trees_and_forests", _conf(_rel(wide, wood_min)), extra
        return "scattered_trees", _conf(_rel(wide, wood_min)), extra
    # buildings: blocks of houses closer than the contiguity gap count as one settlement
    merged = ms.layout_measures(labels > 0, pixel_size_m, cfg["min_region_m2"], cfg["contiguity_gap_m"])
    extra["settlement_frac"] = merged["largest_share"] * float((labels > 0).sum()) / tile_px
    if extra["settlement_frac"] >= t["large_patch_frac"]:
        return "concentrated", _conf(_rel(extra["settlement_frac"], t["large_patch_frac"])), extra
    if elong:
        return "strip_along_roads", _conf(_rel(big.elongation, t["elongated_min"])), extra
    return "scattered", _conf(_rel(extra["settlement_frac"], t["large_patch_frac"])), extra


# ------------------------------------------------------------------------------------------ all
def suggest_keywords(farmland_mask: np.ndarray, bands: Mapping[str, np.ndarray] | None = None,
                     dem: np.ndarray | None = None, pixel_size_m: float = 1.0,
                     other_masks: Mapping[str, np.ndarray] | None = None, parcels: np.ndarray | None = None,
                     thresholds: Mapping[str, Any] | None = None,
                     nir_factor: float | None = None) -> dict[str, Keyword]:
    """Every keyword the inputs allow, as suggestions with evidence.

    Args:
        farmland_mask: Boolean (rows, cols) farmland mask of the image or tile.
        bands: Named float band arrays on the same grid (``red``, ``green``, ``blue``, ``nir``, ``swir1``...),
            NaN where invalid.
        dem: Elevations in metres on the same grid, NaN as nodata.
        pixel_size_m: Ground size of a pixel.
        other_masks: Boolean masks of annotated land covers keyed by label (``water``, ``building``, ``road``).
        parcels: Parcel id raster (0 background); default: the connected components of the mask.
        thresholds: Override of ``templates/suggest.yaml``.
        nir_factor: The scene's soil-line NIR factor when NIR has no reflectance scale
            (:func:`farmannot.captions.landcover.scene_soil_calibration`), for sowing, water and vegetation.
            None (a reflectance-scaled sensor, or no soil in the scene): plain NDVI for sowing and the tile's
            own soil line for water and vegetation.

    Returns:
        ``{key: Keyword}`` for the keywords that could be suggested (month and location come from
        :func:`farmannot.captions.autofill.scene_autofill` instead).
    """
    cfg = dict(thresholds or load_thresholds())
    farmland = np.asarray(farmland_mask, bool)
    if pixel_size_m <= 0 or not math.isfinite(pixel_size_m):
        raise FarmannotError(f"pixel size must be a positive number of metres, got {pixel_size_m}.")
    out: dict[str, Keyword] = {}
    if farmland.any():
        dist = suggest_distribution(farmland, pixel_size_m, cfg, other_masks)
        if dist:
            out["distribution"] = dist
        if parcels is None:
            parcels, _ = ms.label_components(farmland, ms.min_pixels(cfg["min_region_m2"], pixel_size_m), 4)
        out.update(suggest_shape_boundary(parcels, pixel_size_m, cfg))
        if bands:
            sow = suggest_sowing(bands, farmland, cfg, nir_factor)
            if sow:
                out["sowing"] = sow
    if dem is not None:
        out.update(suggest_terrain(dem, pixel_size_m, farmland if farmland.any() else None, cfg, parcels))
    out.update(presence(bands, farmland, other_masks, pixel_size_m, cfg, nir_factor))
    return out
