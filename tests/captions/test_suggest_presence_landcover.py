"""Water and vegetation checks on hand-built tiles: shadow and canopy are not water, NIR scale does not matter."""

from __future__ import annotations

import numpy as np
import pytest

from farmannot.captions import landcover as lc
from farmannot.captions.suggest import load_thresholds, presence

N = 120
PX = 10.0  # metres per pixel: a 1.2 km tile
RNG = np.random.default_rng(7)


def _rgb_fields() -> dict[str, np.ndarray]:
    """Scene-stretched RGB: pinkish bare fields (red strongest) with mild noise."""
    noise = RNG.normal(0, 0.01, (N, N)).astype(np.float32)
    return {"red": np.full((N, N), 0.55, np.float32) + noise, "green": np.full((N, N), 0.45, np.float32) + noise,
            "blue": np.full((N, N), 0.45, np.float32) + noise}


def _no_farm() -> np.ndarray:
    return np.zeros((N, N), bool)


def test_smooth_dark_bluish_patch_is_water():
    b = _rgb_fields()
    lake = np.zeros((N, N), bool)
    lake[30:80, 30:90] = True  # 50 x 60 px = 30 ha: a lake
    for k, v in (("red", 0.08), ("green", 0.14), ("blue", 0.18)):
        b[k][lake] = v  # (B - R) / (B + R) = 0.38, red weakest, blue >= green
    r = presence(b, _no_farm(), pixel_size_m=PX)
    assert r["water"].value == "lake_reservoir"
    assert r["water"].evidence["method"] == "rgb_smooth_bluish"
    assert r["water"].evidence["fraction"] == pytest.approx(lake.mean(), abs=0.01)
    assert r["vegetation"].value == "absent"  # the lake is not counted as green cover


def test_black_lake_at_the_scene_black_point_is_water():
    b = _rgb_fields()
    for k in b:
        b[k][40:70, 40:70] = 0.0  # clipped to 0 by the scene stretch, like Lake Granby
    assert presence(b, _no_farm(), pixel_size_m=PX)["water"].value == "lake_reservoir"


def test_dark_textured_forest_is_not_water():
    b = _rgb_fields()
    wood = np.zeros((N, N), bool)
    wood[20:100, 20:100] = True
    crowns = RNG.uniform(0.0, 1.0, (N, N)) < 0.5  # lit crowns beside shaded gaps, pixel by pixel
    b["red"][wood] = np.where(crowns, 0.10, 0.02)[wood]
    b["green"][wood] = np.where(crowns, 0.16, 0.04)[wood]
    b["blue"][wood] = np.where(crowns, 0.17, 0.05)[wood]  # bluish by skylight, dark: the old rule's water
    r = presence(b, _no_farm(), pixel_size_m=PX)
    assert r["water"].value == "absent"
    assert r["water"].evidence["candidate_frac"] > 0.2  # it looked like water pixel by pixel
    plain = presence(_rgb_fields(), _no_farm(), pixel_size_m=PX)["water"]
    assert plain.value == "absent" and r["water"].confidence < plain.confidence  # less sure: it rejected some


def test_shadow_slivers_are_not_water():
    b = _rgb_fields()
    for r0 in range(10, 110, 8):  # two-pixel dark bluish bands on every slope, like ridge shadows
        for k, v in (("red", 0.05), ("green", 0.08), ("blue", 0.11)):
            b[k][r0:r0 + 2, 5:115] = v
    assert presence(b, _no_farm(), pixel_size_m=PX)["water"].value == "absent"


def test_green_crops_are_not_water_and_not_trees():
    b = _rgb_fields()
    b["red"][:, 60:], b["green"][:, 60:], b["blue"][:, 60:] = 0.10, 0.35, 0.20  # smooth green fields
    r = presence(b, _no_farm(), pixel_size_m=PX)
    assert r["water"].value == "absent"
    # at 10 m crowns would show as texture: a smooth green half-tile is crops or grass
    assert r["vegetation"].value == "absent" and r["vegetation"].evidence["method"] == "gli"
    assert r["vegetation"].evidence["smooth_green_frac"] == pytest.approx(0.5, abs=0.01)


def _rgbn_dn(nir_scale: float) -> dict[str, np.ndarray]:
    """Uint8-like digital numbers: bare soil (NIR 1.2 x red in reflectance) and a wood, NIR on any scale."""
    soil = RNG.normal(0, 2.0, (N, N)).astype(np.float32)
    b = {"red": 120.0 + soil, "green": 110.0 + soil, "blue": 90.0 + soil, "nir": (144.0 + soil) * nir_scale}
    wood = np.zeros((N, N), bool)
    wood[10:70, 10:110] = True
    b["red"][wood], b["green"][wood], b["blue"][wood] = 40.0, 70.0, 45.0
    crowns = RNG.uniform(0.0, 1.0, (N, N)) < 0.5  # lit crowns beside shaded gaps: rough canopy
    b["nir"][wood] = np.where(crowns, 150.0, 110.0)[wood] * nir_scale  # NDVI 0.58 / 0.47 in reflectance
    return {k: v.astype(np.float32) for k, v in b.items()}


@pytest.mark.parametrize("scale", [0.35, 1.0, 4.0])
def test_nir_scale_does_not_change_the_vegetation_answer(scale):
    r = presence(_rgbn_dn(scale), _no_farm(), pixel_size_m=PX)
    assert r["vegetation"].value == "forest"
    assert r["vegetation"].evidence["fraction"] == pytest.approx(60 * 100 / N ** 2, abs=0.01)
    assert r["vegetation"].evidence["nir_factor"] * scale == pytest.approx(1.0, rel=0.05)
    assert r["water"].value == "absent"  # NIR scaled low made NDWI > 0 on soil before the soil line


def test_soil_line_rescaling_is_exactly_scale_free():
    b = _rgbn_dn(1.0)
    t = load_thresholds()["surroundings"]
    base = lc.vegetation_cover(b, t).mask
    for s in (0.1, 0.5, 7.0):
        scaled = {**b, "nir": b["nir"] * np.float32(s)}
        assert np.array_equal(lc.vegetation_cover(scaled, t).mask, base)
        nir, factor = lc.soil_line_nir(scaled)
        assert factor == pytest.approx(lc.soil_line_nir(b)[1] / s, rel=1e-4)
        assert np.allclose(nir, lc.soil_line_nir(b)[0], rtol=1e-4)


def test_without_soil_reference_nir_is_left_as_given():
    g = np.full((N, N), 0.3, np.float32)  # every pixel green in the visible: nothing to calibrate against
    b = {"red": np.full((N, N), 0.05, np.float32), "green": g, "blue": np.full((N, N), 0.04, np.float32),
         "nir": np.full((N, N), 0.4, np.float32)}
    assert lc.soil_line_nir(b)[1] == 1.0


def test_homogeneous_patches_measures_texture_inside_the_patch_only():
    cand = np.zeros((40, 40), bool)
    cand[10:30, 10:30] = True
    value = np.where(cand, 0.1, 0.9).astype(np.float32)  # strong shore contrast, flat water
    kept, ev = lc.homogeneous_patches(cand, value, 0.03, 0.2)
    assert kept.sum() == 400 and ev["texture_rel"] == 0.0 and ev["kept_share"] == 1.0
    sliver = np.zeros((40, 40), bool)
    sliver[5:7, :] = True  # two pixels wide: no interior
    kept, ev = lc.homogeneous_patches(sliver, value, 0.03, 0.2)
    assert not kept.any() and ev["kept_share"] == 0.0


def test_pond_versus_lake_by_absolute_size():
    b = _rgb_fields()
    for k, v in (("red", 0.08), ("green", 0.14), ("blue", 0.18)):
        b[k][20:30, 20:30] = v  # 100 px = 1 ha at 10 m: a pond
        b[k][60:70, 80:90] = v
        b[k][90:100, 30:40] = v
    assert presence(b, _no_farm(), pixel_size_m=PX)["water"].value == "scattered_ponds"
    # the same pixels at 30 m are 9 ha each: lakes, although still small in the tile
    assert presence(b, _no_farm(), pixel_size_m=30.0)["water"].value == "lake_reservoir"
