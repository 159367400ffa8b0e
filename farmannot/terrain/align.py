"""Bring a DEM onto an image grid: reproject, resample and crop with rasterio's warper, window by window.

The DEM is opened once and wrapped in a :class:`rasterio.vrt.WarpedVRT` whose grid *is* the target grid
(its CRS, transform, width and height); reading a window of that virtual dataset warps just that window.
Memory therefore follows the window, not the scene: :func:`iter_aligned_windows` streams a scene of any
size, :func:`align_dem` fills one array (a tile, or a scene small enough to hold).

Elevations keep the DEM's vertical units (recorded, never converted) and come back as float32 with NaN
where there is no DEM (outside its extent, its nodata value, its mask).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from farmannot.errors import InputError
from farmannot.io.raster import open_raster

#: Edge of the windows a DEM is aligned in (pixels of the target grid); memory follows it.
WINDOW_PX = 1024

ResamplingName = Literal["bilinear", "cubic", "nearest"]
RESAMPLING: dict[str, Resampling] = {
    "bilinear": Resampling.bilinear,
    "cubic": Resampling.cubic,
    "nearest": Resampling.nearest,
}


@dataclass
class AlignedDEM:
    """A DEM on a target grid.

    Attributes:
        elevation: float32 ``(height, width)``, the DEM's vertical units, NaN where no DEM.
        coverage: fraction (0..1) of target pixels with a valid elevation.
        units: the DEM's vertical unit name as recorded in the file (``None`` when not recorded).
        crs: the target CRS.
        transform: the target grid's affine transform.
        offset_px: the registration shift ``(dx, dy)`` in target pixels applied while warping (0, 0 if none).
    """

    elevation: np.ndarray
    coverage: float
    units: str | None
    crs: CRS
    transform: Affine
    offset_px: tuple[float, float] = (0.0, 0.0)

    @property
    def shape(self) -> tuple[int, int]:
        return self.elevation.shape  # type: ignore[return-value]


@dataclass(frozen=True)
class DEMSource:
    """Header facts of a DEM read once: what the warper and the report need."""

    path: str
    crs: CRS
    nodata: float | None
    units: str | None
    bounds: tuple[float, float, float, float]
    scale: float = 1.0  # elevation = stored value * scale + offset (GDAL band scale/offset)
    offset: float = 0.0


def _as_crs(crs, what: str) -> CRS:
    if crs is None or (isinstance(crs, str) and not crs.strip()):
        raise InputError(f"{what}: no coordinate reference system; assign one (e.g. gdal_edit.py -a_srs EPSG:32613).")
    try:
        out = crs if isinstance(crs, CRS) else CRS.from_user_input(crs)
    except CRSError as exc:
        raise InputError(f"{what}: unknown coordinate reference system {crs!r} ({exc}).") from None
    if not (out.is_geographic or out.is_projected):
        raise InputError(f"{what}: coordinate reference system {out.to_string()!r} is neither geographic nor projected.")
    return out


def _fmt_bounds(b, crs: CRS) -> str:
    return f"({b[0]:.6g}, {b[1]:.6g}, {b[2]:.6g}, {b[3]:.6g}) in {crs.to_string()}"


def grid_bounds(transform: Affine, width: int, height: int) -> tuple[float, float, float, float]:
    """``(left, bottom, right, top)`` of a north-up grid."""
    xs = (transform.c, transform.c + transform.a * width)
    ys = (transform.f, transform.f + transform.e * height)
    return min(xs), min(ys), max(xs), max(ys)


def check_dem(src: rasterio.io.DatasetReader) -> DEMSource:
    """Validate an open DEM (a CRS, one band of data that is not all nodata) and describe it."""
    crs = _as_crs(src.crs, f"{src.name}: DEM")
    try:
        st = os.stat(src.name)
        valid = _any_valid_cached(str(src.name), st.st_mtime_ns, st.st_size)
    except OSError:  # not a plain file (a URL, /vsi path): check without the cache
        valid = _any_valid(src)
    if not valid:
        raise InputError(f"{src.name}: every DEM pixel is nodata (nodata value {src.nodata}); nothing to align.")
    units = src.units[0] if src.units and src.units[0] else None
    scale = float(src.scales[0]) if src.scales and src.scales[0] is not None else 1.0
    offset = float(src.offsets[0]) if src.offsets and src.offsets[0] is not None else 0.0
    return DEMSource(str(src.name), crs, src.nodata, units, tuple(src.bounds), scale, offset)


def _any_valid(src: rasterio.io.DatasetReader) -> bool:
    """Whether band 1 has any valid pixel: a decimated read first (cheap on any size), then every pixel."""
    step = max(1, max(src.width, src.height) // 512)
    shape = (max(1, src.height // step), max(1, src.width // step))
    if np.any((src.read_masks(1, out_shape=shape) > 0) & np.isfinite(src.read(1, out_shape=shape, out_dtype="float32"))):
        return True
    return bool(np.any((src.read_masks(1) > 0) & np.isfinite(src.read(1, out_dtype="float32"))))


@functools.lru_cache(maxsize=64)
def _any_valid_cached(path: str, mtime_ns: int, size: int) -> bool:
    # Per-tile callers open the same DEM hundreds of times: check its pixels once per file version.
    with rasterio.open(path) as src:
        return _any_valid(src)


def check_overlap(dem: DEMSource, dst_crs: CRS, dst_transform: Affine, width: int, height: int) -> bool:
    """Whether the DEM's extent meets the target grid's (both compared in the target CRS)."""
    left, bottom, right, top = grid_bounds(dst_transform, width, height)
    try:
        dl, db, dr, dt = transform_bounds(dem.crs, dst_crs, *dem.bounds, densify_pts=21)
    except Exception:  # a DEM far outside the target projection's area of use cannot be transformed
        return False
    if not all(np.isfinite((dl, db, dr, dt))):
        return False
    return dl < right and dr > left and db < top and dt > bottom


def _no_overlap_error(dem: DEMSource, dst_crs: CRS, dst_transform: Affine, width: int, height: int) -> InputError:
    tb = grid_bounds(dst_transform, width, height)
    try:
        db = transform_bounds(dem.crs, dst_crs, *dem.bounds, densify_pts=21)
        in_target = f" = {_fmt_bounds(db, dst_crs)}"
    except Exception:
        in_target = ""
    return InputError(
        f"{dem.path}: DEM does not overlap the target grid. DEM extent {_fmt_bounds(dem.bounds, dem.crs)}"
        f"{in_target}; target extent {_fmt_bounds(tb, dst_crs)}. Give a DEM that covers the scene."
    )


@contextlib.contextmanager
def warped_dem(
    dem_path: str | os.PathLike,
    dst_crs,
    dst_transform: Affine,
    dst_width: int,
    dst_height: int,
    *,
    resampling: ResamplingName = "bilinear",
    offset_px: tuple[float, float] = (0.0, 0.0),
    allow_empty: bool = False,
) -> Iterator[tuple[WarpedVRT | None, DEMSource]]:
    """Open ``dem_path`` as a virtual dataset on the target grid (checked: CRS, nodata, overlap).

    Yields ``(vrt, dem)``; ``vrt`` is None when the DEM misses the grid and ``allow_empty`` is set.
    ``offset_px = (dx, dy)`` moves the DEM by that many target pixels (right, down) while warping, which is
    how a registration shift is applied without resampling twice.
    """
    if resampling not in RESAMPLING:
        raise InputError(f"resampling must be one of {sorted(RESAMPLING)}, got {resampling!r}.")
    dst_crs = _as_crs(dst_crs, "target grid")
    with open_raster(dem_path) as src:
        dem = check_dem(src)
        if not check_overlap(dem, dst_crs, dst_transform, dst_width, dst_height):
            if allow_empty:
                yield None, dem
                return
            raise _no_overlap_error(dem, dst_crs, dst_transform, dst_width, dst_height)
        dx, dy = offset_px
        # Target pixel (c, r) samples the DEM where the unshifted grid has (c - dx, r - dy).
        warp_transform = dst_transform @ Affine.translation(-dx, -dy)
        with WarpedVRT(
            src,
            crs=dst_crs,
            transform=warp_transform,
            width=dst_width,
            height=dst_height,
            resampling=RESAMPLING[resampling],
            src_nodata=src.nodata,
            nodata=np.nan,
            dtype="float32",
            init_dest_nodata=True,
            tolerance=0.01,
        ) as vrt:
            yield vrt, dem


def read_aligned(vrt: WarpedVRT, window: Window, dem: DEMSource | None = None) -> np.ndarray:
    """One window of the warped DEM as float32, NaN where no DEM, with the DEM's band scale and offset.

    The warper writes NaN wherever it has no source value (outside the DEM, its nodata value, its mask
    band), so one read suffices: reading the warped mask as well would warp the window a second time.
    """
    data = vrt.read(1, window=window, out_dtype="float32")
    if dem is not None and (dem.scale != 1.0 or dem.offset != 0.0):
        data = data * np.float32(dem.scale) + np.float32(dem.offset)
    return data


def iter_aligned_windows(
    dem_path: str | os.PathLike,
    dst_crs,
    dst_transform: Affine,
    dst_width: int,
    dst_height: int,
    *,
    resampling: ResamplingName = "bilinear",
    window_size: int = WINDOW_PX,
    offset_px: tuple[float, float] = (0.0, 0.0),
    allow_empty: bool = False,
) -> Iterator[tuple[Window, np.ndarray]]:
    """Yield ``(window, elevation)`` over the target grid in ``window_size`` blocks, row by row.

    Peak memory is one window (plus GDAL's block cache), whatever the target size.
    """
    wins = _grid_windows(dst_width, dst_height, window_size)
    with warped_dem(dem_path, dst_crs, dst_transform, dst_width, dst_height, resampling=resampling,
                    offset_px=offset_px, allow_empty=allow_empty) as (vrt, dem):
        for win in wins:
            if vrt is None:
                yield win, np.full((int(win.height), int(win.width)), np.nan, dtype=np.float32)
            else:
                yield win, read_aligned(vrt, win, dem)


def _grid_windows(width: int, height: int, size: int) -> list[Window]:
    """Non-overlapping windows of at most ``size`` px covering the grid (unlike tiles, edges are cut short)."""
    if size < 1:
        raise ValueError("window_size must be positive")
    return [
        Window(col, row, min(size, width - col), min(size, height - row))
        for row in range(0, height, size)
        for col in range(0, width, size)
    ]


def align_dem(
    dem_path: str | os.PathLike,
    dst_crs,
    dst_transform: Affine,
    dst_width: int,
    dst_height: int,
    *,
    resampling: ResamplingName = "bilinear",
    window_size: int = WINDOW_PX,
    offset_px: tuple[float, float] = (0.0, 0.0),
    allow_empty: bool = False,
) -> AlignedDEM:
    """Reproject, resample and crop the DEM at ``dem_path`` onto a target grid (a scene or one tile).

    Args:
        dem_path: any raster rasterio reads, band 1 = elevation, with a CRS.
        dst_crs: the target CRS (rasterio CRS, ``"EPSG:32613"``, WKT).
        dst_transform: the target grid's affine transform (for a tile: the scene transform times the tile
            offset, e.g. ``rasterio.windows.transform(window, scene_transform)``).
        dst_width: target columns.
        dst_height: target rows.
        resampling: ``"bilinear"`` (default), ``"cubic"`` or ``"nearest"``.
        window_size: warp this many pixels square at a time.
        offset_px: registration shift ``(dx, dy)`` in target pixels to apply while warping.
        allow_empty: return an all-NaN DEM (coverage 0) instead of raising when the DEM misses the grid
            (useful per tile at the edge of a DEM).

    Returns:
        An :class:`AlignedDEM` on exactly the target grid.

    Raises:
        InputError: unreadable DEM, DEM or target without a usable CRS, all-nodata DEM, no overlap
            (the message gives both extents).
    """
    dst_crs = _as_crs(dst_crs, "target grid")
    out = np.full((dst_height, dst_width), np.nan, dtype=np.float32)
    units = None
    with warped_dem(dem_path, dst_crs, dst_transform, dst_width, dst_height, resampling=resampling,
                    offset_px=offset_px, allow_empty=allow_empty) as (vrt, dem):
        units = dem.units
        if vrt is not None:
            for win in _grid_windows(dst_width, dst_height, window_size):
                r0, c0 = int(win.row_off), int(win.col_off)
                out[r0:r0 + int(win.height), c0:c0 + int(win.width)] = read_aligned(vrt, win, dem)
    coverage = float(np.count_nonzero(np.isfinite(out))) / out.size if out.size else 0.0
    return AlignedDEM(out, coverage, units, dst_crs, dst_transform, tuple(map(float, offset_px)))


def align_dem_to_raster(
    dem_path: str | os.PathLike,
    target_path: str | os.PathLike,
    **kwargs,
) -> AlignedDEM:
    """:func:`align_dem` onto the grid of the raster at ``target_path`` (its CRS, transform and size)."""
    with open_raster(target_path) as tgt:
        crs = _as_crs(tgt.crs, f"{target_path}: target raster")
        return align_dem(dem_path, crs, tgt.transform, tgt.width, tgt.height, **kwargs)


__all__ = [
    "AlignedDEM", "DEMSource", "RESAMPLING", "align_dem", "align_dem_to_raster", "check_dem", "check_overlap",
    "grid_bounds", "iter_aligned_windows", "read_aligned", "warped_dem",
]
