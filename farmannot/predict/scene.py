"""Predict a whole scene to a GeoTIFF: windowed reads, sliding windows, windowed writes (memory flat)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window
from tqdm import tqdm

from farmannot.io.atomic import atomic_path
from farmannot.io.raster import block_cache, open_raster, quiet_without_crs, read_window_bands
from farmannot.predict.sliding import PredictFn, SlidingPlan, sliding_predict

GDAL_CACHE_MB = 128
#: Default edge and overlap of the prediction patches (pixels).
PATCH = 1024
PATCH_OVERLAP = 64

# Input preparation of each patch read: raw (C, h, w) float32 (NaN as 0) and the valid-pixel mask as
# build-dataset's tiles have it -> (C, h, w) model input.
Normalise = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class PredictionReport:
    path: Path
    width: int
    height: int
    patches: int
    band_descriptions: tuple[str, ...]
    parcel_fraction: float


def predict_scene(
    scene: str | os.PathLike,
    output: str | os.PathLike,
    predict: PredictFn,
    output_names: Sequence[str],
    *,
    band_indexes: Sequence[int],
    normalise: Normalise,
    patch: int = PATCH,
    overlap: int = PATCH_OVERLAP,
    batch_size: int = 4,
    threshold: float = 0.5,
    progress: bool = True,
    extra: Callable[..., np.ndarray] | None = None,
    classify: str = "threshold",
) -> PredictionReport:
    """Write ``output``: one float32 band per model output (probabilities) plus a ``class`` band.

    Args:
        scene: input raster; ``band_indexes`` (1-based) are the model's input bands in order.
        normalise: ``normalise(data, valid)``: raw values of ``band_indexes`` (NaN as 0) and the pixels
            ``build-dataset`` counts as valid (the dataset mask, every band finite) -> model input, e.g.
            :meth:`farmannot.train.scene_input.ScenePreprocess.apply`.
        predict: batch of normalised patches -> probabilities ``(N, K, h, w)``; output 0 is the parcel class.
        output_names: names of the K outputs, used as band descriptions (e.g. ``parcel_probability``).
        threshold: parcel probability at or above which ``class`` is 1.
        extra: ``extra(window_transform, width, height) -> (K, h, w)`` channels appended to each patch
            after normalisation (the aligned DEM of DEM models).
        classify: ``threshold`` (``class`` = 1 where output 0 >= ``threshold``) or ``argmax`` (``class`` =
            1-based index of the largest output: open-vocabulary class maps).

    The output has the scene's CRS, transform, width and height; nodata pixels of the scene are NaN in
    every band. Written to a temporary name, renamed at the end.
    """
    # GDAL's block cache defaults to 5 % of RAM; windowed reads and writes need little of it.
    with block_cache(GDAL_CACHE_MB), open_raster(scene) as src:
        plan = SlidingPlan.make(src.width, src.height, patch, overlap)
        profile = {
            "driver": "GTiff", "width": src.width, "height": src.height, "count": len(output_names) + 1,
            "dtype": "float32", "crs": src.crs, "transform": src.transform, "nodata": float("nan"),
            "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
            "BIGTIFF": "IF_SAFER",
        }
        idx = list(band_indexes)
        bands = sorted(set(idx))  # each band's mask once

        def read(win: Window) -> tuple[np.ndarray, np.ndarray]:
            # only the input bands, and the validity rule of the dataset's tiles
            raw, input_valid = read_window_bands(src, idx, win)
            data = raw.astype(np.float32)
            valid = np.all(src.read_masks(bands, window=win) > 0, axis=0) & np.all(np.isfinite(data), axis=0)
            x = normalise(np.nan_to_num(data, nan=0.0), input_valid).astype(np.float32, copy=False)
            if extra is not None:
                more = extra(src.window_transform(win), int(win.width), int(win.height))
                x = np.concatenate([x, more.astype(np.float32)], axis=0)
            return x, valid

        counts = {"parcel": 0, "valid": 0}
        descriptions = tuple(output_names) + ("class",)
        with atomic_path(output) as tmp, _create(tmp, profile) as dst:
            dst.descriptions = descriptions

            def write_rows(row: int, rows: np.ndarray, valid: np.ndarray) -> None:
                n = rows.shape[1]
                win = Window(0, row, plan.width, n)
                label = (rows.argmax(axis=0) + 1) if classify == "argmax" else (rows[0] >= threshold)
                cls = np.where(valid, label.astype(np.float32), np.nan)
                dst.write(np.concatenate([rows, cls[None]], axis=0), window=win)
                counts["parcel"] += int(np.count_nonzero(cls == 1))
                counts["valid"] += int(np.count_nonzero(valid))

            with tqdm(total=plan.n_patches, desc="patches", unit="patch", disable=not progress) as bar:
                sliding_predict(plan, read, predict, write_rows, len(output_names), batch_size, bar.update)
    return PredictionReport(Path(output), plan.width, plan.height, plan.n_patches, descriptions,
                            counts["parcel"] / max(counts["valid"], 1))


def _create(path, profile: dict):
    """The output raster, opened for writing (a PNG/JPEG scene's prediction has no CRS either)."""
    with quiet_without_crs(profile.get("crs")):
        return rasterio.open(path, "w", **profile)
