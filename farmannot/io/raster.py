"""Reading scenes: open a raster with a clear error, read named bands by window, nodata as NaN.

Everything returns plain numpy arrays; the spectral, caption and dataset code never touch rasterio.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from farmannot.errors import InputError
from farmannot.io.bands import SENSOR_PRESETS, resolve_band_map
from farmannot.io.grid import SceneGrid

#: GDAL's block cache for a scene's windowed reads, at most and at least (MB): what they need in between
#: (:func:`read_cache_mb`).
GDAL_CACHE_MB = 48
GDAL_CACHE_MIN_MB = 8


def read_cache_mb(src: rasterio.io.DatasetReader, width: int, height: int) -> int:
    """The block cache (MB) for reading an open raster in rows of ``width`` x ``height`` px windows: the blocks
    under one such row and the next row of blocks (windows not on block edges share them with the windows beside
    and below), or one row of blocks across the raster (a decimated read of the whole), whichever is larger, and
    half as much again: a cache just short of a row of blocks decodes each block again for every row read
    (measured: 151 s instead of 4 s for the display stretch of a 6,144 px scene). GDAL fills its cache before it
    drops a block, so the cap is kept between :data:`GDAL_CACHE_MIN_MB` and :data:`GDAL_CACHE_MB`."""
    bh, bw = src.block_shapes[0]
    per_px = sum(np.dtype(d).itemsize for d in src.dtypes)
    cols = min(src.width, (-(-min(src.width, width) // bw) + 1) * bw)
    rows = min(src.height, (-(-height // bh) + 1) * bh)
    need = max(cols * rows, src.width * min(bh, src.height)) * per_px * 3 // 2
    return int(min(GDAL_CACHE_MB, max(GDAL_CACHE_MIN_MB, -(-need // (1 << 20)))))


def block_cache(mb: int) -> rasterio.Env:
    """A GDAL block cache of ``mb`` MB for the reads inside it. ``rasterio.Env(GDAL_CACHEMAX=...)`` hands an
    integer to ``GDALSetCacheMax64``, which counts bytes (``GDAL_CACHEMAX=128`` is a 128-byte cache: every block
    decoded again for each row read), so the size is converted here, once."""
    return rasterio.Env(GDAL_CACHEMAX=int(mb) * 1024 * 1024)


SCENE_PIXELS_ENV = "FARMANNOT_MAX_SCENE_PIXELS"
#: Pixels a whole-scene command (``prompts``, ``align-dem``, ``propose``) takes on by default: a Gaofen-2
#: fused scene (about 800 Mpx) fits, a tiled, compressed GeoTIFF of a few megabytes declaring 40 Gpx does not.
DEFAULT_MAX_SCENE_PIXELS = 1_000_000_000


def scene_pixel_limit() -> int:
    """Pixels one scene may declare for the commands that read or allocate per scene (0: no limit): a file of a
    few megabytes (tiled, compressed, one block written) can declare 200,000 x 200,000 px and keep them busy for
    hours. Default :data:`DEFAULT_MAX_SCENE_PIXELS`; setting ``$FARMANNOT_MAX_SCENE_PIXELS``."""
    raw = os.environ.get(SCENE_PIXELS_ENV, "").strip()
    try:
        return int(float(raw)) if raw else DEFAULT_MAX_SCENE_PIXELS
    except ValueError:
        raise InputError(f"${SCENE_PIXELS_ENV}: expected a number of pixels, got {raw!r}.") from None


def check_scene_pixels(path: str | os.PathLike, width: int, height: int, what: str,
                       advice: str = "crop or split it first (gdal_translate -srcwin, gdal_retile.py)",
                       declares: str = "declares") -> None:
    """Refuse, from the header alone, a raster of more than :func:`scene_pixel_limit` pixels for ``what``.

    Raises:
        InputError: one line naming the file, its declared size, the limit and what to do.
    """
    limit = scene_pixel_limit()
    n = int(width) * int(height)
    if limit and n > limit:
        raise InputError(f"{path}: {declares} {int(width):,} x {int(height):,} px ({n:,} px), over the limit of "
                         f"{limit:,} px per scene for {what}; {advice}, or raise ${SCENE_PIXELS_ENV}.")


@contextlib.contextmanager
def quiet_without_crs(crs=None) -> Iterator[None]:
    """rasterio's ``NotGeoreferencedWarning`` left out where no CRS is expected (a PNG/JPEG scene, and the tiles
    and predictions made from it): no news to the user, and it would print a source line on the terminal."""
    with warnings.catch_warnings():
        if crs is None:
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
        yield


@contextlib.contextmanager
def open_raster(path: str | os.PathLike) -> Iterator[rasterio.io.DatasetReader]:
    """Open ``path`` with rasterio, turning every failure (and complex-valued pixels) into one clear
    :class:`InputError`."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path.")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a raster file (GeoTIFF, PNG, JPEG).")
    try:
        with quiet_without_crs():
            src = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"{path}: not a readable raster ({exc}); give a GeoTIFF, PNG or JPEG.") from None
    with src:
        if src.width < 1 or src.height < 1 or src.count < 1:
            raise InputError(f"{path}: raster has no pixels or no bands.")
        if any(np.dtype(d).kind == "c" for d in src.dtypes):
            raise InputError(f"{path}: its pixels are complex numbers ({src.dtypes[0]}, e.g. radar phase), not image "
                             "bands; convert them to real values first (e.g. their amplitude, or gdal_translate -ot "
                             "Float32).")
        yield src


def scene_info(
    src: rasterio.io.DatasetReader,
    sensor: str | None = None,
    bands: dict[str, int] | None = None,
) -> SceneGrid:
    """Header facts and the resolved band map of an open raster, as a :class:`farmannot.io.grid.SceneGrid`."""
    bmap, how = resolve_band_map(src.count, src.descriptions, sensor=sensor, bands=bands, source=str(src.name))
    preset = SENSOR_PRESETS.get(sensor) if sensor else None
    return SceneGrid(
        path=Path(src.name),
        width=src.width,
        height=src.height,
        count=src.count,
        dtype=src.dtypes[0],
        crs=src.crs.to_string() if src.crs else None,
        transform=tuple(src.transform)[:6],
        nodata=src.nodata,
        descriptions=tuple(src.descriptions),
        band_map=bmap,
        band_map_source=how,
        scale=preset.scale if preset else None,
        offset=preset.offset if preset else 0.0,
    )


def read_bands(
    src: rasterio.io.DatasetReader,
    info: SceneGrid,
    names: Sequence[str],
    window: Window | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Read the named bands of ``window`` as float32 (reflectance when the preset defines a scale).

    Returns:
        ``(bands, valid)``: ``bands[name]`` is a float32 array with NaN where invalid, ``valid`` a bool array
        that is False where any requested band is nodata (nodata value, internal mask, alpha) or not finite.
    """
    missing = [n for n in names if n not in info.band_map]
    if missing:
        raise InputError(f"{info.path}: band(s) {missing} not in the band map {info.band_map}.")
    idx = [info.band_map[n] for n in names]
    data = src.read(idx, window=window, out_dtype="float32")
    valid = np.ones(data.shape[1:], dtype=bool)
    if info.nodata is not None or src.mask_flag_enums[idx[0] - 1] != [rasterio.enums.MaskFlags.all_valid]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NodataShadowWarning)
            masks = src.read_masks(idx, window=window)
        valid &= np.all(masks > 0, axis=0)
    valid &= np.all(np.isfinite(data), axis=0)
    if info.scale is not None:
        data = data * np.float32(info.scale) + np.float32(info.offset)
    data[:, ~valid] = np.nan
    return {n: data[i] for i, n in enumerate(names)}, valid


def read_window_all(src: rasterio.io.DatasetReader, window: Window | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All bands of ``window`` in the file's dtype, ``(bands, rows, cols)``, and the valid-pixel mask (False where
    the file's mask says nodata, and, for float rasters, where any band is NaN or infinite)."""
    return read_window_bands(src, range(1, src.count + 1), window)


def read_window_bands(src: rasterio.io.DatasetReader, indexes: Sequence[int],
                      window: Window | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bands ``indexes`` (1-based, in that order, repeats allowed) of ``window`` in the file's dtype and the
    valid-pixel mask of :func:`read_window_all`, reading each band once.

    The mask is the scene's, not the bands': the dataset mask (rasterio's ``dataset_mask``: an internal mask or
    alpha, else any band holding data), and for float rasters every band finite, so there the bands not asked
    for are read too, for their NaNs only.
    """
    wanted = sorted(set(indexes))
    data = src.read(wanted, window=window)
    valid = src.dataset_mask(window=window) > 0
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.isfinite(data).all(axis=0)
        for i in sorted(set(range(1, src.count + 1)) - set(wanted)):
            valid &= np.isfinite(src.read(i, window=window))
    at = {band: k for k, band in enumerate(wanted)}
    order = [at[i] for i in indexes]
    return (data if order == list(range(len(wanted))) else data[order]), valid
