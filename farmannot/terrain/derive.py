"""Terrain derivatives of a DEM on a regular grid: slope, aspect, hillshade, local relief.

Pure numpy (plus scipy's rank filters) over arrays with NaN as nodata. Pixel sizes are in metres and
elevations in metres (scale other vertical units first with :func:`vertical_scale_to_m`); for a grid in
geographic degrees, get metres per pixel with :func:`pixel_size_m` instead of using the degree sizes, which
would make every slope about 90 degrees.

Gradients follow Horn (1981), the 3 x 3 weighted differences that GDAL's ``gdaldem`` uses. Pixels beside
nodata are nodata; the outer rows and columns are computed by extending the DEM linearly past its edge, so
a plane has the same slope everywhere.
"""

from __future__ import annotations

import math

import numpy as np
from affine import Affine
from scipy import ndimage

from farmannot.io.grid import parsed_crs

FloatOrRows = float | np.ndarray

_VERTICAL_UNITS = {
    "m": 1.0, "metre": 1.0, "metres": 1.0, "meter": 1.0, "meters": 1.0,
    "ft": 0.3048, "foot": 0.3048, "feet": 0.3048, "international foot": 0.3048,
    "us survey foot": 1200.0 / 3937.0, "us-ft": 1200.0 / 3937.0, "ftus": 1200.0 / 3937.0,
    "cm": 0.01, "centimetre": 0.01, "centimeter": 0.01, "dm": 0.1, "decimetre": 0.1, "decimeter": 0.1,
}


def vertical_scale_to_m(units: str | None) -> float | None:
    """Metres per DEM unit for a unit name (``'m'``, ``'ft'``, ``'US survey foot'``...); None if unknown.

    ``None`` or an empty name means the unit is not recorded; callers assume metres and say so.
    """
    if not units:
        return None
    return _VERTICAL_UNITS.get(units.strip().lower())


def pixel_size_m(crs, transform: Affine, height: int) -> tuple[float, float]:
    """Ground size of one pixel, ``(xres_m, yres_m)``, for a north-up grid.

    Projected CRS: the transform's pixel size times the CRS's metres per linear unit. Geographic CRS: degrees
    converted with the ellipsoid's meridian and parallel radii at the grid's centre latitude (a grid spanning
    a few degrees of latitude has an x size that varies by row; use :func:`pixel_size_m_rows` there).

    Args:
        crs: anything ``pyproj.CRS.from_user_input`` accepts (a rasterio CRS, ``"EPSG:4326"``, WKT).
        transform: the grid's affine transform (rotation terms must be zero).
        height: rows in the grid (locates the centre latitude).
    """
    xs, ys = _pixel_sizes(crs, transform, np.array([transform.f + transform.e * height / 2.0]))
    return float(xs[0]), float(ys[0])


def pixel_area_m2(crs, transform: Affine, height: int) -> float:
    """Ground area of one pixel in square metres: :func:`pixel_size_m`'s sides multiplied (at the grid's
    centre latitude for a geographic CRS). A rotated projected grid uses the transform's determinant."""
    if transform.b != 0 or transform.d != 0:
        pcrs = parsed_crs(crs)
        if not pcrs.is_geographic:
            factor = pcrs.axis_info[0].unit_conversion_factor if pcrs.axis_info else 1.0
            return abs(transform.a * transform.e - transform.b * transform.d) * factor * factor
    xs, ys = pixel_size_m(crs, transform, height)
    return xs * ys


def pixel_size_m_rows(crs, transform: Affine, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``(xres_m, yres_m)``, each of shape ``(height, 1)`` (broadcast over columns).

    Exact for geographic grids of any latitude span (and the same for any window of the grid, so windowed
    derivatives match whole-grid ones); constant for a projected grid.
    """
    lat = transform.f + transform.e * (np.arange(height) + 0.5)
    xs, ys = _pixel_sizes(crs, transform, lat)
    return xs.reshape(-1, 1), ys.reshape(-1, 1)


def _pixel_sizes(crs, transform: Affine, y_centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if transform.b != 0 or transform.d != 0:
        raise ValueError("rotated grids are not supported: the transform has rotation terms")
    pcrs = parsed_crs(crs)
    if pcrs.is_geographic:
        ell = pcrs.ellipsoid
        a, e2 = ell.semi_major_metre, 1.0 - (ell.semi_minor_metre / ell.semi_major_metre) ** 2
        phi = np.radians(y_centre)
        w = np.sqrt(1.0 - e2 * np.sin(phi) ** 2)
        m_per_deg_lat = math.pi / 180.0 * a * (1.0 - e2) / w**3
        m_per_deg_lon = math.pi / 180.0 * a * np.cos(phi) / w
        return abs(transform.a) * m_per_deg_lon, abs(transform.e) * m_per_deg_lat
    factor = pcrs.axis_info[0].unit_conversion_factor if pcrs.axis_info else 1.0
    n = len(y_centre)
    return np.full(n, abs(transform.a) * factor), np.full(n, abs(transform.e) * factor)


def _padded(dem: np.ndarray) -> np.ndarray:
    """The DEM with one extra row/column on each side, extended linearly (exact for planes)."""
    z = np.asarray(dem, dtype=np.float64)
    if z.shape[0] < 2 or z.shape[1] < 2:
        return np.pad(z, 1, mode="edge")
    p = np.pad(z, 1, mode="edge")
    p[0, :] = 2 * p[1, :] - p[2, :]
    p[-1, :] = 2 * p[-2, :] - p[-3, :]
    p[:, 0] = 2 * p[:, 1] - p[:, 2]
    p[:, -1] = 2 * p[:, -2] - p[:, -3]
    return p


def gradient(dem: np.ndarray, xres_m: FloatOrRows, yres_m: FloatOrRows) -> tuple[np.ndarray, np.ndarray]:
    """Horn's gradient ``(dz/dx east, dz/dy north)``, dimensionless (metres per metre); NaN near nodata.

    Rows are assumed to run north to south (a north-up grid, negative y pixel size).
    """
    p = _padded(dem)
    a, b, c = p[:-2, :-2], p[:-2, 1:-1], p[:-2, 2:]
    d, f = p[1:-1, :-2], p[1:-1, 2:]
    g, h, i = p[2:, :-2], p[2:, 1:-1], p[2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8.0 * np.asarray(xres_m, dtype=np.float64))
    dzdy_south = ((g + 2 * h + i) - (a + 2 * b + c)) / (8.0 * np.asarray(yres_m, dtype=np.float64))
    # Horn's stencil skips the centre pixel; a nodata centre is still nodata.
    centre = ~np.isfinite(p[1:-1, 1:-1])
    dzdx = np.where(centre, np.nan, dzdx)
    return dzdx, np.where(centre, np.nan, -dzdy_south)


def slope_degrees(dem: np.ndarray, xres_m: FloatOrRows, yres_m: FloatOrRows) -> np.ndarray:
    """Slope in degrees (0 flat, 90 vertical), float32, NaN where the 3 x 3 neighbourhood has nodata."""
    gx, gy = gradient(dem, xres_m, yres_m)
    return np.degrees(np.arctan(np.hypot(gx, gy))).astype(np.float32)


def aspect_degrees(dem: np.ndarray, xres_m: FloatOrRows, yres_m: FloatOrRows) -> np.ndarray:
    """Aspect: the compass direction the slope faces (downhill), degrees clockwise from north in [0, 360).

    NaN on exactly flat pixels (no direction) and near nodata.
    """
    gx, gy = gradient(dem, xres_m, yres_m)
    with np.errstate(invalid="ignore"):
        asp = np.degrees(np.arctan2(-gx, -gy)) % 360.0
    asp[(gx == 0) & (gy == 0)] = np.nan
    return asp.astype(np.float32)


def hillshade(
    dem: np.ndarray,
    xres_m: FloatOrRows,
    yres_m: FloatOrRows,
    azimuth: float = 315.0,
    altitude: float = 45.0,
) -> np.ndarray:
    """Lambertian shaded relief in [0, 1] for a sun at ``azimuth`` (compass degrees) and ``altitude``.

    ``cos(zenith) cos(slope) + sin(zenith) sin(slope) cos(azimuth - aspect)``, clipped at 0 (self-shadow), the
    formula of ``gdaldem hillshade`` divided by 255. NaN near nodata.
    """
    gx, gy = gradient(dem, xres_m, yres_m)
    zen = math.radians(90.0 - altitude)
    az = math.radians(azimuth)
    # Unit sun vector (east, north, up) dotted with the unit surface normal (-gx, -gy, 1) / norm.
    sun = (math.sin(zen) * math.sin(az), math.sin(zen) * math.cos(az), math.cos(zen))
    shade = (-gx * sun[0] - gy * sun[1] + sun[2]) / np.sqrt(1.0 + gx * gx + gy * gy)
    return np.clip(shade, 0.0, 1.0).astype(np.float32)


def local_relief(dem: np.ndarray, radius_px: int) -> np.ndarray:
    """Local relief: highest minus lowest elevation in the ``(2r+1) x (2r+1)`` square around each pixel.

    Nodata neighbours are ignored; nodata pixels stay NaN. Units are the DEM's.
    """
    if radius_px < 1:
        raise ValueError("radius_px must be at least 1")
    z = np.asarray(dem, dtype=np.float64)
    valid = np.isfinite(z)
    size = 2 * radius_px + 1
    hi = ndimage.maximum_filter(np.where(valid, z, -np.inf), size=size, mode="nearest")
    lo = ndimage.minimum_filter(np.where(valid, z, np.inf), size=size, mode="nearest")
    out = (hi - lo).astype(np.float32)
    out[~valid] = np.nan
    return out


def relief_radius_px(xres_m: float, yres_m: float, radius_m: float = 50.0) -> int:
    """Pixels for a local-relief radius of ``radius_m`` metres (at least 1)."""
    return max(1, int(round(radius_m / max(min(xres_m, yres_m), 1e-9))))
