"""Display stretch computed once per scene, so neighbouring tiles and views share the same brightness.

Statistics come from a decimated read of the whole scene (at most ``max_side`` px on a side, via the
overviews when the file has them), never from the tile or the view being shown.

Which pixels count (``nodata``): ``"auto"`` takes the file's nodata value, mask or alpha band, and for a
file with none of them a *collar*: a constant fill value (0 or below) that fills most of the scene's edge in
every band (DN 0 around a Landsat L1/L2 scene, whose GeoTIFFs often carry no nodata tag). A number forces that value as
nodata; ``None`` counts every pixel.

:class:`DisplaySettings` is the one value that says how a raster is shown (bands, stretch mode, nodata rule,
percentiles): the annotator's Display dock sets it, and the whole-picture canvas
(:func:`farmannot.sam.imagery.render_picture`) and the large-scene views (:mod:`farmannot.sam.scene_views`)
both read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import rasterio

StretchMode = Literal["auto", "scene", "none"]


@dataclass(frozen=True)
class Stretch:
    """Per-band linear stretch ``(value - low) / (high - low)`` to 0..255, clipped."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    def apply(self, data: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """``data`` (bands, rows, cols) of the bands the stretch was computed for -> uint8 of the same shape."""
        lo = np.asarray(self.low, dtype=np.float32)[:, None, None]
        hi = np.asarray(self.high, dtype=np.float32)[:, None, None]
        scaled = (data.astype(np.float32) - lo) * (255.0 / np.maximum(hi - lo, 1e-12))
        out = np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255).round().astype(np.uint8)
        if valid is not None:
            out[:, ~valid] = 0
        return out

    def to_dict(self) -> dict:
        return {"low": list(self.low), "high": list(self.high)}


def percentile_stretch(data: np.ndarray, valid: np.ndarray | None = None,
                       percentiles: tuple[float, float] = (2.0, 98.0)) -> Stretch:
    """Stretch from percentiles of the valid pixels of ``data`` (bands, rows, cols)."""
    lows, highs = [], []
    for band in data:
        vals = band[valid] if valid is not None else band.ravel()
        vals = vals[np.isfinite(vals)]
        if vals.size == 0:
            lows.append(0.0)
            highs.append(1.0)
            continue
        lo, hi = np.percentile(vals, percentiles)
        if hi <= lo:
            hi = lo + 1.0
        lows.append(float(lo))
        highs.append(float(hi))
    return Stretch(tuple(lows), tuple(highs))


#: Longest side of the decimated whole-scene read the stretch statistics come from.
STRETCH_SIDE_PX = 1024

#: Share of the scene's edge pixels one constant value must fill to count as a collar.
COLLAR_EDGE_SHARE = 0.5


def collar_value(data: np.ndarray) -> float | None:
    """The collar of ``data`` (bands, rows, cols): the value equal in every band on most edge pixels.

    Only a fill value counts: zero or below (0, -9999, ...), and the lowest value of the data (a uniform dark
    or bright background of a synthetic picture is not fill); never one that fills the whole scene or leaves a
    single value. ``None`` when there is no collar.
    """
    if data.ndim != 3 or min(data.shape[1:]) < 2:
        return None
    edge = np.concatenate([data[:, 0, :], data[:, -1, :], data[:, 1:-1, 0], data[:, 1:-1, -1]], axis=1)
    same = np.all(edge == edge[:1], axis=0) & np.isfinite(edge[0])
    if same.sum() < COLLAR_EDGE_SHARE * edge.shape[1]:
        return None
    values, counts = np.unique(edge[0][same], return_counts=True)
    v = values[np.argmax(counts)]
    if counts.max() < COLLAR_EDGE_SHARE * edge.shape[1] or v > 0 or v > np.nanmin(data):
        return None
    filled = np.all(data == v, axis=0)
    if filled.all():
        return None
    rest = data[:, ~filled]
    if not np.any(np.nanmax(rest, axis=1) > np.nanmin(rest, axis=1)):
        return None  # one value left once the fill is out: nothing to stretch, keep the whole range
    return float(v)


def value_valid(data: np.ndarray, value: float) -> np.ndarray:
    """Pixels of ``data`` (bands, rows, cols) not equal to ``value`` in every band, and finite."""
    return ~np.all(data == np.float32(value), axis=0) & np.all(np.isfinite(data), axis=0)


def scene_stretch(src: rasterio.io.DatasetReader, indexes: list[int], max_side: int = STRETCH_SIDE_PX,
                  percentiles: tuple[float, float] = (2.0, 98.0), nodata: float | str | None = "auto") -> Stretch:
    """Scene-wide stretch of bands ``indexes`` (1-based) from a decimated read of the whole scene.

    ``nodata``: ``"auto"`` (the file's nodata, mask or alpha, else a detected collar), a value, or ``None``
    (every pixel counts); see the module text.
    """
    factor = max(1.0, max(src.width, src.height) / max_side)
    shape = (len(indexes), max(1, int(src.height / factor)), max(1, int(src.width / factor)))
    data = src.read(indexes, out_shape=shape, out_dtype="float32",
                    resampling=rasterio.enums.Resampling.nearest)
    return percentile_stretch(data, scene_valid(src, indexes, data, nodata), percentiles)


def scene_valid(src: rasterio.io.DatasetReader, indexes: list[int], data: np.ndarray,
                nodata: float | str | None = "auto") -> np.ndarray | None:
    """Valid pixels of a decimated read ``data`` of bands ``indexes`` (None: all), by the ``nodata`` rule."""
    if nodata is None:
        return None
    if nodata != "auto":
        return value_valid(data, float(nodata))
    valid = _decimated_valid(src, indexes, data)
    if valid is None:
        collar = collar_value(data)
        if collar is not None:
            valid = value_valid(data, collar)
    return valid


def _decimated_valid(src: rasterio.io.DatasetReader, indexes: list[int], data: np.ndarray) -> np.ndarray | None:
    """Valid pixels of a decimated read without reading a full-resolution mask (about 1 byte per scene pixel).

    No mask at all: None. A nodata value: compared on the decimated values. Alpha or internal masks: the
    mask read at the decimated shape.
    """
    flags = [src.mask_flag_enums[i - 1] for i in indexes]
    if all(f == [rasterio.enums.MaskFlags.all_valid] for f in flags):
        return None
    if src.nodata is not None and all(rasterio.enums.MaskFlags.nodata in f for f in flags):
        return ~np.all(data == np.float32(src.nodata), axis=0) & np.all(np.isfinite(data), axis=0)
    masks = src.read_masks(indexes, out_shape=data.shape, resampling=rasterio.enums.Resampling.nearest)
    return np.all(masks > 0, axis=0)


@dataclass(frozen=True)
class DisplaySettings:
    """How a raster is shown to the annotator and to SAM; one value for the canvas and the scene views.

    Attributes:
        bands: 1-based bands shown as red, green, blue (one band: gray); ``None``: true colour from the band map.
        stretch: ``auto`` stretches everything except 8-bit rasters, ``scene`` always stretches, ``none`` shows
            the stored values clipped to 0..255.
        nodata: The rule for pixels left out of the stretch and shown black (see the module text).
        percentiles: Low and high percentile of the scene-wide stretch.
    """

    bands: tuple[int, ...] | None = None
    stretch: StretchMode = "auto"
    nodata: float | str | None = "auto"
    percentiles: tuple[float, float] = (2.0, 98.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bands", tuple(int(b) for b in self.bands) if self.bands else None)
        object.__setattr__(self, "percentiles", (float(self.percentiles[0]), float(self.percentiles[1])))

    def as_stored(self, dtype: str) -> bool:
        """Whether bands of ``dtype`` are shown as stored (no stretch)."""
        return self.stretch == "none" or (self.stretch == "auto" and str(dtype) == "uint8")

    def scene_stretch(self, src: rasterio.io.DatasetReader, indexes: list[int], max_side: int = STRETCH_SIDE_PX) -> Stretch:
        """The shown stretch of bands ``indexes`` of ``src``: :func:`scene_stretch` with these settings, or the
        identity 0..255 when shown as stored."""
        if self.as_stored(src.dtypes[indexes[0] - 1]):
            return Stretch((0.0,) * len(indexes), (255.0,) * len(indexes))
        uniq = list(dict.fromkeys(indexes))
        s = scene_stretch(src, uniq, max_side=max_side, percentiles=self.percentiles, nodata=self.nodata)
        lookup = {b: (lo, hi) for b, lo, hi in zip(uniq, s.low, s.high)}
        return Stretch(tuple(lookup[b][0] for b in indexes), tuple(lookup[b][1] for b in indexes))

    def value_valid(self, data: np.ndarray) -> np.ndarray | None:
        """Pixels of ``data`` (bands, rows, cols) not equal to a nodata *value* the settings force (shown
        black); ``None`` when the rule is ``auto`` or ``None``."""
        if self.nodata is None or self.nodata == "auto":
            return None
        return value_valid(data, float(self.nodata))

    def render_options(self) -> dict:
        """Keyword arguments of :func:`farmannot.sam.imagery.render_picture` for these settings."""
        return {"bands": list(self.bands) if self.bands else None, "stretch": self.stretch, "nodata": self.nodata,
                "percentiles": self.percentiles}
