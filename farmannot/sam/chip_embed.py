"""One definition of a scene chip's SAM picture, shared by propose, propose --points, precompute and the annotator.

A chip of a scene is shown to SAM as its display bands (true colour from the band mapping) with the
*scene-wide* stretch (:func:`chip_picture`); its embedding is cached under
:meth:`farmannot.sam.session.SamSession.key_for`, the one key every command uses: the chip pixels' digest,
the model (family, configuration, checkpoint hash) and the encoder input size. The parts that decide the
pixels (:func:`chip_key_parts`: scene, window, bands, stretch) are stored beside each entry. ``farmannot
propose`` (and ``--points``), ``farmannot precompute-embeddings`` and a SAM click in a scene view of
``farmannot annotate`` all build their chips here, so a cache filled by one is hit by the others.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import MaskFlags
from rasterio.windows import Window

from farmannot.io.bands import display_bands
from farmannot.io.stretch import STRETCH_SIDE_PX, DisplaySettings, Stretch, scene_stretch
from farmannot.sam.cache import Embedding
from farmannot.sam.chips import CHIP_OVERLAP, CHIP_SIZE
from farmannot.sam.session import SamSession

#: Scenes with a side longer than this are embedded per chip (and open as a grid of views in the annotator).
LARGE_SCENE_PX = 8192


def is_large(width: int, height: int, threshold: int = LARGE_SCENE_PX) -> bool:
    """Whether a ``width`` x ``height`` scene is handled per chip rather than as one picture."""
    return max(width, height) > threshold


@dataclass(frozen=True)
class ChipDisplay:
    """How chips of one scene are rendered: display bands (1-based) and the scene-wide stretch."""

    scene: str
    bands: list[int]
    stretch: Stretch


def all_valid(src: rasterio.io.DatasetReader) -> bool:
    """True when the raster has no nodata value, mask or alpha band (every pixel is valid)."""
    return all(MaskFlags.all_valid in flags for flags in src.mask_flag_enums)


def display_stretch(src: rasterio.io.DatasetReader, bands: list[int], max_side: int = STRETCH_SIDE_PX,
                    settings: DisplaySettings | None = None) -> Stretch:
    """The scene-wide stretch chips and views of ``bands`` are shown with: ``settings`` (the annotator's
    display choice; default: :func:`farmannot.io.stretch.scene_stretch` of ``bands``, a detected collar such as
    Landsat's DN 0 left out).

    A chip is stretched under ``auto`` even when 8-bit (the whole-picture canvas shows 8-bit as stored):
    ``propose`` and ``precompute-embeddings`` embed stretched chips, and the default settings must give the
    same pixels, hence the same cache keys.
    """
    if settings is None:
        return scene_stretch(src, bands, max_side=max_side)
    if settings.stretch == "auto":  # chips are stretched whatever their type, as propose embeds them
        settings = dataclasses.replace(settings, stretch="scene")
    return settings.scene_stretch(src, bands, max_side=max_side)


def chip_display(src: rasterio.io.DatasetReader, band_map: dict[str, int] | None = None,
                 settings: DisplaySettings | None = None) -> ChipDisplay:
    """Display bands (``settings.bands``, else true colour from ``band_map``) and the scene-wide stretch of an
    open scene."""
    bands = list(settings.bands) if settings is not None and settings.bands else None
    if bands is None:
        bands = display_bands(src.count, band_map)
    elif len(bands) == 1:
        bands = bands * 3
    return ChipDisplay(Path(src.name).name, bands, display_stretch(src, bands, settings=settings))


def window_list(window: Window) -> list[int]:
    return [int(window.col_off), int(window.row_off), int(window.width), int(window.height)]


def chip_picture(src: rasterio.io.DatasetReader, window: Window, bands: list[int], stretch: Stretch,
                 size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The chip's RGB picture (rows, cols, 3) uint8 and its valid-pixel mask.

    Args:
        size: Read the window resampled so its longer side is ``size`` px (a downsampled chip); ``None``
            reads it at native resolution.
    """
    if size is not None and size != max(int(window.width), int(window.height)):
        f = size / max(float(window.width), float(window.height))
        shape = (max(1, round(float(window.height) * f)), max(1, round(float(window.width) * f)))
        data = src.read(bands, window=window, out_shape=(len(bands), *shape),
                        resampling=rasterio.enums.Resampling.average)
        valid = src.dataset_mask(window=window, out_shape=shape, resampling=rasterio.enums.Resampling.nearest) > 0
    else:
        data = src.read(bands, window=window)
        valid = src.dataset_mask(window=window) > 0
    return np.ascontiguousarray(np.moveaxis(stretch.apply(data, valid), 0, -1)), valid


def chip_key_parts(scene: str, window: Window, bands: list[int], stretch: Stretch,
                   size: int | None = None) -> dict:
    """The scene-scale parts of a chip's cache key (the session adds image digest, model and input size).

    ``size`` is recorded only for a downsampled chip, so native chips keep the keys ``propose`` made.
    """
    parts = {"scene": str(scene), "window": window_list(window), "bands": list(bands),
             "stretch": stretch.to_dict()}
    if size is not None and size != max(int(window.width), int(window.height)):
        parts["size"] = int(size)
    return parts


@dataclass
class ChipEmbedding:
    rgb: np.ndarray
    valid: np.ndarray
    key: str
    parts: dict


def chip_for_sam(session: SamSession, src: rasterio.io.DatasetReader, display: ChipDisplay, window: Window,
                 size: int | None = None) -> ChipEmbedding:
    """The chip's picture, valid mask and cache key (nothing computed)."""
    rgb, valid = chip_picture(src, window, display.bands, display.stretch, size)
    parts = chip_key_parts(display.scene, window, display.bands, display.stretch, size)
    return ChipEmbedding(rgb, valid, session.key_for(rgb), session.key_parts(rgb, **parts))


def embed_chip(session: SamSession, chip: ChipEmbedding) -> tuple[Embedding, bool]:
    """The chip's embedding from the cache, else computed and stored; ``(embedding, hit)``."""
    return session.embed(chip.rgb, key=chip.key, parts=chip.parts)


def precompute_chips(scene: str | os.PathLike, session: SamSession, chip: int = CHIP_SIZE, overlap: int = CHIP_OVERLAP,
                     sensor: str | None = None, band_map: dict[str, int] | None = None,
                     on_chip: Callable[[bool], None] | None = None) -> tuple[int, int]:
    """Fill the cache with every chip of ``scene`` (the grid ``propose`` uses); ``(computed, hits)``."""
    from farmannot.io.raster import block_cache, open_raster, scene_info
    from farmannot.sam.chips import chip_grid

    computed = hits = 0
    # GDAL's default cache is 5 % of RAM
    with block_cache(128), open_raster(scene) as src:
        display = chip_display(src, scene_info(src, sensor=sensor, bands=band_map).band_map)
        for win in chip_grid(src.width, src.height, chip, overlap):
            _, hit = embed_chip(session, chip_for_sam(session, src, display, win))
            hits += int(hit)
            computed += int(not hit)
            if on_chip:
                on_chip(hit)
    return computed, hits

