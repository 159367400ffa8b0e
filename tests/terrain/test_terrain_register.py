"""Registration: a planted sub-pixel offset between a geographic DEM and a UTM image is found and removed;
nothing is applied when the image does not support it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from terrain_synthetic import height, height_gradient, shaded_image

from farmannot.terrain.align import align_dem
from farmannot.terrain.register import apply_offset, estimate_offset

PLANTED = (0.6, 0.4)  # the figures of REFERENCES.md section 3


def residual_shift(dem, scene, offset):
    """Independent check: the shift (px) left between a DEM and the planted truth, by least squares of the
    elevation difference on the analytic terrain gradient."""
    e, n = scene.centres(*offset)
    gx, gy = height_gradient(e, n)
    res = dem - height(e, n)
    ok = np.isfinite(res)
    a = np.column_stack([-gx[ok] * 2.0, gy[ok] * 2.0, np.ones(ok.sum())])
    (sx, sy, _), *_ = np.linalg.lstsq(a, res[ok], rcond=None)
    return sx, sy


@pytest.fixture(scope="module")
def aligned(geo_dem, scene):
    return align_dem(geo_dem, scene.crs, scene.transform, scene.width, scene.height)


def test_planted_subpixel_offset_is_recovered_and_removed(geo_dem, scene, aligned):
    image = shaded_image(scene, PLANTED, azimuth=300, altitude=40, noise=0.01)
    before = residual_shift(aligned.elevation, scene, PLANTED)
    assert np.hypot(before[0] + PLANTED[0], before[1] + PLANTED[1]) < 0.05  # the DEM really is 0.72 px off

    reg = estimate_offset(image, aligned.elevation, scene.transform, max_shift_px=3)
    assert reg.applied, reg.reason
    assert abs(reg.dx - PLANTED[0]) < 0.2 and abs(reg.dy - PLANTED[1]) < 0.2
    # both stages reported; the coarse stage is coarse, the fine one sub-tenth
    assert reg.stage1_in_bounds and np.hypot(reg.stage1[0] - PLANTED[0], reg.stage1[1] - PLANTED[1]) < 1.0
    assert reg.converged and 1 <= reg.iterations <= 15
    assert reg.confidence > 0.9 and reg.improvement > 0 and reg.confidence > reg.correlation_before

    registered = align_dem(geo_dem, scene.crs, scene.transform, scene.width, scene.height,
                           offset_px=reg.applied_offset)
    after = residual_shift(registered.elevation, scene, PLANTED)
    assert np.hypot(*after) < 0.1, after
    shifted = apply_offset(aligned.elevation, *reg.applied_offset)
    assert np.hypot(*residual_shift(shifted, scene, PLANTED)) < 0.1


def test_any_sun_direction_and_larger_offsets(aligned, scene):
    for offset, az in [((-1.3, 2.2), 135.0), ((2.0, -1.5), 30.0)]:
        image = shaded_image(scene, offset, azimuth=az, altitude=55, noise=0.0)
        reg = estimate_offset(image, aligned.elevation, scene.transform, max_shift_px=4)
        assert reg.applied, reg.reason
        assert abs(reg.dx - offset[0]) < 0.1 and abs(reg.dy - offset[1]) < 0.1


def test_inverted_image_gain_is_fitted(aligned, scene):
    image = 255.0 - shaded_image(scene, PLANTED, noise=0.0)  # negative gain: still shading
    reg = estimate_offset(image, aligned.elevation, scene.transform)
    assert reg.applied and abs(reg.dx - 0.6) < 0.1 and abs(reg.dy - 0.4) < 0.1


def test_zero_offset_is_not_applied(aligned, scene):
    image = shaded_image(scene, (0.0, 0.0), noise=0.01)
    reg = estimate_offset(image, aligned.elevation, scene.transform)
    assert not reg.applied and reg.applied_offset == (0.0, 0.0)
    assert abs(reg.dx) < 0.1 and abs(reg.dy) < 0.1  # still reported
    assert "improve" in reg.reason


def test_unrelated_image_is_not_trusted(aligned, scene):
    rng = np.random.default_rng(1)
    image = rng.normal(100, 20, (scene.height, scene.width))
    reg = estimate_offset(image, aligned.elevation, scene.transform)
    assert not reg.applied
    assert reg.confidence < 0.3


def test_offset_beyond_the_bound_is_never_applied(aligned, scene):
    image = shaded_image(scene, (6.0, -5.0), noise=0.0)
    reg = estimate_offset(image, aligned.elevation, scene.transform, max_shift_px=2)
    assert not reg.applied
    assert np.hypot(*reg.applied_offset) == 0


def test_flat_dem_has_nothing_to_register(scene):
    flat = np.full((scene.height, scene.width), 1000.0, dtype=np.float32)
    reg = estimate_offset(shaded_image(scene, PLANTED), flat, scene.transform)
    assert not reg.applied and "no relief" in reg.reason


def test_nodata_in_image_and_dem_is_tolerated(aligned, scene):
    image = shaded_image(scene, PLANTED, noise=0.0).astype(np.float64)
    image[:40, :] = np.nan
    dem = aligned.elevation.copy()
    dem[:, 200:] = np.nan
    reg = estimate_offset(image, dem, scene.transform)
    assert reg.applied and abs(reg.dx - 0.6) < 0.1 and abs(reg.dy - 0.4) < 0.1


def test_report_is_json_ready(aligned, scene):
    reg = estimate_offset(shaded_image(scene, PLANTED), aligned.elevation, scene.transform)
    d = json.loads(json.dumps(reg.to_dict()))
    assert set(d) >= {"dx", "dy", "stage1", "confidence", "applied", "improvement", "applied_offset", "reason"}
    assert d["applied_offset"] == [d["dx"], d["dy"]]


def test_shape_mismatch_is_an_error(aligned, scene):
    with pytest.raises(ValueError):
        estimate_offset(np.zeros((10, 10)), aligned.elevation, scene.transform)


def test_scene_registration_on_a_decimated_grid_reports_target_pixels(geo_dem, scene, tmp_path):
    """Large scenes are registered on a coarser copy of the grid; the shift comes back in target pixels."""
    import rasterio

    from farmannot.terrain.scene import register_to_image

    img = tmp_path / "image.tif"
    with rasterio.open(img, "w", driver="GTiff", width=scene.width, height=scene.height, count=1,
                       dtype="float32", crs=scene.crs, transform=scene.transform) as ds:
        ds.write(shaded_image(scene, (1.6, -1.2), noise=0.0), 1)
    with rasterio.open(img) as tgt:
        reg, grid = register_to_image(geo_dem, tgt, grid_px=128)
    assert grid["decimation"] == 2 and grid["grid"] == [128, 128]
    assert reg.applied, reg.reason
    assert abs(reg.dx - 1.6) < 0.2 and abs(reg.dy + 1.2) < 0.2


def test_a_local_misfit_is_not_applied_to_the_whole_grid(aligned, scene):
    """One quadrant shifted (2, 1.5) px, the rest in place: the global fit 'improves' overall, but only in
    one quadrant, so nothing is applied."""
    image = shaded_image(scene, (0.0, 0.0), noise=0.0)
    image[:128, :128] = shaded_image(scene, (2.0, 1.5), noise=0.0)[:128, :128]
    reg = estimate_offset(image, aligned.elevation, scene.transform)
    assert not reg.applied
    assert reg.quadrants_improved == "1/4" and "quadrants" in reg.reason
