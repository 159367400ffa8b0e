"""The 8-bit RGB picture of an image file that the annotator sees and SAM embeds (one function for both).

The GUI shows exactly these pixels and ``precompute-embeddings`` embeds exactly these pixels, so their cache
keys agree. PNG/JPEG are decoded by Pillow (EXIF orientation applied, as labelme does). Rasters (GeoTIFF
and other GDAL formats, any band count, any dtype) are read with rasterio: three display bands (true
colour by default, from the band map) stretched with one scene-wide stretch
(:func:`farmannot.io.stretch.scene_stretch`), never per view; nodata shows black.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from farmannot.errors import FarmannotError, InputError
from farmannot.io.bands import display_bands
from farmannot.io.stretch import DisplaySettings, StretchMode

#: Decoded by Pillow; everything else goes through rasterio.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
#: Refuse to render more pixels than this in one picture (the GUI holds it in memory several times).
MAX_PIXELS = 12_000 * 12_000



@dataclass
class Picture:
    """An RGB rendering of an image file and how it was made.

    Attributes:
        rgb: ``(rows, cols, 3)`` uint8.
        bands: 1-based band numbers shown as R, G, B (``[]`` for PNG/JPEG).
        band_names: Their names from the band map where known.
        stretch: ``{"low": [...], "high": [...]}`` per shown band, or ``None`` when shown as stored.
        georef: ``{"crs": ..., "transform": [a, b, c, d, e, f]}`` of the raster, or ``None``.
        band_count: Bands in the file.
    """

    rgb: np.ndarray
    bands: list[int] = field(default_factory=list)
    band_names: list[str] = field(default_factory=list)
    stretch: dict | None = None
    georef: dict | None = None
    band_count: int = 3

    def render_parts(self) -> dict:
        """What the pixels depend on besides the file (for cache keys and the annotation record)."""
        return {"bands": self.bands, "stretch": self.stretch}


def is_raster_path(path: str | os.PathLike) -> bool:
    """True for files farmannot renders itself (GeoTIFF etc.), False for plain pictures labelme decodes."""
    return Path(path).suffix.lower() not in PICTURE_SUFFIXES


def _picture_rgb(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path}: not a readable image ({exc}).") from None


def render_picture(path: str | os.PathLike, bands: list[int] | None = None, stretch: StretchMode = "auto",
                   sensor: str | None = None, band_map: dict[str, int] | None = None,
                   nodata: float | str | None = "auto", percentiles: tuple[float, float] = (2.0, 98.0)) -> Picture:
    """Render ``path`` as the RGB picture shown to the annotator and to SAM.

    Args:
        path: PNG/JPEG or any raster rasterio opens.
        bands: 1-based band numbers for R, G, B (one number shows that band as gray); default true colour.
        stretch: ``auto`` stretches everything except 8-bit rasters, ``scene`` always stretches (2-98 %
            of the whole scene), ``none`` shows the stored values clipped to 0..255.
        sensor: Band preset name (see ``farmannot.io.bands``) to find red/green/blue.
        band_map: Explicit band map (wins over ``sensor`` and band descriptions).
        nodata: which pixels the stretch ignores and shows black: ``"auto"`` (the file's nodata/mask, else a
            detected constant collar), a value, or ``None`` (see :mod:`farmannot.io.stretch`).
        percentiles: low and high percentile of the stretch.

    Raises:
        InputError: unreadable file, band numbers out of range, or a picture too large to show.
    """
    path = Path(path)
    if not is_raster_path(path):
        if bands:
            raise InputError(f"{path}: band choice applies to rasters (GeoTIFF), not to PNG/JPEG.")
        return Picture(rgb=_picture_rgb(path))

    from farmannot.io.bands import resolve_band_map
    from farmannot.io.raster import open_raster

    with open_raster(path) as src:
        if src.width * src.height > MAX_PIXELS:
            raise InputError(f"{path}: {src.width} x {src.height} px is too large to show whole; cut it into "
                             "scenes of at most 12000 x 12000 px (gdal_translate -srcwin) first.")
        try:
            bmap, _ = resolve_band_map(src.count, src.descriptions, sensor=sensor, bands=band_map, source=str(path))
        except FarmannotError:
            bmap = {}
        if bands:
            if len(bands) == 1:
                bands = list(bands) * 3
            bad = [b for b in bands if not 1 <= b <= src.count]
            if len(bands) != 3 or bad:
                raise InputError(f"{path}: display bands {bands} invalid; give 1 or 3 band numbers in "
                                 f"1..{src.count}.")
        else:
            bands = display_bands(src.count, bmap)
        settings = DisplaySettings(bands, stretch, nodata, percentiles)  # the same rule as the scene views
        data = src.read(bands, out_dtype="float32")
        valid = src.dataset_mask() > 0
        forced = settings.value_valid(data)
        if forced is not None:
            valid &= forced
        full = settings.scene_stretch(src, bands)
        st = None if settings.as_stored(src.dtypes[bands[0] - 1]) else full.to_dict()
        rgb = full.apply(data, valid)
        names_by_index = {v: k for k, v in bmap.items()}
        georef = None
        if src.crs is not None or not src.transform.is_identity:
            georef = {"crs": src.crs.to_string() if src.crs else None, "transform": list(src.transform)[:6]}
        return Picture(
            rgb=np.ascontiguousarray(np.moveaxis(rgb, 0, -1)),
            bands=list(bands),
            band_names=[names_by_index.get(b, f"band{b}") for b in bands],
            stretch=st,
            georef=georef,
            band_count=src.count,
        )


def band_labels(path: str | os.PathLike, sensor: str | None = None) -> list[str]:
    """``["1 red", "2 green", ...]`` for a band chooser (empty for PNG/JPEG)."""
    if not is_raster_path(path):
        return []
    from farmannot.io.bands import resolve_band_map
    from farmannot.io.raster import open_raster

    with open_raster(path) as src:
        try:
            bmap, _ = resolve_band_map(src.count, src.descriptions, sensor=sensor, source=str(path))
        except FarmannotError:
            bmap = {}
        names = {v: k for k, v in bmap.items()}
        return [f"{i} {names.get(i, src.descriptions[i - 1] or '')}".strip() for i in range(1, src.count + 1)]
