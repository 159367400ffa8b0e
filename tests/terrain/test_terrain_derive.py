"""Slope, aspect, hillshade, local relief and pixel sizes against hand-computed and independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from pyproj import Geod

from farmannot.terrain.derive import (
    aspect_degrees,
    hillshade,
    local_relief,
    pixel_size_m,
    pixel_size_m_rows,
    slope_degrees,
    vertical_scale_to_m,
)


def plane(rows, cols, gx, gy, xres, yres):
    """z = gx * east + gy * north (metres) on a north-up grid (row 0 is the north edge)."""
    c, r = np.meshgrid(np.arange(cols), np.arange(rows))
    return 100.0 + gx * c * xres - gy * r * yres


@pytest.mark.parametrize("gx,gy", [(0.1, 0.0), (0.0, 0.25), (0.3, -0.4), (-1.0, 0.0)])
def test_slope_of_a_plane_everywhere_including_edges(gx, gy):
    z = plane(9, 11, gx, gy, xres=2.0, yres=3.0)
    want = math.degrees(math.atan(math.hypot(gx, gy)))
    assert np.allclose(slope_degrees(z, 2.0, 3.0), want, atol=1e-4)


@pytest.mark.parametrize("gx,gy,facing", [(1.0, 0.0, 270.0), (-1.0, 0.0, 90.0), (0.0, 1.0, 180.0),
                                          (0.0, -1.0, 0.0), (-0.5, -0.5, 45.0)])
def test_aspect_is_the_downhill_compass_direction(gx, gy, facing):
    # rising to the east faces west (270); rising to the north faces south (180)
    asp = aspect_degrees(plane(5, 5, gx, gy, 1.0, 1.0), 1.0, 1.0)
    assert np.allclose(asp, facing, atol=1e-4)


def test_aspect_nan_on_flat_and_slope_zero():
    z = np.full((4, 4), 7.0)
    assert np.isnan(aspect_degrees(z, 1, 1)).all()
    assert (slope_degrees(z, 1, 1) == 0).all()


def test_hillshade_flat_equals_sine_of_sun_altitude_and_facing_sun_is_brightest():
    flat = hillshade(np.zeros((5, 5)), 1, 1, azimuth=315, altitude=30)
    assert np.allclose(flat, math.sin(math.radians(30)), atol=1e-6)
    # A 30 deg slope facing the sun at altitude 60 is lit head-on (sun at right angles to the surface): 1.
    g = math.tan(math.radians(30))
    facing_sun = plane(5, 5, 0.0, -g, 1, 1)  # falls to the north = faces north
    assert np.allclose(hillshade(facing_sun, 1, 1, azimuth=0, altitude=60), 1.0, atol=1e-5)
    # Facing away from a low sun: self-shadowed, clipped to 0.
    assert np.allclose(hillshade(facing_sun, 1, 1, azimuth=180, altitude=20), 0.0)


def test_nodata_spreads_one_pixel_into_derivatives():
    z = plane(7, 7, 0.2, 0.0, 1, 1)
    z[3, 3] = np.nan
    s = slope_degrees(z, 1, 1)
    assert np.isnan(s[2:5, 2:5]).all()
    assert np.isfinite(s[0]).all() and np.isfinite(s[:, 0]).all()


def test_local_relief_hand_computed():
    z = np.array([[1, 2, 3, 4],
                  [5, 6, 7, 8],
                  [9, 10, 11, 12]], dtype=float)
    z[2, 3] = np.nan
    r = local_relief(z, 1)
    # corner (0,0): 3 x 3 window clipped to rows 0-1, cols 0-1 -> 6 - 1
    assert r[0, 0] == 5
    # (1,2): rows 0-2, cols 1-3 without the nodata 12 -> 11 - 2
    assert r[1, 2] == 9
    assert np.isnan(r[2, 3])
    with pytest.raises(ValueError):
        local_relief(z, 0)


def test_pixel_size_in_geographic_degrees_matches_geodesic_distances():
    geod = Geod(ellps="WGS84")
    tr = Affine(0.001, 0, -105.6, 0, -0.001, 40.5)
    xres, yres = pixel_size_m("EPSG:4326", tr, height=200)  # centre latitude 40.4
    _, _, dx = geod.inv(-105.6, 40.4, -105.599, 40.4)
    _, _, dy = geod.inv(-105.6, 40.3995, -105.6, 40.4005)
    assert xres == pytest.approx(dx, rel=1e-4)
    assert yres == pytest.approx(dy, rel=1e-4)
    rows, yrows = pixel_size_m_rows("EPSG:4326", tr, 200)
    assert yrows.shape == (200, 1) and yrows[100, 0] == pytest.approx(dy, rel=1e-4)
    _, _, dx_top = geod.inv(-105.6, 40.4995, -105.599, 40.4995)
    assert rows[0, 0] == pytest.approx(dx_top, rel=1e-4)


def test_pixel_area_is_geodesic_for_degrees_and_planar_when_projected():
    """The area propose filters by: a 0.001 deg pixel at 40.4 N against pyproj's geodesic polygon area."""
    from farmannot.terrain.derive import pixel_area_m2

    geod = Geod(ellps="WGS84")
    tr = Affine(0.001, 0, -105.6, 0, -0.001, 40.5)
    lons, lats = [-105.6, -105.599, -105.599, -105.6], [40.4005, 40.4005, 40.3995, 40.3995]
    area, _ = geod.polygon_area_perimeter(lons, lats)
    assert pixel_area_m2("EPSG:4326", tr, 200) == pytest.approx(abs(area), rel=1e-4)
    assert pixel_area_m2("EPSG:32613", Affine(2.0, 0, 450000, 0, -2.0, 4450000), 10) == 4.0
    rotated = Affine.translation(450000, 4450000) * Affine.rotation(30) * Affine.scale(3.0, -3.0)
    assert pixel_area_m2("EPSG:32613", rotated, 10) == pytest.approx(9.0)


def test_pixel_size_projected_in_metres_and_us_feet():
    tr = Affine(2.0, 0, 450000, 0, -2.0, 4450000)
    assert pixel_size_m("EPSG:32613", tr, 10) == (2.0, 2.0)
    ft = Affine(10.0, 0, 3000000, 0, -10.0, 1700000)
    xres, yres = pixel_size_m("EPSG:2232", ft, 10)  # NAD83 / Colorado Central (ftUS)
    assert xres == pytest.approx(10 * 1200 / 3937, rel=1e-9)


def test_slope_of_a_plane_on_a_geographic_grid_in_degrees():
    """A plane rising 0.2 m per metre to the north, stored in EPSG:4326: slope atan(0.2), not ~90 deg."""
    geod = Geod(ellps="WGS84")
    tr = Affine(0.0002, 0, -105.6, 0, -0.0002, 40.3)
    rows = 40
    lat = tr.f + tr.e * (np.arange(rows) + 0.5)
    north_m = np.array([geod.inv(-105.6, lat[-1], -105.6, la)[2] * np.sign(la - lat[-1]) for la in lat])
    z = np.repeat((0.2 * north_m)[:, None], 30, axis=1)
    xres, yres = pixel_size_m("EPSG:4326", tr, rows)
    s = slope_degrees(z, xres, yres)
    assert np.allclose(s, math.degrees(math.atan(0.2)), atol=0.02)
    naive = slope_degrees(z, tr.a, -tr.e)  # degrees taken for metres: the mistake this guards against
    assert naive.min() > 89


def test_vertical_units():
    assert vertical_scale_to_m("metre") == 1.0
    assert vertical_scale_to_m("ft") == pytest.approx(0.3048)
    assert vertical_scale_to_m("US survey foot") == pytest.approx(0.3048006096)
    assert vertical_scale_to_m(None) is None
    assert vertical_scale_to_m("furlong") is None


def test_pixel_sizes_of_several_crs_asked_in_turn():
    """Each CRS is parsed once and kept: sizes asked alternately for three CRSs (a string, a rasterio CRS, a
    pyproj CRS) stay each CRS's own."""
    from pyproj import CRS
    from rasterio.crs import CRS as RioCRS

    geo = Affine(0.001, 0, -105.6, 0, -0.001, 40.5)
    _, _, dx = Geod(ellps="WGS84").inv(-105.6, 40.4, -105.599, 40.4)
    ft = Affine(10.0, 0, 3000000, 0, -10.0, 1700000)
    utm = Affine(2.0, 0, 450000, 0, -2.0, 4450000)
    for _ in range(3):
        for crs in ("EPSG:4326", RioCRS.from_epsg(4326), CRS.from_epsg(4326)):
            assert pixel_size_m(crs, geo, 200)[0] == pytest.approx(dx, rel=1e-4)
        for crs in ("EPSG:2232", RioCRS.from_epsg(2232), CRS.from_epsg(2232)):
            assert pixel_size_m(crs, ft, 10) == pytest.approx((10 * 1200 / 3937,) * 2, rel=1e-9)
        assert pixel_size_m(RioCRS.from_epsg(32613), utm, 10) == (2.0, 2.0)
