"""A raw Landsat 8 product as USGS ships it: no nodata tag, a DN-0 collar around a tilted footprint, bands
blue, green, red without descriptions. It must open in true colour with the collar out of the stretch."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from farmannot.io.bands import resolve_band_map
from farmannot.io.raster import open_raster
from farmannot.io.stretch import collar_value, scene_stretch
from farmannot.sam.imagery import render_picture

NAME = "LC08_L1TP_224078_20200518_20200518_01_RT.tif"
SIDE = 2400  # product-sized in structure (tiled, compressed, tilted footprint); a quarter of a scene's side


def _footprint(side: int) -> np.ndarray:
    """A tilted square (a Landsat path's footprint in its UTM grid) covering ~83 % of the grid."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side - 0.5
    a = np.deg2rad(13.0)
    u, v = xx * np.cos(a) + yy * np.sin(a), -xx * np.sin(a) + yy * np.cos(a)
    return (np.abs(u) < 0.458) & (np.abs(v) < 0.458)


@pytest.fixture(scope="module")
def raw_landsat(tmp_path_factory):
    rng = np.random.default_rng(0)
    inside = _footprint(SIDE)
    # blue < green < red over land, as OLI DNs of vegetation-poor fields are; values of a real L1 product
    base = {"blue": 9000, "green": 9800, "red": 10600}
    bands = []
    for name in ("blue", "green", "red"):
        b = rng.normal(base[name], 700, (SIDE, SIDE)).clip(1, 65535).astype(np.uint16)
        b[~inside] = 0
        bands.append(b)
    data = np.stack(bands)
    path = tmp_path_factory.mktemp("raw") / NAME
    with rasterio.open(path, "w", driver="GTiff", width=SIDE, height=SIDE, count=3, dtype="uint16",
                       crs="EPSG:32721", transform=from_origin(600000, 7300000, 30, 30), tiled=True,
                       blockxsize=512, blockysize=512, compress="deflate") as dst:
        dst.write(data)  # no nodata tag, no descriptions: as the product is distributed
    return path, data, inside


def test_collar_is_found_and_left_out_of_the_stretch(raw_landsat):
    path, data, inside = raw_landsat
    collar_share = 1 - inside.mean()
    assert 0.1 < collar_share < 0.25  # like the 16.5 % of the product
    with open_raster(path) as src:
        assert src.nodata is None and not any(src.descriptions)
        st = scene_stretch(src, [3, 2, 1])
        everything = scene_stretch(src, [3, 2, 1], nodata=None)
    # percentiles of the footprint pixels only (numpy on the full-resolution data, independent of the read)
    for k, band in enumerate((2, 1, 0)):
        vals = data[band][inside].astype(np.float64)
        lo, hi = np.percentile(vals, [2, 98])
        assert st.low[k] == pytest.approx(lo, rel=0.01) and st.high[k] == pytest.approx(hi, rel=0.01)
    assert everything.low == (0.0, 0.0, 0.0)  # with every pixel counted the collar pulls the low end to 0


def test_product_name_gives_the_band_order_and_the_picture_is_true_colour(raw_landsat):
    path, _, inside = raw_landsat
    bmap, how = resolve_band_map(3, (None, None, None), source=str(path))
    assert bmap == {"blue": 1, "green": 2, "red": 3} and "Landsat" in how
    pic = render_picture(path)
    assert pic.bands == [3, 2, 1]  # red, green, blue on screen
    rgb = pic.rgb[inside]
    mean = rgb.mean(axis=0)
    assert 90 < mean.mean() < 165  # the footprint fills the display range: not washed out
    assert (pic.rgb[~inside] == 0).all()  # the collar black
    # a band map the annotator gives still wins
    assert resolve_band_map(3, (None,) * 3, sensor="rgb", source=str(path))[0]["red"] == 1


def test_no_collar_where_there_is_none():
    rng = np.random.default_rng(1)
    data = rng.integers(100, 200, (3, 40, 40)).astype(np.float32)
    assert collar_value(data) is None
    bright = data.copy()
    bright[:, :3, :] = bright[:, -3:, :] = bright[:, :, :3] = bright[:, :, -3:] = 65535  # a white frame
    assert collar_value(bright) is None  # fill is at the bottom of the range, not the top
    zero = data.copy()
    zero[:, :4, :] = zero[:, -4:, :] = zero[:, :, :4] = zero[:, :, -4:] = 0
    assert collar_value(zero) == 0.0
    one_band = data.copy()
    one_band[0, :4, :] = one_band[0, -4:, :] = one_band[0, :, :4] = one_band[0, :, -4:] = 0
    assert collar_value(one_band) is None  # dark in one band only is not a collar
    assert collar_value(np.zeros((3, 10, 10), np.float32)) is None  # an empty scene has no footprint


def test_forced_nodata_and_percentiles(raw_landsat):
    path, data, inside = raw_landsat
    pic = render_picture(path, nodata=0, percentiles=(10, 90))
    lo = np.percentile(data[2][inside].astype(np.float64), 10)
    assert pic.stretch["low"][0] == pytest.approx(lo, rel=0.01)


def test_a_uniform_background_is_not_a_collar():
    data = np.full((3, 40, 40), 40, np.float32)
    data[1, 10:20, 10:20] = 220  # a synthetic picture: grey background, one green field
    assert collar_value(data) is None
    neg = np.random.default_rng(2).integers(300, 700, (3, 40, 40)).astype(np.float32)
    neg[:, :5, :] = neg[:, -5:, :] = neg[:, :, :5] = neg[:, :, -5:] = -9999
    assert collar_value(neg) == -9999.0


def test_fill_around_a_single_value_is_not_a_collar():
    data = np.zeros((3, 40, 40), np.float32)
    data[:, 10:20, 10:20] = 200  # one bright block on zeros: stretching 200..200 would show it black
    assert collar_value(data) is None
