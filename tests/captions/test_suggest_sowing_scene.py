"""Sowing on NIR of unknown scale with the scene's soil line (scene_soil_calibration, nir_factor).

Hand-built scenes in digital numbers: reflectances of bare soil (NIR / red = 1.2, the soil line of Baret and
Guyot) and of a dense green crop (NIR / red = 10, NDVI 0.82), times per-band gains that differ (the sensor's
unknown calibration) and an NIR gain scaled by an arbitrary factor. The expected answers follow from the
reflectances, not from the code: a crop tile is fully covered, a fallow tile has no coverage.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from farmannot.captions.annotation import scene_nir_calibration, scene_nir_factor
from farmannot.captions.landcover import scene_soil_calibration
from farmannot.captions.suggest import load_thresholds, presence, suggest_sowing
from farmannot.dataset.tile_text import tile_presence
from farmannot.io.raster import scene_info

T = 32  # tile side
SOIL = {"red": 0.20, "green": 0.16, "blue": 0.12, "nir": 0.24}
CROP = {"red": 0.04, "green": 0.10, "blue": 0.03, "nir": 0.40}
GAIN = {"red": 700.0, "green": 900.0, "blue": 1100.0, "nir": 300.0}  # DN per unit reflectance
FARM = np.ones((T, T), bool)


def _scene(nir_scale: float, soil_tile: bool = True, seed: int = 3) -> dict[str, np.ndarray]:
    """A T x 2T scene: left tile all crop, right tile bare soil (or crop too), 3 % multiplicative noise."""
    rng = np.random.default_rng(seed)
    right = SOIL if soil_tile else CROP
    out = {}
    for band in ("red", "green", "blue", "nir"):
        refl = np.concatenate([np.full((T, T), CROP[band]), np.full((T, T), right[band])], axis=1)
        gain = GAIN[band] * (nir_scale if band == "nir" else 1.0)
        out[band] = (refl * gain * rng.normal(1.0, 0.03, refl.shape)).astype(np.float32)
    return out


def _tiles(scene: dict[str, np.ndarray]) -> tuple[dict, dict]:
    return ({k: v[:, :T] for k, v in scene.items()}, {k: v[:, T:] for k, v in scene.items()})


@pytest.mark.parametrize("k", [0.3, 1.0, 4.0])
def test_scene_factor_gives_the_right_sowing_whatever_the_nir_scale(k):
    cfg = load_thresholds()
    scene = _scene(k)
    cal = scene_soil_calibration(scene)
    assert cal.soil_found
    # the soil line recovers the NIR gain relative to red: soil NIR DN / red DN = 1.2 * gain_nir / gain_red
    assert cal.nir_factor == pytest.approx(GAIN["red"] / (GAIN["nir"] * k), rel=0.06)
    crop, soil = _tiles(scene)
    assert suggest_sowing(crop, FARM, cfg, cal.nir_factor).value == "fully_covered"  # all crop, no soil in it
    assert suggest_sowing(soil, FARM, cfg, cal.nir_factor).value == "no_coverage"
    assert suggest_sowing(crop, FARM, cfg, cal.nir_factor).evidence["nir_factor"] == pytest.approx(
        cal.nir_factor, rel=1e-3)


def test_scaling_the_nir_scales_the_factor_inversely():
    f = {k: scene_soil_calibration(_scene(k)).nir_factor for k in (0.3, 1.0, 4.0)}
    assert f[0.3] * 0.3 == pytest.approx(f[1.0], rel=1e-4)
    assert f[4.0] * 4.0 == pytest.approx(f[1.0], rel=1e-4)
    fractions = set()
    for k in (0.3, 1.0, 4.0):
        crop, soil = _tiles(_scene(k))
        fractions.add((suggest_sowing(crop, FARM, load_thresholds(), f[k]).evidence["green_fraction"],
                       suggest_sowing(soil, FARM, load_thresholds(), f[k]).evidence["green_fraction"]))
    assert len(fractions) == 1  # the same NDVI maps, not just the same labels


def test_without_the_scene_factor_the_plain_ndvi_threshold_is_kept():
    cfg = load_thresholds()
    crop, soil = _tiles(_scene(4.0))
    # raw DN: soil NIR / red = 1.2 * 300 * 4 / 700 = 2.06, NDVI 0.35 > 0.3: the old rule calls bare soil sown
    old = suggest_sowing(soil, FARM, cfg)
    assert old.value == "fully_covered"
    assert "nir_factor" not in old.evidence
    assert suggest_sowing(soil, FARM, cfg, None).to_dict() == old.to_dict()
    # surroundings: no factor -> each tile's own soil line, as before
    fresh = presence(soil, ~FARM, pixel_size_m=5.0)
    assert {k: v.to_dict() for k, v in presence(soil, ~FARM, None, 5.0, None, None).items()} == \
        {k: v.to_dict() for k, v in fresh.items()}
    assert "nir_calibration" not in fresh["vegetation"].evidence


def test_scene_factor_reaches_the_surroundings_checks():
    cal = scene_soil_calibration(_scene(4.0))
    crop, _ = _tiles(_scene(4.0))
    r = presence(crop, ~FARM, pixel_size_m=30.0, nir_factor=cal.nir_factor)
    assert r["vegetation"].evidence["nir_calibration"] == "scene"
    assert r["vegetation"].evidence["nir_factor"] == pytest.approx(cal.nir_factor, rel=1e-3)
    assert r["vegetation"].value != "absent"  # the all-crop tile is green outside farmland too
    assert tile_presence(crop, ~FARM, 30.0, cal.nir_factor) == {k: v.value for k, v in r.items()}


def test_all_crop_scene_has_no_soil_and_falls_back_to_factor_one():
    cal = scene_soil_calibration(_scene(4.0, soil_tile=False))
    assert not cal.soil_found
    assert cal.nir_factor == 1.0
    # green pixels differ from the "not green" half of the crop by far less than crop from soil
    assert cal.evidence.get("contrast", 1.0) < load_thresholds()["surroundings"]["scene_soil_min_contrast"]


def test_missing_bands_give_no_calibration():
    scene = _scene(1.0)
    del scene["blue"]
    assert scene_soil_calibration(scene).soil_found is False


def _write(path, scene: dict[str, np.ndarray]) -> None:
    h, w = scene["red"].shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=4, dtype="uint16",
                       crs="EPSG:32618", transform=from_origin(500000, 2000000, 5, 5)) as dst:
        for i, band in enumerate(("red", "green", "blue", "nir"), start=1):
            dst.write(np.clip(np.round(scene[band]), 1, 65535).astype(np.uint16), i)


def test_decimated_read_of_a_digital_number_scene(tmp_path):
    path = tmp_path / "dn.tif"
    _write(path, _scene(4.0))
    with rasterio.open(path) as src:
        info = scene_info(src, sensor="rgbn")  # no reflectance scale
        cal = scene_nir_calibration(src, info, max_side=32)  # decimated to 16 x 32
        assert cal is not None and cal.soil_found
        assert cal.nir_factor == pytest.approx(GAIN["red"] / (GAIN["nir"] * 4.0), rel=0.08)
        assert scene_nir_factor(src, info) == pytest.approx(cal.nir_factor, rel=0.05)


def test_reflectance_scaled_sensor_gets_no_scene_factor(tmp_path):
    path = tmp_path / "planet.tif"
    scene = _scene(1.0)
    _write(path, {"red": scene["blue"], "green": scene["green"], "blue": scene["red"], "nir": scene["nir"]})
    with rasterio.open(path) as src:
        info = scene_info(src, sensor="planetscope-4")  # B, G, R, NIR with scale 1e-4
        assert info.scale is not None
        assert scene_nir_calibration(src, info) is None
        assert scene_nir_factor(src, info) is None
