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
from farmannot.io.raster import check_scene_pixels, open_raster
from farmannot.io.space import check_free_space
from farmannot.terrain import derive
from farmannot.terrain.align import WINDOW_PX, _as_crs, _grid_windows, align_dem, read_aligned, warped_dem
from farmannot.terrain.register import Registration, estimate_offset

DERIVED = ("slope", "aspect", "hillshade", "relief")
DESCRIPTIONS = {"slope": "slope_deg", "aspect": "aspect_deg", "hillshade": "hillshade", "relief": "relief_m"}
UNITS = {"slope": "degree", "aspect": "degree", "hillshade": "", "relief": "metre"}
REGISTRATION_GRID_PX = 1024
#: Deflate's largest possible compression ratio (zlib's documentation: 1032:1): no written GeoTIFF is smaller
#: than its float32 pixels over this, so a disk with less room is certain to fill up.
DEFLATE_MAX_RATIO = 1032
#: Block edge of the written GeoTIFF; the alignment windows are a multiple of it.
BLOCK_PX = 256


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
    z_m = dem.elevation * np.float32(derive.vertical_scale_to_m(dem.units) or 1.0)
    reg = estimate_offset(gray, z_m, rtransform, max_shift_px=max_shift_px / max(sx, sy),
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


def _check_dem_pixels_under(dem_path, target: rasterio.io.DatasetReader) -> None:
    """Refuse a DEM of which more than the scene pixel limit lie under the target's extent (the warp reads them
    all, even onto a coarse grid). Rasters the extent cannot be compared for are left to :func:`align_dem`."""
    from rasterio.warp import transform_bounds
    from rasterio.windows import from_bounds

    with open_raster(dem_path) as src:
        if src.crs is None or target.crs is None:
            return
        try:
            bounds = transform_bounds(target.crs, src.crs, *target.bounds, densify_pts=21)
            win = from_bounds(*bounds, transform=src.transform).intersection(Window(0, 0, src.width, src.height))
        except Exception:  # noqa: BLE001 - no overlap, rotated grids: align_dem says what is wrong
            return
        w, h = math.ceil(win.width), math.ceil(win.height)
        check_scene_pixels(dem_path, w, h, "align-dem", declares="has, under the target's extent,",
                           advice="clip it to the scene and resample it nearer the scene's resolution first "
                                  "(gdalwarp -te ... -tr ...)")


def derived_layers(elevation_m: np.ndarray, layers: Sequence[str], crs, transform: Affine,
                   relief_px: int) -> dict[str, np.ndarray]:
    """The named derivative layers of an elevation grid in metres (float32, NaN nodata), by name."""
    xres, yres = derive.pixel_size_m_rows(crs, transform, elevation_m.shape[0])
    out: dict[str, np.ndarray] = {}
    for name in layers:
        if name == "slope":
            out[name] = derive.slope_degrees(elevation_m, xres, yres)
        elif name == "aspect":
            out[name] = derive.aspect_degrees(elevation_m, xres, yres)
        elif name == "hillshade":
            out[name] = derive.hillshade(elevation_m, xres, yres)
        elif name == "relief":
            out[name] = derive.local_relief(elevation_m, relief_px)
        else:
            raise ValueError(f"unknown derived layer {name!r}; choose from {DERIVED}")
    return out


def _halo(win: Window, width: int, height: int, halo: int) -> tuple[Window, tuple[slice, slice]]:
    """``win`` grown by ``halo`` px (clipped to the grid) and the slices of ``win`` inside it."""
    r0, c0, h, w = int(win.row_off), int(win.col_off), int(win.height), int(win.width)
    hr0, hc0 = max(0, r0 - halo), max(0, c0 - halo)
    hr1, hc1 = min(height, r0 + h + halo), min(width, c0 + w + halo)
    return Window(hc0, hr0, hc1 - hc0, hr1 - hr0), (slice(r0 - hr0, r0 - hr0 + h), slice(c0 - hc0, c0 - hc0 + w))


def _relief_and_halo(crs, transform: Affine, height: int, layers: Sequence[str], relief_radius_m: float):
    xres, yres = derive.pixel_size_m(crs, transform, height)
    relief_px = derive.relief_radius_px(xres, yres, relief_radius_m)
    halo = (relief_px if "relief" in layers else 1) if layers else 0
    return relief_px, halo


def tile_terrain(
    dem_path: str | os.PathLike,
    scene_crs,
    scene_transform: Affine,
    scene_shape: tuple[int, int],
    window: Window,
    *,
    layers: Sequence[str] = DERIVED,
    offset_px: tuple[float, float] = (0.0, 0.0),
    relief_radius_m: float = 50.0,
    resampling: str = "bilinear",
    allow_empty: bool = True,
) -> dict[str, np.ndarray | float | str | None]:
    """Elevation and derivative layers for one tile ``window`` of a scene, as ``align-dem`` writes them.

    The tile is warped with the same halo the scene writer uses, so its derivatives match the same window
    of the scene product (no edge effects at tile borders). Pass the scene's
    ``Registration.applied_offset`` as ``offset_px``.

    Returns:
        ``{"elevation": ..., <layer>: ..., "coverage": float, "units": str | None}`` with float32 arrays of
        the window's shape (NaN nodata).
    """
    height, width = scene_shape
    crs = _as_crs(scene_crs, "scene grid")
    relief_px, halo = _relief_and_halo(crs, scene_transform, height, layers, relief_radius_m)
    big, inner = _halo(window, width, height, halo)
    big_tr = window_transform(big, scene_transform)
    aligned = align_dem(dem_path, crs, big_tr, int(big.width), int(big.height), resampling=resampling,
                        offset_px=offset_px, allow_empty=allow_empty)
    scale = derive.vertical_scale_to_m(aligned.units) or 1.0
    out: dict = {"elevation": aligned.elevation[inner]}
    for name, arr in derived_layers(aligned.elevation * np.float32(scale), layers, crs, big_tr, relief_px).items():
        out[name] = arr[inner]
    out["coverage"] = float(np.isfinite(out["elevation"]).mean())
    out["units"] = aligned.units
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
    window_size: int = WINDOW_PX,
    progress: bool = False,
) -> dict:
    """Align the DEM to the target raster's grid, optionally register and derive, and write ``output``.

    Returns the report (a JSON-ready dict): coverage, vertical units, the registration (both stages, the
    confidence, whether applied), the bands written.
    """
    window_size = max(BLOCK_PX, (window_size // BLOCK_PX) * BLOCK_PX)
    out_abs = Path(output).resolve()
    if out_abs in (Path(dem_path).resolve(), Path(target_path).resolve()):
        raise InputError(f"{output}: the output would overwrite an input; choose another --output path.")
    with open_raster(target_path) as tgt:
        check_scene_pixels(target_path, tgt.width, tgt.height, "align-dem (its grid is the output's)")
        crs = _as_crs(tgt.crs, f"{target_path}: target raster")
        transform, width, height = tgt.transform, tgt.width, tgt.height
        _check_dem_pixels_under(dem_path, tgt)
        n_bands = 1 + len(derive_layers)
        check_free_space(output, width * height * n_bands * 4 // DEFLATE_MAX_RATIO,
                         f"a {width} x {height} px, {n_bands}-band float32 GeoTIFF (deflate-compressed at most "
                         f"{DEFLATE_MAX_RATIO}:1)")
        reg, reg_grid = (None, None)
        if register:
            reg, reg_grid = register_to_image(dem_path, tgt, resampling=resampling, max_shift_px=max_shift_px)
    offset = reg.applied_offset if reg else (0.0, 0.0)

    relief_px, halo = _relief_and_halo(crs, transform, height, derive_layers, relief_radius_m)

    profile = dict(driver="GTiff", width=width, height=height, count=1 + len(derive_layers), dtype="float32",
                   crs=crs, transform=transform, nodata=float("nan"), compress="deflate", predictor=3,
                   BIGTIFF="IF_SAFER")
    if width >= BLOCK_PX and height >= BLOCK_PX:
        profile.update(tiled=True, blockxsize=BLOCK_PX, blockysize=BLOCK_PX)
    n_valid = 0
    units = None
    with warped_dem(dem_path, crs, transform, width, height, resampling=resampling, offset_px=offset) as (vrt, dem):
        units = dem.units
        scale = derive.vertical_scale_to_m(units)
        to_m = 1.0 if scale is None else scale
        wins = _grid_windows(width, height, window_size)
        with atomic_path(output) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            for win in tqdm(wins, desc="align-dem", unit="window", disable=not progress or len(wins) < 2):
                big, inner = _halo(win, width, height, halo)
                z = read_aligned(vrt, big, dem)
                elev = z[inner]
                n_valid += int(np.count_nonzero(np.isfinite(elev)))
                dst.write(elev, 1, window=win)
                if derive_layers:
                    layers = derived_layers(z * np.float32(to_m), derive_layers, crs,
                                            window_transform(big, transform), relief_px)
                    for i, name in enumerate(derive_layers, start=2):
                        dst.write(layers[name][inner].astype(np.float32), i, window=win)
            dst.descriptions = ("elevation",) + tuple(DESCRIPTIONS[n] for n in derive_layers)
            dst.units = (units or "",) + tuple(UNITS[n] for n in derive_layers)
            dst.update_tags(
                FARMANNOT_DEM=Path(dem_path).name,
                VERTICAL_UNITS=units or "unknown (assumed metres for derivatives)",
                REGISTRATION_APPLIED_DX_PX=f"{offset[0]:.6f}",
                REGISTRATION_APPLIED_DY_PX=f"{offset[1]:.6f}",
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
