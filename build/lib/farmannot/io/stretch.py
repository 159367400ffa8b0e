"""Display stretch computed once per scene, so neighbouring tiles and views share the same brightness.

Statistics come from a decimated read of the whole scene (at most ``max_side`` px on a side, via the
overviews when the file has them), never from the tile or the view being shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rasterio


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


def scene_stretch(src: rasterio.io.DatasetReader, indexes: list[int], max_side: int = 1024,
                  percentiles: tuple[float, float] = (2.0, 98.0)) -> Stretch:
    """Scene-wide stretch of bands ``indexes`` (1-based) from a decimated read of the whole scene."""
    factor = max(1.0, max(src.width, src.height) / max_side)
    shape = (len(indexes), max(1, int(src.height / factor)), max(1, int(src.width / factor)))
    data = src.read(indexes, out_shape=shape, out_dtype="float32",
                    resampling=rasterio.enums.Resampling.nearest)
    valid = _decimated_valid(src, indexes, data)
    return percentile_stretch(data, valid, percentiles)


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
