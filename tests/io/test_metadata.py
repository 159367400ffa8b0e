"""Shooting date from tags, MTL files and product names; image centre in lat/lon."""

from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import pytest
import rasterio
from pyproj import Proj
from rasterio.transform import from_origin

from farmannot.errors import InputError
from farmannot.io.metadata import (
    acquisition_date,
    centre_lonlat,
    date_from_mtl,
    date_from_name,
    date_from_tags,
    find_mtl,
    read_scene_metadata,
)


@pytest.mark.parametrize(
    "name, date, source",
    [
        ("LC08_L1TP_224078_20200518_20200518_01_RT.TIF", dt.date(2020, 5, 18), "landsat_name"),
        ("LC08_L2SP_224078_20200127_20200823_02_T1_SR_B4.TIF", dt.date(2020, 1, 27), "landsat_name"),
        ("LE07_L1TP_123032_20031105_20170123_01_T1_B3.tif", dt.date(2003, 11, 5), "landsat_name"),
        # pre-collection id: year 2020, day 139 (31 + 29 + 31 + 30 = 121 days before May 1) -> 18 May
        ("LC82240782020139LGN00_B4.TIF", dt.date(2020, 5, 18), "landsat_name"),
        ("S2B_MSIL2A_20190705T030549_N0212_R075_T50SMG_20190705T073004.tif", dt.date(2019, 7, 5), "sentinel2_name"),
        ("T50SMG_20190705T030549_B04_10m.jp2", dt.date(2019, 7, 5), "sentinel2_name"),
        ("S2A_50SMG_20210316_0_L2A.tif", dt.date(2021, 3, 16), "sentinel2_name"),
        ("GF2_PMS1_E113.6_N40.1_20160308_L1A0001472278-MSS1.tiff", dt.date(2016, 3, 8), "gaofen_name"),
        ("GF1_WFV3_E115.0_N31.0_20180203_L1A0002987654.tif", dt.date(2018, 2, 3), "gaofen_name"),
        ("field_2021-07-03.tif", dt.date(2021, 7, 3), "name_date"),
    ],
)
def test_date_from_product_names(name, date, source):
    found = date_from_name(name)
    assert found is not None and found.date == date and found.source == source
    assert found.confidence == (0.6 if source == "name_date" else 1.0)


@pytest.mark.parametrize("name", ["rgbn.tif", "scene_20201340.tif", "tile_0001_0512.png", "dem_123456789.tif"])
def test_no_date_in_plain_names(name):
    assert date_from_name(name) is None


def test_tags_acquisition_beats_processing_datetime():
    assert date_from_tags({"ACQUISITION_DATE": "2019-08-01T10:00:00Z"}).date == dt.date(2019, 8, 1)
    weak = date_from_tags({"TIFFTAG_DATETIME": "2021:02:03 10:00:00"})
    assert weak.date == dt.date(2021, 2, 3) and weak.source == "tiff_datetime" and weak.confidence < 0.5
    # a product name is more trustworthy than TIFF's DateTime (usually when the file was written)
    best = acquisition_date({"TIFFTAG_DATETIME": "2021:02:03 10:00:00"}, "LC08_L1TP_224078_20200518_20200518_01_RT.TIF")
    assert best.date == dt.date(2020, 5, 18)
    # an acquisition tag beats the name; an override beats everything
    assert acquisition_date({"SENSING_TIME": "2018-06-30"}, "S2A_50SMG_20210316_0_L2A.tif").date == dt.date(2018, 6, 30)
    assert acquisition_date({"SENSING_TIME": "2018-06-30"}, "x.tif", override="2017-01-02").source == "override"
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        acquisition_date({}, "", override="02/01/2017")
    assert acquisition_date({}, "rgbn.tif") is None


def test_real_mtl_and_product_matching(shared_data, tmp_path):
    src = shared_data / "real-scenes" / "landsat8-itaipu"
    (mtl,) = src.glob("*_MTL.txt")
    found = date_from_mtl(mtl.read_text(encoding="utf-8"))
    assert found.date == dt.date(2020, 1, 27) and found.detail == "DATE_ACQUIRED"
    shutil.copy(mtl, tmp_path / mtl.name)
    # the MTL of another product (same path/row, January) must not date the May L1TP scene
    assert find_mtl(tmp_path / "LC08_L1TP_224078_20200518_20200518_01_RT.TIF") is None
    assert find_mtl(tmp_path / "LC08_L2SP_224078_20200127_20200823_02_T1_SR_B4.TIF") == tmp_path / mtl.name


def _write_tif(path, crs, transform, w=40, h=30):
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="uint8", crs=crs,
                       transform=transform) as dst:
        dst.write(np.zeros((1, h, w), np.uint8))


def test_centre_of_utm_raster_matches_pyproj_inverse(tmp_path):
    # UTM 21 N with negative northings, as in the Itaipu Landsat product (southern hemisphere)
    tr = from_origin(729345.0, -2785995.0, 30.0, 30.0)
    p = tmp_path / "LC08_L1TP_224078_20200518_20200518_01_RT.tif"
    _write_tif(p, "EPSG:32621", tr, w=768, h=768)
    meta = read_scene_metadata(p)
    lon, lat = centre_lonlat(meta.crs, meta.transform, meta.width, meta.height)
    x, y = 729345.0 + 30 * 384, -2785995.0 - 30 * 384
    lon_ref, lat_ref = Proj(proj="utm", zone=21, ellps="WGS84")(x, y, inverse=True)
    assert lon == pytest.approx(lon_ref, abs=1e-7) and lat == pytest.approx(lat_ref, abs=1e-7)
    # and inside the scene's published extent (lon -54.84..-54.23, lat -25.60..-25.08)
    assert -54.84 < lon < -54.23 and -25.60 < lat < -25.08


def test_centre_of_geographic_raster_is_plain_arithmetic():
    tr = from_origin(-106.0, 40.6, 0.0015, 0.0015)
    lon, lat = centre_lonlat("EPSG:4326", tuple(tr)[:6], 400, 200)
    assert lon == pytest.approx(-106.0 + 0.0015 * 200) and lat == pytest.approx(40.6 - 0.0015 * 100)


def test_centre_without_crs_is_an_input_error():
    with pytest.raises(InputError, match="coordinate reference system"):
        centre_lonlat(None, (1, 0, 0, 0, -1, 0), 10, 10)


def test_centre_from_a_transformer_made_once_per_crs_equals_pyproj_made_each_time():
    """Tiles of one scene share the scene's transformer; scenes of other CRSs, asked in between, get their own."""
    from pyproj import CRS, Transformer
    from rasterio.crs import CRS as RioCRS

    grids = [(RioCRS.from_epsg(32622), from_origin(729345.0, -2785995.0, 30, 30), 256, 256),
             ("EPSG:32613", from_origin(450000.0, 4450000.0, 2.0, 2.0), 100, 60),
             (CRS.from_epsg(3857), from_origin(-6_000_000.0, -2_900_000.0, 10.0, 10.0), 50, 50),
             ("EPSG:4326", from_origin(-106.0, 40.6, 0.0015, 0.0015), 400, 200)]
    for _ in range(2):
        for crs, tr, w, h in grids + grids[::-1]:
            src = CRS.from_user_input(crs if isinstance(crs, CRS) else str(crs))
            x, y = tr @ (w / 2.0, h / 2.0)
            ref = Transformer.from_crs(src, "EPSG:4326", always_xy=True).transform(x, y)
            assert centre_lonlat(crs, tuple(tr)[:6], w, h) == (float(ref[0]), float(ref[1]))
    with pytest.raises(InputError, match="unusable CRS 'EPSG:999999'"):
        centre_lonlat("EPSG:999999", (1, 0, 0, 0, -1, 0), 10, 10)
    with pytest.raises(InputError, match="unusable CRS 'EPSG:999999'"):  # a failure is not remembered as a CRS
        centre_lonlat("EPSG:999999", (1, 0, 0, 0, -1, 0), 10, 10)
