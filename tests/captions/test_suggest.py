"""Suggestions on constructed masks, bands and DEMs whose answer is obvious; autofill of month and location."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rasterio.transform import from_origin

from farmannot.captions import measures as ms
from farmannot.captions.autofill import scene_autofill, tile_metadata
from farmannot.captions.suggest import load_thresholds, presence, suggest_keywords
from farmannot.io.grid import SceneGrid

N = 200  # tile edge in pixels
PX = 2.0  # metres per pixel
YY, XX = np.mgrid[:N, :N]


def _blocks() -> np.ndarray:
    m = np.zeros((N, N), bool)
    for r in range(0, N, 50):
        for c in range(0, N, 50):
            m[r + 1:r + 49, c + 1:c + 49] = True  # 48 x 48 px parcels, 2 px (4 m) apart
    return m


def _strips() -> np.ndarray:
    m = np.zeros((N, N), bool)
    for r in range(0, N, 10):
        m[r:r + 7, 4:196] = True  # 7 x 192 px strips
    return m


def _specks() -> np.ndarray:
    m = np.zeros((N, N), bool)
    for r, c in [(10, 20), (40, 150), (90, 60), (130, 170), (170, 30), (180, 110), (60, 100)]:
        m[r:r + 9, c:c + 9] = True
    return m


def _value(result, key):
    return result[key].value if key in result else None


def test_equivalent_elongation_matches_rectangles():
    # a 40 x 5 rectangle: perimeter 90, area 200 -> length/width 8, exactly
    assert ms.equivalent_elongation(90.0, 200.0) == pytest.approx(8.0)
    assert ms.equivalent_elongation(40.0, 100.0) == pytest.approx(1.0)  # square
    assert ms.equivalent_elongation(2 * math.pi * 10, math.pi * 100) == 1.0  # a disc is compact


def test_patch_shape_of_a_rasterised_rectangle():
    m = np.zeros((30, 60), bool)
    m[5:15, 5:45] = True  # 40 x 10 px
    s = ms.patch_shape(m)
    assert s.area_px == 400 and s.vertices == 4
    assert s.elongation == pytest.approx(4.0, rel=0.02) and s.rectangularity == pytest.approx(1.0, abs=0.01)
    assert s.width_px == pytest.approx(8.0, rel=0.02)  # area / half perimeter = 400 / 50


def test_elongation_follows_curved_strips_but_not_ragged_outlines():
    r = np.hypot(YY - 100, XX - 100)
    arc = (r > 60) & (r < 68) & (YY < 100)  # a curved terrace, 8 px wide, about 200 px long
    assert ms.patch_shape(arc).elongation > 15
    comb = np.zeros((N, N), bool)
    comb[50:150, 50:150] = True
    for c in range(50, 150, 6):
        comb[42:50, c:c + 3] = comb[150:158, c:c + 3] = True  # 8 px teeth all along two sides
    s = ms.patch_shape(comb)
    assert s.elongation < 1.5  # the outline is long, the field is square
    assert ms.equivalent_elongation(2 * 100 + 2 * 100 + 4 * 8 * 34, comb.sum()) > 3  # outline alone says strip


@pytest.mark.parametrize("mask, distribution, shape", [
    (_blocks(), "concentrated_contiguous", "blocky"),
    (_strips(), "concentrated_contiguous", "narrow_long"),
    (_specks(), "scattered", "broken"),
])
def test_distribution_and_shape_of_obvious_layouts(mask, distribution, shape):
    r = suggest_keywords(mask, pixel_size_m=PX)
    assert _value(r, "distribution") == distribution
    assert _value(r, "shape") == shape
    assert r["shape"].source == "suggested" and 0.5 <= r["shape"].confidence <= 0.95
    assert {"coverage", "blocks", "largest_share"} <= set(r["distribution"].evidence)


def test_dispersed_middle_case():
    m = np.zeros((N, N), bool)
    m[10:70, 10:70] = m[10:70, 130:190] = m[130:190, 10:70] = m[130:190, 130:190] = True  # 4 blocks, 36 %
    r = suggest_keywords(m, pixel_size_m=PX)
    assert _value(r, "distribution") == "dispersed"
    assert r["distribution"].evidence["blocks"] == 4


def test_boundary_straight_blocks_vs_curved_blobs():
    assert _value(suggest_keywords(_blocks(), pixel_size_m=PX), "boundary") == "straight"
    blobs = np.zeros((N, N), bool)
    for cy, cx in [(50, 50), (50, 150), (150, 50), (150, 150)]:
        blobs |= (YY - cy) ** 2 / 40 ** 2 + (XX - cx) ** 2 / 30 ** 2 < 1  # ellipses
    r = suggest_keywords(blobs, pixel_size_m=PX)
    assert _value(r, "boundary") == "curved" and r["boundary"].evidence["vertices"] >= 9


def test_strip_along_a_river_mask():
    river = np.zeros((N, N), bool)
    river[:, 95:105] = True
    farm = np.zeros((N, N), bool)
    farm[:, 80:93] = farm[:, 107:120] = True
    r = suggest_keywords(farm, pixel_size_m=PX, other_masks={"river": river})
    assert _value(r, "distribution") == "strip_along_rivers"
    assert r["distribution"].evidence["share_near_rivers"] == 1.0


def _dem_flat():
    return np.full((N, N), 120.0)


def _dem_plane(deg=12.0):
    return 800.0 + YY * PX * math.tan(math.radians(deg))


def _dem_terraces(deg=12.0, tread_px=10):
    # flat treads, steep risers: the same hillside as _dem_plane, built as steps
    return 800.0 + np.floor(YY / tread_px) * tread_px * PX * math.tan(math.radians(deg))


@pytest.mark.parametrize("dem, terrain", [(_dem_flat(), "flat"), (_dem_plane(), "sloping"),
                                          (_dem_terraces(), "terraced"), (_dem_plane(4.0), "undulating")])
def test_terrain_from_synthetic_dems(dem, terrain):
    r = suggest_keywords(_strips(), dem=dem, pixel_size_m=PX)
    assert _value(r, "terrain") == terrain
    ev = r["terrain"].evidence
    assert {"slope_median", "trend_slope", "flat_fraction", "relief_m"} <= set(ev)


def test_terraces_along_contours_get_the_tiered_layout():
    r = suggest_keywords(_strips(), dem=_dem_terraces(), pixel_size_m=PX)
    assert _value(r, "layout") == "contour_tiers"
    # strips running downhill (across the contour lines) are not tiers
    r2 = suggest_keywords(_strips().T, dem=_dem_terraces(), pixel_size_m=PX)
    assert _value(r2, "layout") == "stepped_blocks"


def test_landscape_from_relief():
    assert _value(suggest_keywords(_blocks(), dem=_dem_flat(), pixel_size_m=PX), "landscape") == "plain"
    hills = 300.0 + 60.0 * np.sin(XX / 30.0) * np.cos(YY / 25.0)  # 120 m relief
    assert _value(suggest_keywords(_blocks(), dem=hills, pixel_size_m=PX), "landscape") == "hills"
    high = np.full((N, N), 3200.0) + 0.05 * XX
    assert _value(suggest_keywords(_blocks(), dem=high, pixel_size_m=PX), "landscape") == "plateau"
    steep = 1500.0 + YY * 2.0  # 400 m over the tile
    assert _value(suggest_keywords(_blocks(), dem=steep, pixel_size_m=PX), "landscape") == "mountains"
    bowl = 200.0 + 0.004 * ((YY - N / 2) ** 2 + (XX - N / 2) ** 2)  # rim 40 m above the floor
    assert _value(suggest_keywords(_blocks(), dem=bowl, pixel_size_m=PX), "landscape") == "basin"


def _bands(nir_farm=0.45, red=0.05):
    b = {"red": np.full((N, N), red), "green": np.full((N, N), 0.08), "blue": np.full((N, N), 0.04),
         "nir": np.full((N, N), nir_farm)}
    return {k: v.astype(np.float32) for k, v in b.items()}


@pytest.mark.parametrize("green_rows, sowing", [(200, "fully_covered"), (80, "partially_covered"),
                                                (0, "no_coverage")])
def test_sowing_from_ndvi_inside_farmland(green_rows, sowing):
    b = _bands(nir_farm=0.12, red=0.12)  # bare soil: NDVI 0
    b["nir"][:green_rows] = 0.45  # crop rows: NDVI (0.45-0.12)/(0.57) = 0.58
    r = suggest_keywords(np.ones((N, N), bool), bands=b, pixel_size_m=PX)
    assert _value(r, "sowing") == sowing
    assert r["sowing"].evidence["index"] == "ndvi"
    assert r["sowing"].evidence["green_fraction"] == pytest.approx(green_rows / N)


def test_sowing_without_nir_uses_green_leaf_index():
    b = _bands()
    del b["nir"]
    r = suggest_keywords(np.ones((N, N), bool), bands=b, pixel_size_m=PX)
    # GLI = (0.16 - 0.05 - 0.04) / (0.16 + 0.09) = 0.28 > 0.05 everywhere
    assert _value(r, "sowing") == "fully_covered" and r["sowing"].evidence["index"] == "gli"


def test_water_present_vs_absent():
    farm = np.zeros((N, N), bool)
    farm[:120] = True
    b = _bands()
    r = presence(b, farm, pixel_size_m=PX)
    assert r["water"].value == "absent" and r["water"].evidence["method"] == "ndwi"
    pond = _bands()
    for r0, c0 in [(140, 20), (150, 100), (170, 160)]:
        pond["nir"][r0:r0 + 15, c0:c0 + 15] = 0.02  # NDWI (0.08-0.02)/0.10 = 0.6
    r = presence(pond, farm, pixel_size_m=PX)
    assert r["water"].value == "scattered_ponds" and r["water"].evidence["patches"] == 3
    lake = _bands()
    lake["nir"][125:200, :] = 0.02
    assert presence(lake, farm, pixel_size_m=PX)["water"].value == "lake_reservoir"
    river = _bands()
    river["nir"][150:160, :] = 0.02  # 10 px = 20 m wide, whole tile long
    assert presence(river, farm, pixel_size_m=PX)["water"].value == "river"


def test_water_inside_farmland_does_not_count():
    b = _bands()
    b["nir"][10:40, 10:40] = 0.02  # a flooded patch inside the field
    r = presence(b, np.ones((N, N), bool), pixel_size_m=PX)
    assert r["water"].value == "absent"


def test_buildings_need_swir_or_shapes():
    farm = np.zeros((N, N), bool)
    farm[:100] = True
    assert "buildings" not in presence(_bands(), farm, pixel_size_m=PX)  # RGBN cannot see roofs
    houses = np.zeros((N, N), bool)
    for c in range(10, 190, 40):
        houses[150:156, c:c + 6] = True
    r = presence(_bands(), farm, other_masks={"building": houses}, pixel_size_m=PX)
    assert r["buildings"].value == "scattered" and r["buildings"].evidence["method"] == "shapes"
    b = _bands()
    b["swir1"] = np.full((N, N), 0.2, np.float32)  # NDBI of vegetation: (0.2-0.45)/0.65 < 0
    b["swir1"][110:190, 20:180] = 0.5
    b["nir"][110:190, 20:180] = 0.25
    b["red"][110:190, 20:180] = 0.22  # not green: NDVI 0.06
    r = presence(b, farm, pixel_size_m=PX)
    assert r["buildings"].value == "concentrated" and r["buildings"].evidence["method"] == "ndbi"


def test_vegetation_patterns():
    farm = np.zeros((N, N), bool)
    farm[:100] = True
    soil = _bands(nir_farm=0.12, red=0.12)
    assert presence(soil, farm, pixel_size_m=PX)["vegetation"].value == "absent"
    crowns = np.where((YY // 3 + XX // 3) % 2 == 0, 0.45, 0.30)  # lit and shaded 6 m crowns: rough canopy
    wood = _bands(nir_farm=0.12, red=0.12)
    wood["nir"][100:200, :] = crowns[100:200, :]
    assert presence(wood, farm, pixel_size_m=PX)["vegetation"].value == "forest"
    trees = _bands(nir_farm=0.12, red=0.12)
    for c in range(5, 195, 30):
        trees["nir"][140:146, c:c + 6] = crowns[140:146, c:c + 6]
    assert presence(trees, farm, pixel_size_m=PX)["vegetation"].value == "scattered_trees"


def test_thresholds_come_from_the_config_file():
    cfg = load_thresholds()
    m = _blocks()
    assert _value(suggest_keywords(m, pixel_size_m=PX), "distribution") == "concentrated_contiguous"
    strict = {**cfg, "distribution": {**cfg["distribution"], "contiguous_min_coverage": 0.99}}
    assert _value(suggest_keywords(m, pixel_size_m=PX, thresholds=strict), "distribution") == "dispersed"


def test_scene_autofill_from_a_tile():
    meta = SceneGrid(crs="EPSG:32650", transform=tuple(from_origin(400000.0, 4400000.0, 1.0, 1.0))[:6],
                         width=4096, height=4096, tags={}, filename="GF2_PMS1_E117.0_N39.7_20190612_L1A0004.tif")
    whole = scene_autofill(meta)
    assert whole["month"].value == "june" and whole["month"].source == "auto"
    assert whole["month"].evidence["season"] == "summer" and whole["month"].evidence["date_from"] == "gaofen_name"
    tile = scene_autofill(tile_metadata(meta, 3584, 3584, 512, 512))
    # the tile's centre is 1.8 km east and south of the scene centre: further south, further east
    assert tile["location"].evidence["lat"] < whole["location"].evidence["lat"]
    assert tile["location"].evidence["lon"] > whole["location"].evidence["lon"]
    assert whole["location"].value.endswith("°E") and "°N" in whole["location"].value
    assert scene_autofill(meta, date_override="2019-12-01")["month"].value == "december"
    as_tuple = (meta.crs, meta.transform, meta.width, meta.height, meta.tags, meta.filename)
    assert scene_autofill(as_tuple) == whole
    no_crs = SceneGrid(crs=None, transform=(1, 0, 0, 0, -1, 0), width=8, height=8, filename="rgbn.tif")
    assert scene_autofill(no_crs) == {}
