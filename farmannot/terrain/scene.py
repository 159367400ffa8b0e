"""A DEM product for a whole scene: aligned (and registered) elevation plus derived layers, one GeoTIFF.

The output has exactly the target raster's CRS, transform, width and height; it is written window by
window (each window warped from the DEM with a halo for the derivatives), so memory does not grow with the
scene. Registration runs once on a decimated copy of the scene grid and is applied while warping.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window
from rasterio.windows import transform as window_transform
from tqdm import tqdm

from farmannot.errors import InputError
from farmannot.io.atomic import atomic_path
from farmannot.io.raster import open_raster
from farmannot.terrain import derive
from farmannot.terrain.align import _as_crs, _grid_windows, align_dem, read_aligned, warped_dem
from farmannot.terrain.register import Registration, estimate_offset

DERIVED = ("slope", "aspect", "hillshade", "relief")
DESCRIPTIONS = {"slope": "slope_deg", "aspect": "aspect_deg", "hillshade": "hillshade", "relief": "relief_m"}
UNITS = {"slope": "degree", "aspect": "degree", "hillshade": "", "relief": "metre"}
REGISTRATION_GRID_PX = 1024


def parse_derive(text: str | None) -> tuple[str, ...]:
    """``'slope,aspect'`` -> ``('slope', 'aspect')`` in the canonical band order; unknown names raise."""
    if not text:
        return ()
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in DERIVED]
    if bad:
        raise InputError(f"--derive: unknown layer(s) {bad}; choose from {', '.join(DERIVED)}.")
    return tuple(n for n in DERIVED if n in names)


def image_gray(src: rasterio.io.DatasetReader, out_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Mean of an image's bands (float32, NaN where the image has no data), optionally averaged down."""
    shape = None if out_shape is None else (src.count, *out_shape)
    data = src.read(out_shape=shape, out_dtype="float32", resampling=Resampling.average)
    mask = src.dataset_mask(out_shape=out_shape, resampling=Resampling.nearest) > 0
    gray = data.mean(axis=0)
    gray[~mask | ~np.isfinite(gray)] = np.nan
    return gray


def register_to_image(
    dem_path: str | os.PathLike,
    target: rasterio.io.DatasetReader,
    *,
    resampling: str = "bilinear",
    max_shift_px: float = 3.0,
    grid_px: int = REGISTRATION_GRID_PX,
) -> tuple[Registration, dict]:
    """Estimate the DEM-to-image offset on the target grid decimated to at most ``grid_px`` per side.

    Returns the registration (shifts in *target* pixels) and facts about the grid it was estimated on.
    """
    w, h = target.width, target.height
    k = max(1, math.ceil(max(w, h) / grid_px))
    rw, rh = math.ceil(w / k), math.ceil(h / k)
    sx, sy = w / rw, h / rh
    rtransform = target.transform @ Affine.scale(sx, sy)
    dem = align_dem(dem_path, target.crs, rtransform, rw, rh, resampling=resampling)
    gray = image_gray(target, (rh, rw))
    dem_res = _dem_pixel_in_target_px(dem_path, target)
    smooth = min(8.0, max(0.0, 0.5 * dem_res / k))
    reg = estimate_offset(gray, dem.elevation, rtransform, max_shift_px=max_shift_px / max(sx, sy),
                          crs=target.crs, smooth_px=smooth)
    # Back to target pixels.
    reg.dx, reg.dy = reg.dx * sx, reg.dy * sy
    reg.stage1 = (reg.stage1[0] * sx, reg.stage1[1] * sy)
    reg.sigma_px *= max(sx, sy)
    reg.max_shift_px = max_shift_px
    return reg, {"grid": [rw, rh], "decimation": k, "smooth_px": round(smooth, 3), "coverage": dem.coverage}


def _dem_pixel_in_target_px(dem_path, target) -> float:
    """The DEM's cell size over the target's pixel size, both in metres (about; for auto smoothing)."""
    with open_raster(dem_path) as src:
        dx, dy = derive.pixel_size_m(src.crs, src.transform, src.height)
    tx, ty = derive.pixel_size_m(target.crs, target.transform, target.height)
    return math.sqrt(dx * dy) / math.sqrt(tx * ty)


def _derived_window(z_m: np.ndarray, layers: Sequence[str], crs, transform: Affine, relief_px: int) -> list[np.ndarray]:
    xres, yres = derive.pixel_size_m_rows(crs, transform, z_m.shape[0])
    out = []
    for name in layers:
        if name == "slope":
            out.append(derive.slope_degrees(z_m, xres, yres))
        elif name == "aspect":
            out.append(derive.aspect_degrees(z_m, xres, yres))
        elif name == "hillshade":
            out.append(derive.hillshade(z_m, xres, yres))
        else:
            out.append(derive.local_relief(z_m, relief_px))
    return out


def write_aligned_dem(
    dem_path: str | os.PathLike,
    target_path: str | os.PathLike,
    output: str | os.PathLike,
    *,
    resampling: str = "bilinear",
    register: bool = True,
    derive_layers: Sequence[str] = (),
    relief_radius_m: float = 50.0,
    max_shift_px: float = 3.0,
    window_size: int = 1024,
    progress: bool = False,
) -> dict:
    """Align the DEM to the target raster's grid, optionally register and derive, and write ``output``.

    Returns the report (a JSON-ready dict): coverage, vertical units, the registration (both stages, the
    confidence, whether applied), the bands written.
    """
    window_size = max(256, (window_size // 256) * 256)
    with open_raster(target_path) as tgt:
        crs = _as_crs(tgt.crs, f"{target_path}: target raster")
        transform, width, height = tgt.transform, tgt.width, tgt.height
        reg, reg_grid = (None, None)
        if register:
            reg, reg_grid = register_to_image(dem_path, tgt, resampling=resampling, max_shift_px=max_shift_px)
    offset = reg.applied_offset if reg else (0.0, 0.0)

    xres_c, yres_c = derive.pixel_size_m(crs, transform, height)
    relief_px = derive.relief_radius_px(xres_c, yres_c, relief_radius_m)
    halo = (relief_px if "relief" in derive_layers else 1) if derive_layers else 0

    profile = dict(driver="GTiff", width=width, height=height, count=1 + len(derive_layers), dtype="float32",
                   crs=crs, transform=transform, nodata=float("nan"), compress="deflate", predictor=3,
                   BIGTIFF="IF_SAFER")
    if width >= 256 and height >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    n_valid = 0
    units = None
    with warped_dem(dem_path, crs, transform, width, height, resampling=resampling, offset_px=offset) as (vrt, dem):
        units = dem.units
        scale = derive.vertical_scale_to_m(units)
        to_m = 1.0 if scale is None else scale
        wins = _grid_windows(width, height, window_size)
        with atomic_path(output) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            for win in tqdm(wins, desc="align-dem", unit="window", disable=not progress or len(wins) < 2):
                r0, c0 = int(win.row_off), int(win.col_off)
                hr0, hc0 = max(0, r0 - halo), max(0, c0 - halo)
                hr1, hc1 = min(height, r0 + int(win.height) + halo), min(width, c0 + int(win.width) + halo)
                big = Window(hc0, hr0, hc1 - hc0, hr1 - hr0)
                z = read_aligned(vrt, big)
                inner = (slice(r0 - hr0, r0 - hr0 + int(win.height)), slice(c0 - hc0, c0 - hc0 + int(win.width)))
                elev = z[inner]
                n_valid += int(np.count_nonzero(np.isfinite(elev)))
                dst.write(elev, 1, window=win)
                if derive_layers:
                    layers = _derived_window(z * np.float32(to_m), derive_layers, crs,
                                             window_transform(big, transform), relief_px)
                    for i, arr in enumerate(layers, start=2):
                        dst.write(arr[inner].astype(np.float32), i, window=win)
            dst.descriptions = ("elevation",) + tuple(DESCRIPTIONS[n] for n in derive_layers)
            dst.units = (units or "",) + tuple(UNITS[n] for n in derive_layers)
            dst.update_tags(
                FARMANNOT_DEM=Path(dem_path).name,
                VERTICAL_UNITS=units or "unknown (assumed metres for derivatives)",
                REGISTRATION_APPLIED_DX_PX=f"{offset[0]:.4f}",
                REGISTRATION_APPLIED_DY_PX=f"{offset[1]:.4f}",
            )
    coverage = n_valid / float(width * height)
    report = {
        "dem": str(dem_path),
        "target": str(target_path),
        "output": str(output),
        "crs": crs.to_string(),
        "transform": list(transform)[:6],
        "width": width,
        "height": height,
        "resampling": resampling,
        "coverage": round(coverage, 6),
        "vertical_units": units,
        "vertical_units_assumed": units is None or derive.vertical_scale_to_m(units) is None,
        "vertical_scale_to_m": derive.vertical_scale_to_m(units),
        "bands": ["elevation"] + [DESCRIPTIONS[n] for n in derive_layers],
        "relief_radius_px": relief_px if "relief" in derive_layers else None,
        "registration": None if reg is None else {**reg.to_dict(), "estimated_on": reg_grid},
    }
    return report
