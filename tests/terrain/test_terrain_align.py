"""DEM alignment onto a target grid: values against the analytic terrain, coverage, windows, tiles, errors."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window
from rasterio.windows import transform as window_transform
from terrain_synthetic import E0, N0, height, height_gradient, write_geographic_dem

from farmannot.errors import InputError
from farmannot.terrain.align import align_dem, iter_aligned_windows
from farmannot.terrain.register import apply_offset


def test_geographic_dem_onto_utm_grid_matches_the_terrain(geo_dem, scene):
    out = align_dem(geo_dem, scene.crs, scene.transform, scene.width, scene.height, resampling="cubic")
    assert out.elevation.dtype == np.float32 and out.elevation.shape == (256, 256)
    assert out.coverage == 1.0
    assert out.units == "metre"
    truth = height(*scene.centres())
    # cubic on a ~5 m DEM of hills with 280-380 m wavelengths: centimetres
    assert np.abs(out.elevation - truth).max() < 0.02
    bil = align_dem(geo_dem, scene.crs, scene.transform, scene.width, scene.height)
    assert np.sqrt(np.mean((bil.elevation - truth) ** 2)) < 0.05


def test_alignment_has_no_systematic_offset(geo_dem, scene):
    """Residual elevation regressed on the terrain gradient: the implied shift is far below 0.05 px."""
    out = align_dem(geo_dem, scene.crs, scene.transform, scene.width, scene.height)
    e, n = scene.centres()
    gx, gy = height_gradient(e, n)
    res = (out.elevation - height(e, n)).ravel()
    a = np.column_stack([-gx.ravel() * 2.0, gy.ravel() * 2.0, np.ones(res.size)])  # d z / d (col, row) shift
    (sx, sy, _), *_ = np.linalg.lstsq(a, res, rcond=None)
    assert abs(sx) < 0.02 and abs(sy) < 0.02


def test_window_size_does_not_change_the_result(geo_dem, scene):
    a = align_dem(geo_dem, scene.crs, scene.transform, scene.width, scene.height, window_size=1024)
    b = align_dem(geo_dem, scene.crs, scene.transform, scene.width, scene.height, window_size=48)
    assert np.array_equal(a.elevation, b.elevation, equal_nan=True)
    pieces = list(iter_aligned_windows(geo_dem, scene.crs, scene.transform, scene.width, scene.height,
                                       window_size=100))
    assert len(pieces) == 9
    win, arr = pieces[4]
    assert np.array_equal(arr, a.elevation[100:200, 100:200])


def test_one_tile_equals_the_crop_of_the_scene(geo_dem, scene):
    """build-dataset aligns per tile: the tile's grid must give the same pixels as the whole scene."""
    whole = align_dem(geo_dem, scene.crs, scene.transform, scene.width, scene.height)
    win = Window(64, 128, 96, 80)
    tile = align_dem(geo_dem, scene.crs, window_transform(win, scene.transform), 96, 80)
    assert np.allclose(tile.elevation, whole.elevation[128:208, 64:160], atol=1e-3)


def test_offset_while_warping_matches_shifting_the_terrain(geo_dem, scene):
    dx, dy = 0.6, -0.4
    out = align_dem(geo_dem, scene.crs, scene.transform, scene.width, scene.height, offset_px=(dx, dy),
                    resampling="cubic")
    truth = height(*scene.centres(dx, dy))  # features moved (dx, dy) px
    assert np.abs(out.elevation - truth).max() < 0.02
    assert out.offset_px == (dx, dy)
    # the same shift applied to the aligned array
    base = align_dem(geo_dem, scene.crs, scene.transform, scene.width, scene.height, resampling="cubic")
    shifted = apply_offset(base.elevation, dx, dy)
    inner = (slice(4, -4), slice(4, -4))
    assert np.abs(shifted[inner] - truth[inner]).max() < 0.02
    assert np.isnan(shifted[:, 0]).all() and np.isnan(shifted[-1, :]).all()  # brought in from outside


def test_partial_overlap_coverage(geo_dem, scene):
    # A grid whose left half lies beyond the DEM's east edge (the DEM extends 200 m past the scene).
    left = scene.transform.c + scene.width * 2.0 + 200.0 - 128 * 2.0
    grid = Affine(2.0, 0, left, 0, -2.0, scene.transform.f)
    out = align_dem(geo_dem, scene.crs, grid, 256, 256)
    # east edge of a geographic DEM is a meridian, slightly oblique in UTM: about half the columns
    assert 0.45 < out.coverage < 0.55
    assert np.isfinite(out.elevation[:, :100]).all()
    assert np.isnan(out.elevation[:, 160:]).all()


def test_no_overlap_names_both_extents(geo_dem, scene):
    far = Affine(2.0, 0, E0 + 50_000, 0, -2.0, N0)
    with pytest.raises(InputError) as err:
        align_dem(geo_dem, scene.crs, far, 64, 64)
    msg = str(err.value)
    assert "does not overlap" in msg and "EPSG:4326" in msg and "EPSG:32613" in msg
    assert f"{E0 + 50_000:.6g}" in msg  # the target's left edge
    empty = align_dem(geo_dem, scene.crs, far, 64, 64, allow_empty=True)
    assert empty.coverage == 0.0 and np.isnan(empty.elevation).all()


def test_nodata_in_the_dem_stays_nodata(tmp_path, scene):
    path = write_geographic_dem(tmp_path / "holes.tif", scene)
    with rasterio.open(path, "r+") as ds:
        z = ds.read(1)
        z[:, : z.shape[1] // 2] = ds.nodata  # west half nodata
        ds.write(z, 1)
    out = align_dem(path, scene.crs, scene.transform, scene.width, scene.height)
    assert 0.2 < out.coverage < 0.8
    assert np.isnan(out.elevation[:, 0]).all() and np.isfinite(out.elevation[:, -1]).all()
    valid = out.elevation[np.isfinite(out.elevation)]
    assert valid.min() > 2400  # no -9999 leaked in through interpolation


def test_all_nodata_dem(tmp_path, scene):
    path = write_geographic_dem(tmp_path / "empty.tif", scene)
    with rasterio.open(path, "r+") as ds:
        ds.write(np.full((ds.height, ds.width), ds.nodata, dtype="float32"), 1)
    with pytest.raises(InputError, match="every DEM pixel is nodata"):
        align_dem(path, scene.crs, scene.transform, scene.width, scene.height)


def test_unknown_crs(tmp_path, scene):
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1, dtype="float32",
                       transform=Affine(1, 0, 0, 0, -1, 8)) as ds:
        ds.write(np.ones((1, 8, 8), "float32"))
    with pytest.raises(InputError, match="no coordinate reference system"):
        align_dem(path, scene.crs, scene.transform, 8, 8)
    with pytest.raises(InputError, match="target grid"):
        align_dem(path, None, scene.transform, 8, 8)
    with pytest.raises(InputError, match="unknown coordinate reference system"):
        align_dem(path, "EPSG:999999", scene.transform, 8, 8)


def test_nearest_on_the_real_dem_picks_the_dem_cell_under_each_pixel_centre(sample_data):
    """rmnp DEM onto the rmnp image grid (both EPSG:4326): checked pixel by pixel with the DEM's own index."""
    dem_path = sample_data / "dems" / "rmnp-dem.tif"
    with rasterio.open(sample_data / "scenes" / "rmnp-rgb.tif") as tgt:
        crs, tr, w, h = tgt.crs, tgt.transform, tgt.width, tgt.height
    out = align_dem(dem_path, crs, tr, w, h, resampling="nearest")
    with rasterio.open(dem_path) as src:
        z = src.read(1)
        (l, b, r, t) = src.bounds
        rows, cols = np.mgrid[0:h:7, 0:w:7]
        xs, ys = rasterio.transform.xy(tr, rows.ravel(), cols.ravel())
        checked = 0
        for x, y, rr, cc in zip(xs, ys, rows.ravel(), cols.ravel()):
            if l + 1e-6 < x < r - 1e-6 and b + 1e-6 < y < t - 1e-6:
                i, j = src.index(x, y)
                assert out.elevation[rr, cc] == z[i, j]
                checked += 1
            elif not (l < x < r and b < y < t):
                assert np.isnan(out.elevation[rr, cc])
    assert checked > 500
    # expected coverage: the area of the intersection of the two extents over the image's
    tl, tb, trr, tt = tr.c, tr.f + tr.e * h, tr.c + tr.a * w, tr.f
    inter = (min(r, trr) - max(l, tl)) * (min(t, tt) - max(b, tb))
    assert out.coverage == pytest.approx(inter / ((trr - tl) * (tt - tb)), abs=0.01)
    assert out.units is None


def test_utm_grid_of_the_real_scene(sample_data):
    """The image grid reprojected to UTM 13 N (a change of CRS), bilinear: values inside the DEM's range."""
    from rasterio.warp import calculate_default_transform

    with rasterio.open(sample_data / "scenes" / "rmnp-rgb.tif") as tgt:
        tr, w, h = calculate_default_transform(tgt.crs, "EPSG:32613", tgt.width, tgt.height, *tgt.bounds)
    out = align_dem(sample_data / "dems" / "rmnp-dem.tif", "EPSG:32613", tr, w, h)
    assert out.elevation.shape == (h, w) and out.crs.to_epsg() == 32613
    valid = out.elevation[np.isfinite(out.elevation)]
    assert valid.min() >= 2281 - 1e-3 and valid.max() <= 4261 + 1e-3
    assert 0.3 < out.coverage < 0.5



def test_dem_with_a_mask_band_instead_of_a_nodata_value(tmp_path, scene):
    path = write_geographic_dem(tmp_path / "masked.tif", scene, nodata=None)
    with rasterio.open(path, "r+") as ds:
        mask = np.full((ds.height, ds.width), 255, dtype="uint8")
        mask[: ds.height // 2] = 0  # north half masked out
        ds.write_mask(mask)
    out = align_dem(path, scene.crs, scene.transform, scene.width, scene.height)
    assert np.isnan(out.elevation[0]).all() and np.isfinite(out.elevation[-1]).all()
    assert 0.2 < out.coverage < 0.8


def test_band_scale_and_offset_are_applied(tmp_path, scene):
    """An int16 DEM stored in decimetres above 2,000 m (GDAL scale 0.1, offset 2000) comes back in metres."""
    ref = write_geographic_dem(tmp_path / "ref.tif", scene)
    path = tmp_path / "scaled.tif"
    with rasterio.open(ref) as src:
        prof = src.profile | {"dtype": "int16", "nodata": -32768}
        z = np.round((src.read(1) - 2000.0) * 10).astype("int16")
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(z, 1)
        dst.scales, dst.offsets = (0.1,), (2000.0,)
    out = align_dem(path, scene.crs, scene.transform, scene.width, scene.height)
    truth = height(*scene.centres())
    assert np.abs(out.elevation - truth).max() < 0.15  # decimetre storage
