"""Synthetic terrain for the terrain tests: one analytic surface, sampled on a geographic DEM grid and seen
as shaded relief on a UTM image grid whose georeference is off by a planted sub-pixel offset."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.warp import transform as warp_transform

UTM = "EPSG:32613"
# (amplitude m, wavelength m, direction deg, phase): smooth hills, wavelengths 280-380 m.
WAVES = [(12.0, 300.0, 20.0, 0.3), (9.0, 380.0, 110.0, 1.1), (7.0, 280.0, 65.0, 2.0), (5.0, 340.0, 160.0, 0.7)]
E0, N0 = 450_000.0, 4_450_000.0  # near 40.2 N, 105.6 W (UTM 13 N)


def height(e: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Elevation (m) of the synthetic terrain at UTM coordinates."""
    z = np.full(np.broadcast(e, n).shape, 2500.0)
    for amp, wl, ang, ph in WAVES:
        k = 2 * math.pi / wl
        a = math.radians(ang)
        z = z + amp * np.sin(k * (math.cos(a) * (e - E0) + math.sin(a) * (n - N0)) + ph)
    return z


def height_gradient(e: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact (dz/dE, dz/dN) of :func:`height`."""
    gx = np.zeros(np.broadcast(e, n).shape)
    gy = np.zeros_like(gx)
    for amp, wl, ang, ph in WAVES:
        k = 2 * math.pi / wl
        a = math.radians(ang)
        c = amp * k * np.cos(k * (math.cos(a) * (e - E0) + math.sin(a) * (n - N0)) + ph)
        gx += c * math.cos(a)
        gy += c * math.sin(a)
    return gx, gy


@dataclass
class Scene:
    transform: Affine
    width: int
    height: int
    crs: str = UTM

    def centres(self, dx: float = 0.0, dy: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """UTM coordinates of pixel centres, sampled ``(dx, dy)`` pixels left/up of the true position."""
        cols, rows = np.meshgrid(np.arange(self.width) + 0.5 - dx, np.arange(self.height) + 0.5 - dy)
        e = self.transform.c + self.transform.a * cols
        n = self.transform.f + self.transform.e * rows
        return e, n


def image_grid(size: int = 256, pixel: float = 2.0) -> Scene:
    return Scene(Affine(pixel, 0, E0, 0, -pixel, N0 + size * pixel), size, size)


def shaded_image(scene: Scene, offset: tuple[float, float], azimuth=300.0, altitude=40.0, noise=0.01, seed=0):
    """What a camera sees: shaded relief whose features sit ``offset`` (dx, dy) px from where the
    georeference puts them, with a gain, an offset and a little noise."""
    e, n = scene.centres(*offset)
    gx, gy = height_gradient(e, n)
    zen, az = math.radians(90 - altitude), math.radians(azimuth)
    s = (-gx * math.sin(zen) * math.sin(az) - gy * math.sin(zen) * math.cos(az) + math.cos(zen))
    s = s / np.sqrt(1 + gx * gx + gy * gy)
    rng = np.random.default_rng(seed)
    return (80.0 + 120.0 * s + noise * 120.0 * rng.standard_normal(s.shape)).astype(np.float32)


def write_geographic_dem(path: Path, scene: Scene, cell_deg: float = 0.00005, margin_m: float = 200.0,
                         nodata: float | None = -9999.0, units: str | None = "metre", dtype="float32") -> Path:
    """Sample :func:`height` on an EPSG:4326 grid that covers ``scene`` (plus a margin) and write it."""
    left, top = scene.transform.c - margin_m, scene.transform.f + margin_m
    right = scene.transform.c + scene.transform.a * scene.width + margin_m
    bottom = scene.transform.f + scene.transform.e * scene.height - margin_m
    lons, lats = warp_transform(UTM, "EPSG:4326", [left, right, left, right], [top, top, bottom, bottom])
    w, s, e_, n_ = min(lons), min(lats), max(lons), max(lats)
    ncol, nrow = int(math.ceil((e_ - w) / cell_deg)), int(math.ceil((n_ - s) / cell_deg))
    tr = Affine(cell_deg, 0, w, 0, -cell_deg, n_)
    cols, rows = np.meshgrid(np.arange(ncol) + 0.5, np.arange(nrow) + 0.5)
    lon, lat = tr.c + tr.a * cols, tr.f + tr.e * rows
    ee, nn = warp_transform("EPSG:4326", UTM, lon.ravel(), lat.ravel())
    z = height(np.asarray(ee), np.asarray(nn)).reshape(nrow, ncol).astype(dtype)
    profile = dict(driver="GTiff", width=ncol, height=nrow, count=1, dtype=dtype, crs="EPSG:4326",
                   transform=tr, nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z, 1)
        if units:
            dst.units = (units,)
    return path
