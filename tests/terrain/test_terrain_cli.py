"""``farmannot align-dem`` through click's CliRunner: the output grid, bands, report, errors, re-runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner
from rasterio.warp import Resampling, calculate_default_transform, reproject
from terrain_synthetic import height, height_gradient, shaded_image

from farmannot.cli.main import cli
from farmannot.terrain.derive import local_relief, pixel_size_m_rows, slope_degrees


def run(*args):
    return CliRunner().invoke(cli, ["align-dem", *map(str, args)], obj={})


@pytest.fixture(scope="module")
def rmnp(sample_data):
    return sample_data / "dems" / "rmnp-dem.tif", sample_data / "scenes" / "rmnp-rgb.tif"


def test_real_pair_output_grid_bands_and_report(rmnp, tmp_path):
    dem, target = rmnp
    out, rep = tmp_path / "dem.tif", tmp_path / "report.json"
    res = run(dem, "--to", target, "--output", out, "--derive", "relief,slope,hillshade,aspect",
              "--window-size", 256, "--report", rep)
    assert res.exit_code == 0, res.output
    with rasterio.open(target) as t, rasterio.open(out) as o:
        assert (o.crs, o.transform, o.width, o.height) == (t.crs, t.transform, t.width, t.height)
        assert o.dtypes == ("float32",) * 5 and math.isnan(o.nodata)
        assert o.descriptions == ("elevation", "slope_deg", "aspect_deg", "hillshade", "relief_m")
        bands = o.read()
    report = json.loads(rep.read_text())
    assert report["coverage"] == pytest.approx(np.isfinite(bands[0]).mean(), abs=1e-6)
    assert 0.38 < report["coverage"] < 0.43  # the DEM covers about 40 % of the image's extent
    assert report["vertical_units"] is None and report["vertical_units_assumed"] is True
    reg = report["registration"]
    assert {"dx", "dy", "stage1", "confidence", "applied", "applied_offset", "reason"} <= set(reg)
    assert abs(reg["dx"]) <= 3 and abs(reg["dy"]) <= 3
    elev = bands[0][np.isfinite(bands[0])]
    assert elev.min() >= 2281 - 1e-3 and elev.max() <= 4261 + 1e-3
    # windows of 256 px with halos give exactly the whole-array derivatives (no seams)
    xres, yres = pixel_size_m_rows(rasterio.crs.CRS.from_epsg(4326), Affine(*report["transform"]), bands.shape[1])
    assert np.allclose(bands[1], slope_degrees(bands[0], xres, yres), equal_nan=True, atol=1e-4)
    assert np.allclose(bands[4], local_relief(bands[0], report["relief_radius_px"]), equal_nan=True, atol=1e-3)
    assert np.nanmax(bands[1]) < 70  # degrees handled as metres would give ~90 everywhere


def test_rerun_gives_the_same_bytes(rmnp, tmp_path):
    dem, target = rmnp
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    assert run(dem, "--to", target, "-o", a, "--derive", "slope").exit_code == 0
    assert run(dem, "--to", target, "-o", b, "--derive", "slope").exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def test_real_scene_reprojected_to_utm(rmnp, tmp_path):
    dem, target = rmnp
    utm = tmp_path / "rgb_utm13n.tif"
    with rasterio.open(target) as src:
        tr, w, h = calculate_default_transform(src.crs, "EPSG:32613", src.width, src.height, *src.bounds)
        prof = src.profile | {"crs": "EPSG:32613", "transform": tr, "width": w, "height": h}
        with rasterio.open(utm, "w", **prof) as dst:
            for i in range(1, 4):
                reproject(rasterio.band(src, i), rasterio.band(dst, i), resampling=Resampling.bilinear)
    out = tmp_path / "dem_utm.tif"
    res = run(dem, "--to", utm, "-o", out, "--resampling", "cubic", "--report", tmp_path / "r.json")
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as o:
        assert o.crs.to_epsg() == 32613 and (o.width, o.height) == (w, h) and o.transform == tr
    assert json.loads((tmp_path / "r.json").read_text())["coverage"] > 0.3


def test_synthetic_planted_offset_end_to_end(geo_dem, scene, tmp_path):
    img = tmp_path / "image.tif"
    with rasterio.open(img, "w", driver="GTiff", width=scene.width, height=scene.height, count=1,
                       dtype="float32", crs=scene.crs, transform=scene.transform) as ds:
        ds.write(shaded_image(scene, (0.6, 0.4), noise=0.01), 1)
    out, rep = tmp_path / "dem.tif", tmp_path / "r.json"
    res = run(geo_dem, "--to", img, "-o", out, "--report", rep)
    assert res.exit_code == 0, res.output
    reg = json.loads(rep.read_text())["registration"]
    assert reg["applied"] and abs(reg["dx"] - 0.6) < 0.2 and abs(reg["dy"] - 0.4) < 0.2
    with rasterio.open(out) as o:
        z = o.read(1)
        assert o.units[0] == "metre"
    e, n = scene.centres(0.6, 0.4)
    gx, gy = height_gradient(e, n)
    res_z = (z - height(e, n)).ravel()
    a = np.column_stack([-gx.ravel() * 2.0, gy.ravel() * 2.0, np.ones(res_z.size)])
    (sx, sy, _), *_ = np.linalg.lstsq(a, res_z, rcond=None)
    assert math.hypot(sx, sy) < 0.1


def test_vertical_feet_are_converted_for_slope(tmp_path):
    tr = Affine(5.0, 0, 450000, 0, -5.0, 4450000)
    c, _ = np.meshgrid(np.arange(64), np.arange(48))
    dem = tmp_path / "feet.tif"
    with rasterio.open(dem, "w", driver="GTiff", width=64, height=48, count=1, dtype="float32",
                       crs="EPSG:32613", transform=tr) as ds:
        ds.write((1000 + 0.25 * c * 5.0 / 0.3048).astype("float32"), 1)  # rises 0.25 m per m eastwards, in feet
        ds.units = ("ft",)
    out = tmp_path / "out.tif"
    res = run(dem, "--to", dem, "-o", out, "--derive", "slope,relief", "--relief-radius", 10,
              "--no-register", "--report", tmp_path / "r.json")
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as o:
        slope, relief = o.read(2), o.read(3)
        assert o.units[0] == "ft"
    assert np.allclose(slope, math.degrees(math.atan(0.25)), atol=1e-3)
    assert np.allclose(relief[10:-10, 10:-10], 2 * 2 * 5.0 * 0.25, atol=1e-3)  # 2 px each way, metres
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["registration"] is None and report["vertical_scale_to_m"] == pytest.approx(0.3048)


def test_no_overlap_is_one_clear_line(rmnp, tmp_path):
    dem, _ = rmnp
    far = tmp_path / "far.tif"
    with rasterio.open(far, "w", driver="GTiff", width=16, height=16, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=Affine(10, 0, 500000, 0, -10, 5000000)) as ds:
        ds.write(np.zeros((1, 16, 16), "uint8"))
    res = run(dem, "--to", far, "-o", tmp_path / "x.tif")
    assert res.exit_code != 0
    assert "does not overlap" in res.output and "EPSG:4326" in res.output and "EPSG:32633" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "x.tif").exists()


def test_output_never_overwrites_an_input(rmnp, tmp_path):
    dem, target = rmnp
    copy = tmp_path / "image.tif"
    copy.write_bytes(target.read_bytes())
    res = run(dem, "--to", copy, "-o", copy)
    assert res.exit_code != 0 and "overwrite" in res.output
    assert copy.read_bytes() == target.read_bytes()


def test_bad_derive_name(rmnp, tmp_path):
    dem, target = rmnp
    res = run(dem, "--to", target, "-o", tmp_path / "x.tif", "--derive", "slope,curvature")
    assert res.exit_code != 0 and "curvature" in res.output


def test_tile_terrain_matches_the_window_of_the_scene_product(rmnp, tmp_path):
    """build-dataset's per-tile call gives the same pixels as the scene GeoTIFF (halo, offset, units)."""
    from rasterio.windows import Window

    from farmannot.terrain.scene import tile_terrain

    dem, target = rmnp
    out, rep = tmp_path / "dem.tif", tmp_path / "r.json"
    assert run(dem, "--to", target, "-o", out, "--derive", "slope,aspect,hillshade,relief", "--relief-radius",
               400, "--report", rep).exit_code == 0
    report = json.loads(rep.read_text())
    win = Window(150, 120, 128, 100)
    with rasterio.open(out) as o:
        scene = o.read(window=win)
        crs, tr, shape = o.crs, o.transform, (o.height, o.width)
    tile = tile_terrain(dem, crs, tr, shape, win, offset_px=tuple(report["registration"]["applied_offset"]),
                        relief_radius_m=400)
    for i, name in enumerate(["elevation", "slope", "aspect", "hillshade", "relief"]):
        assert np.allclose(tile[name], scene[i], equal_nan=True, atol=1e-3), name
    assert tile["units"] is None and 0 < tile["coverage"] <= 1


@pytest.mark.parametrize("resampling", ["bilinear", "cubic", "nearest"])
def test_unregistered_output_is_gdals_warp_onto_the_image_grid(rmnp, tmp_path, resampling):
    """GDAL's warper called directly (``rasterio.warp.reproject`` of the whole DEM onto the image's CRS,
    transform and size, the same resampling, NaN where it has no source) gives align-dem's elevation band
    exactly, read in windows of 256 px; the registration is off so nothing else moves the DEM."""
    dem, target = rmnp
    out = tmp_path / "dem.tif"
    res = run(dem, "--to", target, "-o", out, "--no-register", "--resampling", resampling, "--window-size", 256)
    assert res.exit_code == 0, res.output
    with rasterio.open(target) as t, rasterio.open(dem) as d:
        want = np.full((t.height, t.width), np.nan, np.float32)
        reproject(d.read(1), want, src_transform=d.transform, src_crs=d.crs, src_nodata=d.nodata,
                  dst_transform=t.transform, dst_crs=t.crs, dst_nodata=np.nan, resampling=Resampling[resampling])
    with rasterio.open(out) as o:
        got = o.read(1)
    assert np.isfinite(want).mean() > 0.3
    np.testing.assert_array_equal(got, want)                          # NaN where GDAL has none, bit for bit


def test_unregistered_output_on_a_utm_grid_is_the_exact_bilinear_sample(rmnp, tmp_path):
    """Onto a grid in another CRS (the image reprojected to UTM 13 N), each pixel centre taken to the DEM's
    CRS by pyproj and sampled bilinearly by scipy (``map_coordinates``, order 1) gives align-dem's value:
    GDAL's warper with its approximate transformer at 0.01 px, so within a metre on 230 m mountain cells.
    (``rasterio.warp.reproject`` of the same arrays strays up to 13 m from this reference, mean 1.4 m.)"""
    from pyproj import Transformer
    from scipy.ndimage import map_coordinates

    dem, target = rmnp
    utm = tmp_path / "rgb_utm13n.tif"
    with rasterio.open(target) as src:
        tr, w, h = calculate_default_transform(src.crs, "EPSG:32613", src.width, src.height, *src.bounds)
        with rasterio.open(utm, "w", **(src.profile | {"crs": "EPSG:32613", "transform": tr, "width": w,
                                                          "height": h})) as dst:
            reproject(rasterio.band(src, 1), rasterio.band(dst, 1), resampling=Resampling.bilinear)
    out = tmp_path / "dem.tif"
    res = run(dem, "--to", utm, "-o", out, "--no-register", "--window-size", 256)
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as o:
        got = o.read(1)
    with rasterio.open(dem) as d:
        elev = d.read(1).astype(np.float64)
        elev[elev == d.nodata] = np.nan
        rows, cols = np.mgrid[0:h, 0:w]
        x, y = tr * (cols + 0.5, rows + 0.5)
        lon, lat = Transformer.from_crs("EPSG:32613", d.crs.to_wkt(), always_xy=True).transform(x, y)
        c, r = ~d.transform * (lon, lat)
    want = map_coordinates(elev, [r - 0.5, c - 0.5], order=1, mode="constant", cval=np.nan)
    both = np.isfinite(want) & np.isfinite(got)
    assert both.sum() > 0.95 * np.isfinite(want).sum() > 0.3 * w * h
    err = np.abs(got - want)[both]
    assert err.max() < 1.0 and err.mean() < 0.2
    assert np.nanmax(elev) - np.nanmin(elev) > 1900                      # a mountain DEM: errors would show
