"""One tile's arrays and georeferencing, encoded once and placed by every layout that wants them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from farmannot.dataset.layouts.encode import georeferenced_png, geotiff_bytes

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def region_folder(region: str) -> str:
    """A region name as one folder name: path separators and characters Windows refuses become ``_``."""
    name = _UNSAFE.sub("_", str(region)).strip()
    return "_" + name if name in ("", ".", "..") else name


@dataclass
class SpieSample:
    """One SPIE category of a tile: the ground-truth extraction map, the Otsu spectral prior, the text.

    Attributes:
        category: ``vegetation``, ``water`` or ``building``.
        gt: binary map of the annotated labels of this category (None when the project labels none).
        prior: the Otsu mask of the category's spectral index (the prompt's spectral prior).
        instruction, response, regions: the SPIE text and the region attributes.
    """

    category: str
    gt: np.ndarray | None
    prior: np.ndarray
    instruction: str
    response: str
    regions: list[dict]


@dataclass
class Tile:
    """Everything the layouts write for one tile.

    Attributes:
        name: ``{scene}_{row_off}_{col_off}``.
        split, region: where the tile goes.
        crs, transform: the tile's georeferencing (``crs`` None for plain images).
        rgb: (3, rows, cols) uint8 picture (scene-wide stretch).
        bands: (count, rows, cols) every band as read, with ``nodata``.
        mask: uint8 class values (0 background, label-map values, 255 ignore).
        boundary: uint8 0/1 parcel edges.
        parcel: tile-local parcel ids.
        captions: ``{family: {'en': ..., 'zh': ...}}`` (``farmseg`` always; ``terraced`` when the scene has it).
        dem: float32 elevation on the tile grid (NaN nodata) or None.
        spie: the SPIE samples of the tile.
        geotiff: also write every band as a GeoTIFF in gtpbd-mm (``image_tif``).
    """

    name: str
    split: str
    region: str
    crs: object
    transform: object
    rgb: np.ndarray
    bands: np.ndarray
    nodata: float | None
    mask: np.ndarray
    boundary: np.ndarray
    parcel: np.ndarray
    captions: dict[str, dict[str, str]]
    dem: np.ndarray | None = None
    spie: list[SpieSample] = field(default_factory=list)
    geotiff: bool = False

    @property
    def farmland(self) -> np.ndarray:
        return (self.mask > 0) & (self.mask != 255)

    @cached_property
    def rgb_png(self) -> dict[str, bytes]:
        """The picture as a georeferenced PNG (suffix -> bytes), shared by every layout."""
        return georeferenced_png(self.rgb, self.crs, self.transform)

    @cached_property
    def bands_tif(self) -> bytes:
        return geotiff_bytes(self.bands, self.crs, self.transform, self.nodata)

    def label_png(self, arr: np.ndarray) -> dict[str, bytes]:
        return georeferenced_png(arr, self.crs, self.transform)

    def label_tif(self, arr: np.ndarray) -> bytes:
        return geotiff_bytes(np.asarray(arr)[None], self.crs, self.transform)


def with_stem(files: dict[str, bytes], stem: str) -> dict[str, bytes]:
    """``{'.png': b, '.wld': w}`` -> ``{stem + '.png': b, stem + '.wld': w}``."""
    return {stem + suffix: data for suffix, data in files.items()}
