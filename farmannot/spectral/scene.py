"""SPIE prompts for whole scenes: tile windows, band reads, one record per (tile, category)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from farmannot.io.grid import SceneGrid
from farmannot.io.raster import check_scene_pixels, open_raster, read_bands, scene_info
from farmannot.io.windows import TILE_SIZE, tile_windows
from farmannot.spectral.indices import CATEGORIES, normalized_difference
from farmannot.spectral.prompt import PromptFormat, category_prompt
from farmannot.spectral.regions import BBoxMode

log = logging.getLogger(__name__)

ALL_CATEGORIES = ("vegetation", "water", "building")


def available_categories(info: SceneGrid, categories: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Split ``categories`` into those the band map allows and the skipped ones with the reason."""
    ok, skipped = [], {}
    for cat in categories:
        need = CATEGORIES[cat].bands
        missing = [b for b in need if b not in info.band_map]
        if missing:
            skipped[cat] = (f"{CATEGORIES[cat].index.upper()} needs bands {'/'.join(need)}; "
                            f"{', '.join(missing)} not in the band map ({info.band_map_source})")
        else:
            ok.append(cat)
    return ok, skipped


def tile_prompts(bands: dict[str, np.ndarray], valid: np.ndarray, categories: Sequence[str],
                 bbox: BBoxMode = "axis", fmt: PromptFormat = "spex") -> list[dict[str, Any]]:
    """Records (without source/window) for one tile already in memory."""
    out = []
    for cat in categories:
        a, b = CATEGORIES[cat].bands
        idx = normalized_difference(bands[a], bands[b], valid)
        out.append(category_prompt(cat, idx, bbox=bbox, fmt=fmt).record(fmt))
    return out


def scene_prompt_records(
    path: str | Path,
    categories: Sequence[str] = ALL_CATEGORIES,
    sensor: str | None = None,
    band_overrides: dict[str, int] | None = None,
    tile_size: int = TILE_SIZE,
    bbox: BBoxMode = "axis",
    fmt: PromptFormat = "spex",
    on_skip=None,
) -> Iterator[dict[str, Any]]:
    """Yield one record per (tile, category) of the scene at ``path``; tiles are read one window at a time.

    ``on_skip(path, category, reason)`` is called once per category the bands do not allow. A scene declaring
    more pixels than :func:`farmannot.io.raster.scene_pixel_limit` is refused before any is read.
    """
    with open_raster(path) as src:
        check_scene_pixels(path, src.width, src.height, "prompts")
        info = scene_info(src, sensor=sensor, bands=band_overrides)
        cats, skipped = available_categories(info, categories)
        for cat, why in skipped.items():
            if on_skip:
                on_skip(path, cat, why)
            log.info("%s: skipping %s: %s", path, cat, why)
        if not cats:
            return
        needed = sorted({b for c in cats for b in CATEGORIES[c].bands})
        for win in tile_windows(info.width, info.height, tile_size):
            bands, valid = read_bands(src, info, needed, window=win)
            for rec in tile_prompts(bands, valid, cats, bbox=bbox, fmt=fmt):
                yield {
                    "source": str(path),
                    "window": [int(win.col_off), int(win.row_off), int(win.width), int(win.height)],
                    "bands": {b: info.band_map[b] for b in needed},
                    **rec,
                }


def window_of(record: dict[str, Any]) -> Window:
    col, row, w, h = record["window"]
    return Window(col, row, w, h)
